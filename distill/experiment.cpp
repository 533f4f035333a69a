#include "distill/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"
#include "train/run_data.h"

namespace engram::distill {

using train::EpochMetrics;
using train::mean_std;
using train::MeanStd;

namespace {

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
double student_accuracy_ensemble(const EpochMetrics& m) { return m.student.test_accuracy_ensemble; }
double teacher_accuracy(const EpochMetrics& m) { return m.teacher.test_accuracy; }

double best_of(const std::vector<EpochMetrics>& h, Figure figure) {
  double best = NAN;
  for (const EpochMetrics& m : h)
    if (!std::isnan(figure(m)) && (std::isnan(best) || figure(m) > best)) best = figure(m);
  return best;
}

std::string fmt(const train::PairedDifference& d) {
  if (std::isnan(d.mean)) return "- | - | -";
  char buf[96];
  if (std::isnan(d.low))
    std::snprintf(buf, sizeof(buf), "%+.2f | - | %lld / %lld", d.mean, static_cast<long long>(d.positive),
                  static_cast<long long>(d.n));
  else
    std::snprintf(buf, sizeof(buf), "%+.2f | [%+.2f, %+.2f] | %lld / %lld", d.mean, d.low, d.high,
                  static_cast<long long>(d.positive), static_cast<long long>(d.n));
  return buf;
}

nlohmann::json json_of(const train::PairedDifference& d) {
  if (std::isnan(d.mean)) return nullptr;
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  return {{"mean", d.mean}, {"ci95_low", number(d.low)}, {"ci95_high", number(d.high)}, {"positive", d.positive},
          {"n", d.n}};
}

std::string comparisons_markdown(const std::vector<Comparison>& rows) {
  if (rows.empty()) return "";
  std::ostringstream md;
  md << "| paired difference of the last test accuracy (points) | mean | 95 % CI | seeds positive "
        "| BN recal: mean | 95 % CI | seeds positive |\n|---|---|---|---|---|---|---|\n";
  for (const Comparison& c : rows) md << "| " << c.name << " | " << fmt(c.as_is) << " | " << fmt(c.recal) << " |\n";
  md << "\nDifferences are paired by seed; the interval is mean ± t(0.975, n − 1) · std / √n (Student's t).\n";
  return md.str();
}

}  // namespace

std::string Row::name() const {
  if (!is_spaced(mode)) return mode_name(mode);
  std::ostringstream out;
  out << mode_name(mode) << "-s" << s;
  return out.str();
}

TableRow summarise(const Row& row, const std::vector<RunRecord>& runs) {
  TableRow t{row, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, static_cast<int64_t>(runs.size()), 0, {}, {}, {}};
  std::vector<double> sb, sl, tb, tl, sbr, slr, sbe, sle, trace, lambda_max;
  for (const RunRecord& r : runs) {
    sb.push_back(best_of(r.history, student_accuracy));
    sl.push_back(student_accuracy(r.history.back()));
    sbr.push_back(best_of(r.history, student_accuracy_recal));
    slr.push_back(student_accuracy_recal(r.history.back()));
    sbe.push_back(best_of(r.history, student_accuracy_ensemble));
    sle.push_back(student_accuracy_ensemble(r.history.back()));
    tb.push_back(best_of(r.history, teacher_accuracy));
    tl.push_back(teacher_accuracy(r.history.back()));
    t.seconds_per_run += r.seconds / static_cast<double>(runs.size());
    t.host_reads_per_epoch = r.host_reads_per_epoch;
    trace.push_back(r.sharpness ? r.sharpness->trace : NAN);
    lambda_max.push_back(r.sharpness ? r.sharpness->lambda_max : NAN);
  }
  t.trace = mean_std(trace);
  t.lambda_max = mean_std(lambda_max);
  t.student_best = mean_std(sb);
  t.student_last = mean_std(sl);
  t.teacher_best = mean_std(tb);
  t.teacher_last = mean_std(tl);
  t.student_best_recal = mean_std(sbr);
  t.student_last_recal = mean_std(slr);
  t.student_best_ensemble = mean_std(sbe);
  t.student_last_ensemble = mean_std(sle);
  t.last = sl;
  t.last_recal = slr;
  for (size_t e = 0; e < runs.front().history.size(); ++e) {
    double sum = 0;
    for (const RunRecord& r : runs) sum += r.history[e].student.test_accuracy;
    t.mean_curve.push_back(sum / static_cast<double>(runs.size()));
  }
  return t;
}

// Each spaced row against its unspaced mode (online, self) and the baseline,
// and online against the baseline: whichever rows the run has.
std::vector<Comparison> comparisons(const std::vector<TableRow>& table) {
  auto find = [&](Mode mode) -> const TableRow* {
    for (const TableRow& t : table)
      if (t.row.mode == mode) return &t;
    return nullptr;
  };
  const TableRow* baseline = find(Mode::baseline);
  std::vector<Comparison> out;
  auto compare = [&](const TableRow& a, const TableRow* b) {
    if (b && a.seeds == b->seeds)
      out.push_back({a.row.name() + " − " + b->row.name(), train::paired_difference(a.last, b->last),
                     train::paired_difference(a.last_recal, b->last_recal)});
  };
  for (const TableRow& t : table) {
    if (!is_spaced(t.row.mode)) continue;
    compare(t, find(t.row.mode == Mode::spaced ? Mode::online : Mode::self));
    compare(t, baseline);
  }
  if (const TableRow* online = find(Mode::online)) compare(*online, baseline);
  return out;
}

std::string spacing_sweep_svg(const std::vector<TableRow>& table, const std::string& title) {
  for (Mode spaced : {Mode::spaced, Mode::spaced_self}) {
    std::vector<train::SweepPoint> points;
    for (const TableRow& t : table)
      if (t.row.mode == spaced)
        points.push_back({t.row.s, t.student_last.mean, t.student_last.mean - t.student_last.std,
                          t.student_last.mean + t.student_last.std});
    if (points.size() < 2) continue;
    std::vector<train::Band> bands;
    for (Mode reference : {Mode::baseline, spaced == Mode::spaced ? Mode::online : Mode::self})
      for (const TableRow& t : table)
        if (t.row.mode == reference)
          bands.push_back({mode_name(reference), train::plot_color(bands.size()), t.student_last.mean,
                           t.student_last.mean - t.student_last.std, t.student_last.mean + t.student_last.std});
    return train::sweep_svg(title, "space interval s (epochs)", "student's last test accuracy (%), mean ± std",
                            mode_name(spaced), points, bands);
  }
  return "";
}

bool teacher_is_baseline(const KdRunConfig& c) {
  const bool online = c.mode == Mode::online || (c.mode == Mode::spaced && c.s == 0);
  return online && !c.mutual && c.teacher_model == c.student_model;
}

RunRecord baseline_from_teacher(const RunRecord& online) {
  RunRecord r;
  for (EpochMetrics m : online.history) {
    m.student = m.teacher;
    m.teacher = train::ModelMetrics{};
    m.seconds = 0;
    r.history.push_back(m);
  }
  r.host_reads_per_epoch = online.host_reads_per_epoch;
  return r;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw IOError("spaced_kd: " + path + " is not valid JSON (" + e.what() + "); delete it to rerun that run");
  }
}

