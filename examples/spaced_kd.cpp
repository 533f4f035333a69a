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
// With --resume, finished runs are read back from result.json and an
// interrupted run continues from its last epoch's checkpoint.
//
// Budgets (any flag given explicitly wins): on a GPU, the full experiment;
// on a CPU, a subset sized to finish in under 10 minutes on 2 cores.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "distill/kd_run.h"
#include "examples/train_flags.h"
#include "train/interrupt.h"
#include "train/metrics.h"

using namespace engram;
using namespace engram::distill;
using engram::train::EpochMetrics;

namespace {

struct Budget {
  std::string teacher, student;
  int64_t epochs, subset, test_subset, seeds, bn_recalibrate;
};

// GPU: the whole of Fashion-MNIST. CPU: sized so that the three default rows
// (baseline, online, spaced; 1 + 2 + 2 model-trainings per seed) finish in
// under 10 minutes on 2 cores (measured: see docs/results.md).
const Budget kGpuBudget{"resnet56", "resnet20", 40, 0, 0, 3, 50};
const Budget kCpuBudget{"resnet8", "resnet8", 3, 4096, 2000, 3, 10};

struct Row {
  Mode mode;
  double s;  // 0 for the modes without spacing
  std::string name() const {
    if (!is_spaced(mode)) return mode_name(mode);
    std::ostringstream out;
    out << mode_name(mode) << "-s" << s;
    return out.str();
  }
};

struct RunRecord {
  std::vector<EpochMetrics> history;
  double seconds = 0;
  int64_t host_reads_per_epoch = 0;
};

struct MeanStd {
  double mean = NAN, std = NAN;
};

MeanStd mean_std(const std::vector<double>& values) {
  if (values.empty() || std::isnan(values.front())) return {};
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  // The sample standard deviation (n - 1), 0 for a single seed.
  double std = values.size() > 1 ? std::sqrt(var / static_cast<double>(values.size() - 1)) : 0.0;
  return {mean, std};
}

std::string fmt(const MeanStd& v) {
  if (std::isnan(v.mean)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f ± %.2f", v.mean, v.std);
  return buf;
}

nlohmann::json json_of(const MeanStd& v) {
  if (std::isnan(v.mean)) return nullptr;
  return {{"mean", v.mean}, {"std", v.std}};
}

using Figure = double (*)(const EpochMetrics&);
double student_accuracy(const EpochMetrics& m) { return m.student.test_accuracy; }
double student_accuracy_recal(const EpochMetrics& m) { return m.student.test_accuracy_bn_recal; }
double teacher_accuracy(const EpochMetrics& m) { return m.teacher.test_accuracy; }

double best_of(const std::vector<EpochMetrics>& h, Figure figure) {
  double best = NAN;
  for (const EpochMetrics& m : h)
    if (!std::isnan(figure(m)) && (std::isnan(best) || figure(m) > best)) best = figure(m);
  return best;
}

struct TableRow {
  Row row;
  MeanStd student_best, student_last, teacher_best, teacher_last;
  MeanStd student_best_recal, student_last_recal;  // after BN recalibration (--bn-recalibrate)
  double seconds_per_run = 0;
  int64_t seeds = 0, host_reads_per_epoch = 0;
  std::vector<double> mean_curve;  // student test accuracy per epoch, mean over seeds
};

TableRow summarise(const Row& row, const std::vector<RunRecord>& runs) {
  TableRow t{row, {}, {}, {}, {}, {}, {}, 0, static_cast<int64_t>(runs.size()), 0, {}};
  std::vector<double> sb, sl, tb, tl, sbr, slr;
  for (const RunRecord& r : runs) {
    sb.push_back(best_of(r.history, student_accuracy));
    sl.push_back(student_accuracy(r.history.back()));
    sbr.push_back(best_of(r.history, student_accuracy_recal));
    slr.push_back(student_accuracy_recal(r.history.back()));
    tb.push_back(best_of(r.history, teacher_accuracy));
    tl.push_back(teacher_accuracy(r.history.back()));
    t.seconds_per_run += r.seconds / static_cast<double>(runs.size());
    t.host_reads_per_epoch = r.host_reads_per_epoch;
  }
  t.student_best = mean_std(sb);
  t.student_last = mean_std(sl);
  t.teacher_best = mean_std(tb);
  t.teacher_last = mean_std(tl);
  t.student_best_recal = mean_std(sbr);
  t.student_last_recal = mean_std(slr);
  for (size_t e = 0; e < runs.front().history.size(); ++e) {
    double sum = 0;
    for (const RunRecord& r : runs) sum += r.history[e].student.test_accuracy;
    t.mean_curve.push_back(sum / static_cast<double>(runs.size()));
  }
  return t;
}

nlohmann::json parse_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw IOError("spaced_kd: " + path + " is not valid JSON (" + e.what() + "); delete it to rerun that run");
  }
}

