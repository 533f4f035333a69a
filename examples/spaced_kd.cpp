// The main job: baseline, online KD and Spaced KD compared over several seeds.
//
//   spaced_kd                        the default experiment on Fashion-MNIST, on the GPU if there is one
//   spaced_kd --modes spaced --s 0.5,1,1.5,2 --seeds 3     a sweep of the space interval
//
// Every run trains a teacher and/or a student from scratch (see
// distill/kd_run.h; every row is train::run with the mode's strategy); the program prints and writes a table of the student's
// best and last test accuracy (mean +- std over seeds) per mode and s, and an
// SVG of the mean test-accuracy curves. Output (default runs/spaced_kd/):
//   <mode>[-s<s>]/seed<k>/last.safetensors, result.json    one run
//   table.csv, table.json, table.md, curves.svg           the comparison
//   sweep.svg                                             with several s: accuracy against s
// With --resume, finished runs are read back from result.json and an
// interrupted run continues from its last epoch's checkpoint.
//
// Presets (distill/presets.h; any flag given explicitly wins): on a GPU, the
// full experiment; on a CPU, a subset sized to finish in under 10 minutes on
// 2 cores; cifar100 and tiny-imagenet, the Spaced KD paper's settings.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "distill/experiment.h"
#include "distill/presets.h"
#include "examples/train_flags.h"
#include "train/interrupt.h"

using namespace engram;
using namespace engram::distill;