nlohmann::json to_json(const RunRecord& r) {
  nlohmann::json history = nlohmann::json::array();
  for (const EpochMetrics& m : r.history) history.push_back(train::to_json(m));
  nlohmann::json j = {{"seconds", r.seconds}, {"host_reads_per_epoch", r.host_reads_per_epoch}, {"history", history}};
  if (r.sharpness) j["sharpness"] = train::to_json(*r.sharpness);
  return j;
}

RunRecord run_record_from_json(const nlohmann::json& j, const std::string& path) {
  RunRecord r;
  r.seconds = train::json_value<double>(j, "seconds", path);
  r.host_reads_per_epoch = train::json_value<int64_t>(j, "host_reads_per_epoch", path);
  for (const nlohmann::json& e : train::json_value<nlohmann::json>(j, "history", path))
    r.history.push_back(train::epoch_metrics_from_json(e));
  if (j.contains("sharpness")) r.sharpness = train::sharpness_from_json(j["sharpness"], path);
  return r;
}

std::string table_markdown(const std::vector<TableRow>& rows, const std::vector<Comparison>& differences,
                           const KdRunConfig& base, const std::string& device, const SharpnessRequest& sharpness) {
  const bool with_sharpness = sharpness.samples > 0;
  const bool with_ensemble = std::any_of(rows.begin(), rows.end(), [](const TableRow& t) {
    return !std::isnan(t.student_last_ensemble.mean);
  });
  std::ostringstream md;
  md << "| mode | s | student best (%) | student last (%) | student best, BN recal (%) | student last, BN recal (%) "
        "|"
     << (with_ensemble ? " student best, ensemble (%) | student last, ensemble (%) |" : "")
     << " teacher best (%) | teacher last (%) |" << (with_sharpness ? " Hessian trace | λ_max |" : "")
     << " seeds | s / run |\n"
     << "|---|---|---|---|---|---|" << (with_ensemble ? "---|---|" : "") << "---|---|"
     << (with_sharpness ? "---|---|" : "") << "---|---|\n";
  for (const TableRow& t : rows) {
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.0f", t.seconds_per_run);
    md << "| " << mode_name(t.row.mode) << " | " << (is_spaced(t.row.mode) ? std::to_string(t.row.s).substr(0, 4) : "-")
       << " | " << fmt(t.student_best) << " | " << fmt(t.student_last) << " | " << fmt(t.student_best_recal) << " | "
       << fmt(t.student_last_recal) << " | ";
    if (with_ensemble) md << fmt(t.student_best_ensemble) << " | " << fmt(t.student_last_ensemble) << " | ";
    md << fmt(t.teacher_best) << " | " << fmt(t.teacher_last) << " | ";
    if (with_sharpness) md << fmt(t.trace) << " | " << fmt(t.lambda_max) << " | ";
    md << t.seeds << " | " << seconds << " |\n";
  }
  md << "\nStudent " << base.student_model << ", teacher " << base.teacher_model << ", " << base.train.dataset << ", "
     << base.train.epochs << " epochs, batch " << base.train.batch << ", device " << device << ".";
  if (base.train.bn_recalibrate > 0)
    md << " BN recal: the same weights evaluated after recomputing every BatchNorm layer's running statistics "
          "on "
       << base.train.bn_recalibrate << " training batches (docs/results.md).";
  if (with_ensemble)
    md << " Ensemble: the self modes' prediction from the mean of all exits' logits, as BYOT and the reference "
          "report it; the student columns are the deepest exit's.";
  if (with_sharpness)
    md << " Sharpness: the Hessian of the final student's mean cross-entropy on the first " << sharpness.samples
       << " training images, in eval mode; trace by Hutchinson (" << sharpness.options.probes
       << " probes), λ_max by power iteration (docs/sharpness.md).";
  md << "\n";
  if (!differences.empty()) md << "\n" << comparisons_markdown(differences);
  return md.str();
}