nlohmann::json record_json(const RunRecord& r) {
  nlohmann::json history = nlohmann::json::array();
  for (const EpochMetrics& m : r.history) history.push_back(train::to_json(m));
  return {{"seconds", r.seconds}, {"host_reads_per_epoch", r.host_reads_per_epoch}, {"history", history}};
}

RunRecord record_from_json(const nlohmann::json& j, const std::string& path) {
  RunRecord r;
  r.seconds = train::json_value<double>(j, "seconds", path);
  r.host_reads_per_epoch = train::json_value<int64_t>(j, "host_reads_per_epoch", path);
  for (const nlohmann::json& e : train::json_value<nlohmann::json>(j, "history", path))
    r.history.push_back(train::epoch_metrics_from_json(e));
  return r;
}

// Ctrl-C: the run in progress checkpointed its unfinished epoch.
struct Interrupted {};

RunRecord run_one(KdRunConfig config, const std::string& dir, bool resume) {
  config.train.out_dir = dir;
  std::string result_path = dir + "/result.json";
  if (resume && std::filesystem::exists(result_path)) {
    std::printf("spaced_kd: %s is finished, read back from result.json\n", dir.c_str());
    return record_from_json(parse_json(result_path), result_path);
  }
  if (resume && std::filesystem::exists(dir + "/last.safetensors")) config.train.resume = dir + "/last.safetensors";
  std::filesystem::create_directories(dir);
  train::RunResult result = run_kd(config);
  if (result.interrupted) throw Interrupted{};
  RunRecord record{result.history, 0, result.host_reads_per_epoch};
  for (const EpochMetrics& m : result.history) record.seconds += m.seconds;
  train::write_file_atomic(result_path, record_json(record).dump(2) + "\n");
  return record;
}

std::string table_markdown(const std::vector<TableRow>& rows, const KdRunConfig& base, const std::string& device) {
  std::ostringstream md;
  md << "| mode | s | student best (%) | student last (%) | student best, BN recal (%) | student last, BN recal (%) "
        "| teacher best (%) | teacher last (%) | seeds | s / run |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const TableRow& t : rows) {
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.0f", t.seconds_per_run);
    md << "| " << mode_name(t.row.mode) << " | " << (is_spaced(t.row.mode) ? std::to_string(t.row.s).substr(0, 4) : "-")
       << " | " << fmt(t.student_best) << " | " << fmt(t.student_last) << " | " << fmt(t.student_best_recal) << " | "
       << fmt(t.student_last_recal) << " | " << fmt(t.teacher_best) << " | " << fmt(t.teacher_last) << " | " << t.seeds
       << " | " << seconds << " |\n";
  }
  md << "\nStudent " << base.student_model << ", teacher " << base.teacher_model << ", " << base.train.dataset << ", "
     << base.train.epochs << " epochs, batch " << base.train.batch << ", device " << device << ".";
  if (base.train.bn_recalibrate > 0)
    md << " BN recal: the same weights evaluated after recomputing every BatchNorm layer's running statistics "
          "on "
       << base.train.bn_recalibrate << " training batches (docs/results.md).";
  md << "\n";
  return md.str();
}

}  // namespace