namespace {

// The preset's value of every field whose flag was not given. A preset's
// learning rate and weight decay are SGD's: --optimizer adamw keeps AdamW's.
void apply_preset(const Preset& p, KdRunConfig& c, const CLI::App& app) {
  auto take = [&](const char* flag, auto& field, const auto& value) {
    if (app.get_option(flag)->count() == 0) field = value;
  };
  const train::TrainConfig& t = p.config.train;
  take("--dataset", c.train.dataset, t.dataset);
  take("--teacher", c.teacher_model, p.config.teacher_model);
  take("--student", c.student_model, p.config.student_model);
  take("--epochs", c.train.epochs, t.epochs);
  take("--batch", c.train.batch, t.batch);
  take("--schedule", c.train.schedule, t.schedule);
  if (c.train.optimizer == train::OptimizerKind::sgd) {
    take("--lr", c.train.lr, t.lr);
    take("--momentum", c.train.momentum, t.momentum);
    take("--wd", c.train.weight_decay, t.weight_decay);
  }
  take("--crop-padding", c.train.crop_padding, t.crop_padding);
  take("--rotation", c.train.rotation_degrees, t.rotation_degrees);
  take("--subset", c.train.subset, t.subset);
  take("--test-subset", c.train.test_subset, t.test_subset);
  take("--bn-recalibrate", c.train.bn_recalibrate, t.bn_recalibrate);
  take("--alpha", c.loss.alpha, p.config.loss.alpha);
  take("--temperature", c.loss.temperature, p.config.loss.temperature);
  take("--beta", c.loss.beta, p.config.loss.beta);
}

// Ctrl-C: the run in progress checkpointed its unfinished epoch.
struct Interrupted {};

// A run's record, with the final student's sharpness when asked (measured
// once: a finished run's result.json keeps it), written to its result.json.
RunRecord finished(RunRecord record, const std::string& dir, const SharpnessRequest& sharpness) {
  if (sharpness.samples > 0 && !record.sharpness) {
    CheckpointModel model = load_checkpoint_model(dir + "/last.safetensors", train::Role::student);
    record.sharpness = model_sharpness(model, sharpness);
    std::printf("spaced_kd: %s: Hessian trace %.4g ± %.2g, lambda_max %.4g\n", dir.c_str(), record.sharpness->trace,
                record.sharpness->trace_stderr, record.sharpness->lambda_max);
  }
  train::write_file_atomic(dir + "/result.json", to_json(record).dump(2) + "\n");
  return record;
}

// The runs of one seed (configs[k] into dirs[k]): finished ones read back
// with --resume, the others trained, together on one teacher when `group`
// (run_kd_group), each continuing from its checkpoint with --resume. A group
// whose checkpoints are not all at one position (a kill between two of its
// checkpoint writes) continues its runs one by one.
std::vector<RunRecord> run_seed(std::vector<KdRunConfig> configs, const std::vector<std::string>& dirs, bool group,
                                bool resume, const SharpnessRequest& sharpness) {
  std::vector<RunRecord> records(configs.size());
  std::vector<size_t> pending;
  for (size_t k = 0; k < configs.size(); ++k) {
    const std::string result_path = dirs[k] + "/result.json", checkpoint = dirs[k] + "/last.safetensors";
    if (resume && std::filesystem::exists(result_path)) {
      std::printf("spaced_kd: %s is finished, read back from result.json\n", dirs[k].c_str());
      records[k] = run_record_from_json(read_json_file(result_path), result_path);
      continue;
    }
    configs[k].train.out_dir = dirs[k];
    if (resume && std::filesystem::exists(checkpoint)) configs[k].train.resume = checkpoint;
    std::filesystem::create_directories(dirs[k]);
    pending.push_back(k);
  }
  std::vector<train::RunResult> results;
  std::vector<KdRunConfig> together;
  for (size_t k : pending) together.push_back(configs[k]);
  bool alone = !group || pending.size() < 2;
  if (!alone) {
    try {
      results = run_kd_group(together, std::vector<train::RunHooks>(together.size()));
    } catch (const ConfigError& e) {
      if (e.field() != "resume") throw;
      std::printf("spaced_kd: %s; continuing them one by one\n", e.what());
      alone = true;
    }
  }
  if (alone)
    for (const KdRunConfig& c : together) results.push_back(run_kd(c));
  for (size_t i = 0; i < pending.size(); ++i) {
    if (results[i].interrupted) throw Interrupted{};
    RunRecord& r = records[pending[i]];
    r = {results[i].history, 0, results[i].host_reads_per_epoch, std::nullopt};
    for (const train::EpochMetrics& m : results[i].history) r.seconds += m.seconds;
  }
  for (size_t k = 0; k < configs.size(); ++k) records[k] = finished(records[k], dirs[k], sharpness);
  return records;
}

// The baseline row of one seed, read off the online run of that seed, whose
// teacher is the baseline (teacher_is_baseline); its sharpness is the
// teacher's, measured on the online run's checkpoint.
RunRecord teacher_as_baseline(const RunRecord& online, const std::string& online_dir, const std::string& dir,
                              bool resume, const SharpnessRequest& sharpness) {
  const std::string result_path = dir + "/result.json";
  if (resume && std::filesystem::exists(result_path))
    return run_record_from_json(read_json_file(result_path), result_path);
  std::printf("spaced_kd: %s is the teacher of %s (the same model, seed, batches and loss)\n", dir.c_str(),
              online_dir.c_str());
  RunRecord record = baseline_from_teacher(online);
  if (sharpness.samples > 0) {
    CheckpointModel teacher = load_checkpoint_model(online_dir + "/last.safetensors", train::Role::teacher);
    record.sharpness = model_sharpness(teacher, sharpness);
  }
  std::filesystem::create_directories(dir);
  train::write_file_atomic(result_path, to_json(record).dump(2) + "\n");
  return record;
}

}  // namespace