std::string table_csv(const std::vector<TableRow>& rows) {
  std::ostringstream csv;
  csv << "mode,s,seeds,student_best_mean,student_best_std,student_last_mean,student_last_std,"
         "student_best_bn_recal_mean,student_best_bn_recal_std,student_last_bn_recal_mean,student_last_bn_recal_std,"
         "student_best_ensemble_mean,student_best_ensemble_std,student_last_ensemble_mean,student_last_ensemble_std,"
         "teacher_best_mean,teacher_best_std,teacher_last_mean,teacher_last_std,trace_mean,trace_std,"
         "lambda_max_mean,lambda_max_std,seconds_per_run,host_reads_per_epoch\n";
  auto num = [](double v) { return std::isnan(v) ? std::string() : std::to_string(v); };
  for (const TableRow& t : rows)
    csv << mode_name(t.row.mode) << "," << t.row.s << "," << t.seeds << "," << num(t.student_best.mean) << ","
        << num(t.student_best.std) << "," << num(t.student_last.mean) << "," << num(t.student_last.std) << ","
        << num(t.student_best_recal.mean) << "," << num(t.student_best_recal.std) << ","
        << num(t.student_last_recal.mean) << "," << num(t.student_last_recal.std) << ","
        << num(t.student_best_ensemble.mean) << "," << num(t.student_best_ensemble.std) << ","
        << num(t.student_last_ensemble.mean) << "," << num(t.student_last_ensemble.std) << "," << num(t.teacher_best.mean)
        << "," << num(t.teacher_best.std) << "," << num(t.teacher_last.mean) << "," << num(t.teacher_last.std) << ","
        << num(t.trace.mean) << "," << num(t.trace.std) << "," << num(t.lambda_max.mean) << ","
        << num(t.lambda_max.std) << "," << t.seconds_per_run << "," << t.host_reads_per_epoch << "\n";
  return csv.str();
}