int main(int argc, char** argv) {
  KdRunConfig config;
  std::vector<std::string> modes = {"baseline", "online", "spaced"};
  std::vector<double> s_values = {1.5};
  int64_t seeds = 0;
  std::string budget = "auto", out_dir = "runs/spaced_kd", kl_form = "standard", teacher_bn = "train";
  bool resume = false;

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
  app.add_option("--seeds", seeds, "number of seeds (0, 1, ...); default: the budget's");
  app.add_option("--budget", budget, "auto (gpu when a GPU is used), cpu or gpu: models, epochs and subset defaults")
      ->capture_default_str();
  auto* teacher = app.add_option("--teacher", config.teacher_model, "teacher model (zoo name)");
  auto* student = app.add_option("--student", config.student_model, "student model (zoo name; self modes: a ResNet)");
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
  app.add_flag("--resume", resume, "reuse finished runs and continue interrupted ones in --out");
  CLI11_PARSE(app, argc, argv);

  train::install_interrupt_handler();
  try {
    flags.apply();
    ENGRAM_CONFIG_CHECK(kl_form == "standard" || kl_form == "reference", "spaced_kd", "kl_form",
                        "must be standard or reference, got \"" + kl_form + "\"");
    config.loss.kl_form = kl_form == "reference" ? KLForm::reference_compat : KLForm::standard;
    config.teacher_bn = parse_teacher_bn(teacher_bn);
    Device device = resolve_device(config.train.device, "spaced_kd");
    ENGRAM_CONFIG_CHECK(budget == "auto" || budget == "cpu" || budget == "gpu", "spaced_kd", "budget",
                        "must be auto, cpu or gpu, got \"" + budget + "\"");
    const Budget& b = (budget == "gpu" || (budget == "auto" && device.is_cuda())) ? kGpuBudget : kCpuBudget;
    if (!teacher->count()) config.teacher_model = b.teacher;
    if (!student->count()) config.student_model = b.student;
    if (!flags.given("--epochs")) config.train.epochs = b.epochs;
    if (!flags.given("--subset")) config.train.subset = b.subset;
    if (!flags.given("--test-subset")) config.train.test_subset = b.test_subset;
    if (!flags.given("--bn-recalibrate")) config.train.bn_recalibrate = b.bn_recalibrate;
    if (seeds == 0) seeds = b.seeds;
    config.train.device = device.is_cuda() ? DeviceRequest::cuda : DeviceRequest::cpu;

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

    std::printf("spaced_kd: %zu rows x %lld seeds on %s (%s budget): teacher %s, student %s, %lld epochs%s\n",
                rows.size(), static_cast<long long>(seeds), device.str().c_str(), &b == &kGpuBudget ? "gpu" : "cpu",
                config.teacher_model.c_str(), config.student_model.c_str(), static_cast<long long>(config.train.epochs),
                config.train.subset > 0 ? (", first " + std::to_string(config.train.subset) + " training images").c_str() : "");
    std::vector<TableRow> table;
    std::vector<train::Curve> curves;
    for (const Row& row : rows) {
      std::vector<RunRecord> runs;
      for (int64_t seed = 0; seed < seeds; ++seed) {
        KdRunConfig c = config;
        c.mode = row.mode;
        c.s = row.s;
        c.train.seed = static_cast<uint64_t>(seed);
        runs.push_back(run_one(c, out_dir + "/" + row.name() + "/seed" + std::to_string(seed), resume));
      }
      table.push_back(summarise(row, runs));
      train::Curve curve{row.name(), train::plot_color(curves.size()), {}, table.back().mean_curve};
      for (size_t e = 0; e < curve.values.size(); ++e) curve.epochs.push_back(static_cast<double>(e + 1));
      curves.push_back(curve);
    }

    std::string md = table_markdown(table, config, device.str());
    std::printf("\n%s\n", md.c_str());
    std::ostringstream csv;
    csv << "mode,s,seeds,student_best_mean,student_best_std,student_last_mean,student_last_std,"
           "student_best_bn_recal_mean,student_best_bn_recal_std,student_last_bn_recal_mean,student_last_bn_recal_std,"
           "teacher_best_mean,teacher_best_std,teacher_last_mean,teacher_last_std,seconds_per_run,"
           "host_reads_per_epoch\n";
    nlohmann::ordered_json json_rows = nlohmann::ordered_json::array();
    for (const TableRow& t : table) {
      auto num = [](double v) { return std::isnan(v) ? std::string() : std::to_string(v); };
      csv << mode_name(t.row.mode) << "," << t.row.s << "," << t.seeds << "," << num(t.student_best.mean) << ","
          << num(t.student_best.std) << "," << num(t.student_last.mean) << "," << num(t.student_last.std) << ","
          << num(t.student_best_recal.mean) << "," << num(t.student_best_recal.std) << ","
          << num(t.student_last_recal.mean) << "," << num(t.student_last_recal.std) << "," << num(t.teacher_best.mean)
          << "," << num(t.teacher_best.std) << "," << num(t.teacher_last.mean) << "," << num(t.teacher_last.std) << ","
          << t.seconds_per_run << "," << t.host_reads_per_epoch << "\n";
      json_rows.push_back({{"mode", mode_name(t.row.mode)},
                           {"s", t.row.s},
                           {"seeds", t.seeds},
                           {"student_best", json_of(t.student_best)},
                           {"student_last", json_of(t.student_last)},
                           {"student_best_bn_recal", json_of(t.student_best_recal)},
                           {"student_last_bn_recal", json_of(t.student_last_recal)},
                           {"teacher_best", json_of(t.teacher_best)},
                           {"teacher_last", json_of(t.teacher_last)},
                           {"seconds_per_run", t.seconds_per_run},
                           {"host_reads_per_epoch", t.host_reads_per_epoch},
                           {"student_test_acc_mean_curve", t.mean_curve}});
    }
    nlohmann::ordered_json json = {{"dataset", config.train.dataset},
                                   {"teacher", config.teacher_model},
                                   {"student", config.student_model},
                                   {"epochs", config.train.epochs},
                                   {"subset", config.train.subset},
                                   {"test_subset", config.train.test_subset},
                                   {"bn_recalibrate_batches", config.train.bn_recalibrate},
                                   {"device", device.str()},
                                   {"rows", json_rows}};
    train::write_file_atomic(out_dir + "/table.csv", csv.str());
    train::write_file_atomic(out_dir + "/table.json", json.dump(2) + "\n");
    train::write_file_atomic(out_dir + "/table.md", md);
    train::write_file_atomic(out_dir + "/curves.svg",
                             train::curves_svg("student test accuracy, mean over " + std::to_string(seeds) +
                                                   " seeds (" + config.student_model + " on " + config.train.dataset + ")",
                                               "test accuracy (%)", curves, 100.0, 100.0));
    std::printf("spaced_kd: wrote %s/table.{csv,json,md} and curves.svg\n", out_dir.c_str());
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