int main(int argc, char** argv) {
  KdRunConfig config;
  std::vector<std::string> modes = {"baseline", "online", "spaced"};
  std::vector<double> s_values = {1.5};
  int64_t seeds = 0;
  std::string preset_name = "auto", out_dir = "runs/spaced_kd", kl_form = "standard", teacher_bn = "train";
  bool resume = false, separate_runs = false;
  SharpnessRequest sharpness;
  sharpness.samples = 0;

  CLI::App app{"engram spaced_kd: baseline vs online KD vs Spaced KD, mean and std over seeds", "spaced_kd"};
  programs::TrainFlags flags(app, config.train);
  app.remove_option(app.get_option("--seed"));  // the runs' seeds are 0 .. --seeds - 1
  app.add_option("--modes", modes, "rows: baseline, offline, online, spaced, self, spaced-self")
      ->delimiter(',')
      ->capture_default_str();
  auto* s_flag = app.add_option("--s", s_values,
                                "space intervals in epochs for the spaced modes, a sweep like 0.5,1,1.5 (default "
                                "1.5; spaced-self: 4, as the reference)")
                     ->delimiter(',');
  app.add_option("--seeds", seeds, "number of seeds (0, 1, ...); default: the preset's");
  app.add_option("--preset", preset_name,
                 "auto (gpu when a GPU is used, else cpu), cpu, gpu, cifar100 or tiny-imagenet: the defaults of the "
                 "data, models, schedule and KD weights (docs/reproducing.md)")
      ->capture_default_str();
  app.add_option("--teacher", config.teacher_model, "teacher model (zoo name)");
  app.add_option("--student", config.student_model, "student model (zoo name; self modes: a ResNet)");
  app.add_option("--teacher-checkpoint", config.teacher_checkpoint, "offline: the frozen teacher's weights");
  app.add_option("--alpha", config.loss.alpha, "weight of the KD term")->capture_default_str();
  app.add_option("--temperature", config.loss.temperature, "KD temperature T")->capture_default_str();
  app.add_option("--beta", config.loss.beta, "weight of the feature distance")->capture_default_str();
  app.add_option("--label-smoothing", config.loss.label_smoothing, "label smoothing of the CE terms")
      ->capture_default_str();
  app.add_option("--kl", kl_form, "standard, or reference (the reference code's KD term, docs/distillation.md)")
      ->capture_default_str();
  app.add_option("--teacher-bn", teacher_bn, "spaced: teacher BN mode while predicting for a replay")
      ->capture_default_str();
  app.add_flag("--mutual", config.mutual, "online: the teacher also distills from the student");
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  app.add_option("--sharpness", sharpness.samples,
                 "measure each final student's Hessian trace and largest eigenvalue on this many training images "
                 "(0: off)")
      ->capture_default_str();
  app.add_option("--sharpness-probes", sharpness.options.probes, "Hutchinson probes of --sharpness")
      ->capture_default_str();
  app.add_flag("--resume", resume, "reuse finished runs and continue interrupted ones in --out");
  app.add_flag("--separate-runs", separate_runs,
               "train every row on its own teacher, and the baseline on its own (default: the online and spaced "
               "rows of a seed share one teacher, which is also the baseline)");
  CLI11_PARSE(app, argc, argv);

  train::install_interrupt_handler();
  try {
    flags.apply();
    ENGRAM_CONFIG_CHECK(kl_form == "standard" || kl_form == "reference", "spaced_kd", "kl_form",
                        "must be standard or reference, got \"" + kl_form + "\"");
    config.loss.kl_form = kl_form == "reference" ? KLForm::reference_compat : KLForm::standard;
    config.teacher_bn = parse_teacher_bn(teacher_bn);
    Device device = resolve_device(config.train.device, "spaced_kd");
    const Preset p = preset(preset_name == "auto" ? (device.is_cuda() ? "gpu" : "cpu") : preset_name);
    apply_preset(p, config, app);
    if (!s_flag->count()) s_values = p.s;
    if (seeds == 0) seeds = p.seeds;
    config.train.device = device.is_cuda() ? DeviceRequest::cuda : DeviceRequest::cpu;
    sharpness.data_dir = config.train.data_dir;

    std::vector<Row> rows;
    for (const std::string& name : modes) {
      Mode mode = parse_mode(name);
      if (!is_spaced(mode)) {
        rows.push_back({mode, 0.0});
        continue;
      }
      if (mode == Mode::spaced_self && !s_flag->count())
        rows.push_back({mode, 4.0});
      else
        for (double s : s_values) rows.push_back({mode, s});
    }
    // Every configuration is checked before the first run starts.
    for (const Row& row : rows) {
      KdRunConfig c = config;
      c.mode = row.mode;
      c.s = row.s;
      train::validate(c.train);
      validate(c);
    }

    std::printf("spaced_kd: %zu rows x %lld seeds on %s (preset %s): %s, teacher %s, student %s, %lld epochs%s\n",
                rows.size(), static_cast<long long>(seeds), device.str().c_str(), p.name.c_str(),
                config.train.dataset.c_str(), config.teacher_model.c_str(), config.student_model.c_str(),
                static_cast<long long>(config.train.epochs),
                config.train.subset > 0 ? (", first " + std::to_string(config.train.subset) + " training images").c_str() : "");
    auto has = [&](Mode mode) {
      return std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.mode == mode; });
    };
    auto run_dir = [&](const Row& row, int64_t seed) {
      return out_dir + "/" + row.name() + "/seed" + std::to_string(seed);
    };
    KdRunConfig online = config;
    online.mode = Mode::online;
    const bool shared_baseline = !separate_runs && has(Mode::baseline) && has(Mode::online) && teacher_is_baseline(online);
    auto row_config = [&](const Row& row, int64_t seed) {
      KdRunConfig c = config;
      c.mode = row.mode;
      c.s = row.s;
      c.train.seed = static_cast<uint64_t>(seed);
      return c;
    };
    // The online and spaced rows train together on one teacher per seed
    // (run_kd_group), unless --separate-runs or --mutual.
    std::vector<Row> together, alone;
    for (const Row& row : rows) {
      if (shared_baseline && row.mode == Mode::baseline) continue;  // after the online row
      const bool joins = !separate_runs && (row.mode == Mode::online || row.mode == Mode::spaced) &&
                         (together.empty() || can_share_teacher(row_config(together.front(), 0), row_config(row, 0)));
      (joins ? together : alone).push_back(row);
    }
    if (together.size() < 2) alone.insert(alone.end(), together.begin(), together.end()), together.clear();
    std::map<std::string, std::vector<RunRecord>> records;
    for (const Row& row : alone)
      for (int64_t seed = 0; seed < seeds; ++seed)
        records[row.name()].push_back(
            run_seed({row_config(row, seed)}, {run_dir(row, seed)}, false, resume, sharpness).front());
    for (int64_t seed = 0; seed < seeds && !together.empty(); ++seed) {
      std::vector<KdRunConfig> configs;
      std::vector<std::string> dirs;
      for (const Row& row : together) configs.push_back(row_config(row, seed)), dirs.push_back(run_dir(row, seed));
      std::vector<RunRecord> seed_records = run_seed(configs, dirs, true, resume, sharpness);
      for (size_t k = 0; k < together.size(); ++k) records[together[k].name()].push_back(seed_records[k]);
    }
    if (shared_baseline)
      for (int64_t seed = 0; seed < seeds; ++seed)
        records["baseline"].push_back(teacher_as_baseline(records["online"][static_cast<size_t>(seed)],
                                                          run_dir({Mode::online, 0}, seed),
                                                          run_dir({Mode::baseline, 0}, seed), resume, sharpness));

    std::vector<TableRow> table;
    std::vector<train::Curve> curves;
    for (const Row& row : rows) {
      table.push_back(summarise(row, records[row.name()]));
      train::Curve curve{row.name(), train::plot_color(curves.size()), {}, table.back().mean_curve};
      for (size_t e = 0; e < curve.values.size(); ++e) curve.epochs.push_back(static_cast<double>(e + 1));
      curves.push_back(curve);
    }

    const std::vector<Comparison> differences = comparisons(table);
    std::string md = table_markdown(table, differences, config, device.str(), sharpness);
    if (!together.empty())
      md += "\nThe online and spaced rows of each seed trained together on one teacher (bitwise as alone); their s / "
            "run is the group's.\n";
    if (shared_baseline)
      md += "\nThe baseline row is the online runs' teacher: the same model, seed, batches and loss, so the same "
            "weights and figures, bitwise (its s / run is counted in online's; --separate-runs trains it on its "
            "own).\n";
    std::printf("\n%s\n", md.c_str());
    train::write_file_atomic(out_dir + "/table.csv", table_csv(table));
    train::write_file_atomic(out_dir + "/table.json",
                             table_json(table, differences, config, device.str(), sharpness).dump(2) + "\n");
    train::write_file_atomic(out_dir + "/table.md", md);
    train::write_file_atomic(out_dir + "/curves.svg",
                             train::curves_svg("student test accuracy, mean over " + std::to_string(seeds) +
                                                   " seeds (" + config.student_model + " on " + config.train.dataset + ")",
                                               "test accuracy (%)", curves, 100.0, 100.0));
    const std::string sweep = spacing_sweep_svg(table, "final test accuracy against the space interval (" +
                                                           config.student_model + " on " + config.train.dataset +
                                                           ", " + std::to_string(seeds) + " seeds)");
    if (!sweep.empty()) train::write_file_atomic(out_dir + "/sweep.svg", sweep);
    std::printf("spaced_kd: wrote %s/table.{csv,json,md}, curves.svg%s\n", out_dir.c_str(),
                sweep.empty() ? "" : " and sweep.svg");
  } catch (const Interrupted&) {
    std::fprintf(stderr, "spaced_kd: interrupted; to continue, run the same command with --resume\n");
    return 130;  // as a shell reports a process ended by SIGINT
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", programs::program_message("spaced_kd", e).c_str());
    return 1;
  }
  return 0;
}