nlohmann::ordered_json table_json(const std::vector<TableRow>& rows, const std::vector<Comparison>& differences,
                                  const KdRunConfig& base, const std::string& device,
                                  const SharpnessRequest& sharpness) {
  nlohmann::ordered_json json_rows = nlohmann::ordered_json::array();
  for (const TableRow& t : rows)
    json_rows.push_back({{"mode", mode_name(t.row.mode)},
                         {"s", t.row.s},
                         {"seeds", t.seeds},
                         {"student_best", json_of(t.student_best)},
                         {"student_last", json_of(t.student_last)},
                         {"student_best_bn_recal", json_of(t.student_best_recal)},
                         {"student_last_bn_recal", json_of(t.student_last_recal)},
                         {"student_best_ensemble", json_of(t.student_best_ensemble)},
                         {"student_last_ensemble", json_of(t.student_last_ensemble)},
                         {"teacher_best", json_of(t.teacher_best)},
                         {"teacher_last", json_of(t.teacher_last)},
                         {"hessian_trace", json_of(t.trace)},
                         {"lambda_max", json_of(t.lambda_max)},
                         {"seconds_per_run", t.seconds_per_run},
                         {"host_reads_per_epoch", t.host_reads_per_epoch},
                         {"student_test_acc_mean_curve", t.mean_curve}});
  nlohmann::ordered_json json_differences = nlohmann::ordered_json::array();
  for (const Comparison& c : differences)
    json_differences.push_back({{"name", c.name}, {"last", json_of(c.as_is)}, {"last_bn_recal", json_of(c.recal)}});
  return {{"dataset", base.train.dataset},
          {"teacher", base.teacher_model},
          {"student", base.student_model},
          {"epochs", base.train.epochs},
          {"batch", base.train.batch},
          {"optimizer", train::optimizer_name(base.train.optimizer)},
          {"lr", base.train.lr},
          {"momentum", base.train.momentum},
          {"weight_decay", base.train.weight_decay},
          {"schedule", train::schedule_name(base.train.schedule)},
          {"augment", base.train.augment},
          {"crop_padding", train::training_augment(base.train, data::dataset_spec(base.train.dataset)).crop_padding},
          {"rotation_degrees", base.train.rotation_degrees},
          {"alpha", base.loss.alpha},
          {"temperature", base.loss.temperature},
          {"beta", base.loss.beta},
          {"subset", base.train.subset},
          {"test_subset", base.train.test_subset},
          {"bn_recalibrate_batches", base.train.bn_recalibrate},
          {"sharpness_samples", sharpness.samples},
          {"device", device},
          {"rows", json_rows},
          {"differences", json_differences}};
}

}  // namespace engram::distill
