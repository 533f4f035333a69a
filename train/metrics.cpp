#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"

namespace engram::train {

namespace {

nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

template <typename Json>
void put_model(Json& j, const std::string& prefix, const ModelMetrics& m) {
  j[prefix + "train_loss"] = number_or_null(m.train_loss);
  j[prefix + "train_acc"] = number_or_null(m.train_accuracy);
  j[prefix + "test_loss"] = number_or_null(m.test_loss);
  j[prefix + "test_acc"] = number_or_null(m.test_accuracy);
  j[prefix + "test_acc_bn_recal"] = number_or_null(m.test_accuracy_bn_recal);
  if (!std::isnan(m.test_accuracy_ensemble)) j[prefix + "test_acc_ensemble"] = m.test_accuracy_ensemble;
  j[prefix + "steps"] = m.steps;
}

template <typename Json>
Json epoch_json(const EpochMetrics& m) {
  Json j;
  j["epoch"] = m.epoch;
  put_model(j, "", m.student);
  if (m.has_teacher()) put_model(j, "teacher_", m.teacher);
  j["lr"] = m.lr;
  j["seconds"] = m.seconds;
  return j;
}

double number_at(const nlohmann::json& j, const std::string& key) {
  ENGRAM_CHECK(j.contains(key), IOError, "epoch metrics", "key \"" + key + "\" is missing");
  const nlohmann::json& v = j.at(key);
  ENGRAM_CHECK(v.is_null() || v.is_number(), IOError, "epoch metrics",
               "key \"" + key + "\" must be a number or null, got " + v.dump());
  return v.is_null() ? NAN : v.get<double>();
}

ModelMetrics model_from_json(const nlohmann::json& j, const std::string& prefix) {
  ModelMetrics m;
  m.train_loss = number_at(j, prefix + "train_loss");
  m.train_accuracy = number_at(j, prefix + "train_acc");
  m.test_loss = number_at(j, prefix + "test_loss");
  m.test_accuracy = number_at(j, prefix + "test_acc");
  m.test_accuracy_bn_recal = number_at(j, prefix + "test_acc_bn_recal");
  if (j.contains(prefix + "test_acc_ensemble")) m.test_accuracy_ensemble = number_at(j, prefix + "test_acc_ensemble");
  m.steps = static_cast<int64_t>(number_at(j, prefix + "steps"));
  return m;
}

std::string csv_number(double v, const char* format) {
  char buf[32] = "";  // empty when not measured
  if (!std::isnan(v)) std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string csv_model(const ModelMetrics& m) {
  return csv_number(m.train_loss, "%.6f") + "," + csv_number(m.train_accuracy, "%.4f") + "," +
         csv_number(m.test_loss, "%.6f") + "," + csv_number(m.test_accuracy, "%.4f") + "," +
         csv_number(m.test_accuracy_bn_recal, "%.4f");
}

bool any_teacher(const std::vector<EpochMetrics>& history) {
  for (const EpochMetrics& m : history)
    if (m.has_teacher()) return true;
  return false;
}

bool any_ensemble(const std::vector<EpochMetrics>& history) {
  for (const EpochMetrics& m : history)
    if (!std::isnan(m.student.test_accuracy_ensemble)) return true;
  return false;
}

}  // namespace

nlohmann::json to_json(const EpochMetrics& m) { return epoch_json<nlohmann::json>(m); }

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) {
  ENGRAM_CHECK(j.is_object(), IOError, "epoch metrics", "expected an object, got " + j.dump());
  EpochMetrics m;
  m.epoch = static_cast<int64_t>(number_at(j, "epoch"));
  m.student = model_from_json(j, "");
  if (j.contains("teacher_test_acc")) m.teacher = model_from_json(j, "teacher_");
  m.lr = number_at(j, "lr");
  m.seconds = number_at(j, "seconds");
  return m;
}

const EpochMetrics& best_epoch(const std::vector<EpochMetrics>& history) {
  ENGRAM_CHECK(!history.empty(), ValueError, "best_epoch", "expected at least one epoch of metrics, got none");
  const EpochMetrics* best = &history.front();
  for (const EpochMetrics& m : history)
    if (m.student.test_accuracy > best->student.test_accuracy) best = &m;
  return *best;
}

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  const bool teacher = any_teacher(history), ensemble = any_ensemble(history);
  std::string csv = "epoch,train_loss,train_acc,test_loss,test_acc,test_acc_bn_recal,";
  if (ensemble) csv += "test_acc_ensemble,";
  if (teacher) csv += "teacher_train_loss,teacher_train_acc,teacher_test_loss,teacher_test_acc,teacher_test_acc_bn_recal,";
  csv += "lr,seconds\n";
  for (const EpochMetrics& m : history) {
    csv += std::to_string(m.epoch) + "," + csv_model(m.student) + ",";
    if (ensemble) csv += csv_number(m.student.test_accuracy_ensemble, "%.4f") + ",";
    if (teacher) csv += csv_model(m.teacher) + ",";
    csv += csv_number(m.lr, "%.6g") + "," + csv_number(m.seconds, "%.3f") + "\n";
  }
  return csv;
}

nlohmann::ordered_json metrics_json(const std::vector<EpochMetrics>& history) {
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (const EpochMetrics& m : history) epochs.push_back(epoch_json<nlohmann::ordered_json>(m));
  nlohmann::ordered_json out;
  if (!history.empty()) {
    const EpochMetrics& best = best_epoch(history);
    out["best_test_acc"] = best.student.test_accuracy;
    out["best_epoch"] = best.epoch;
    out["last_test_acc"] = history.back().student.test_accuracy;
  }
  out["epochs"] = epochs;
  return out;
}

namespace {

Curve curve_of(const std::vector<EpochMetrics>& history, const std::string& name, const std::string& color,
               double (*value)(const EpochMetrics&)) {
  Curve c{name, color, {}, {}};
  for (const EpochMetrics& m : history) {
    c.epochs.push_back(static_cast<double>(m.epoch));
    c.values.push_back(value(m));
  }
  return c;
}

}  // namespace

std::string metrics_svg(const std::vector<EpochMetrics>& history, const std::string& title) {
  const double panel_width = 400, panel_height = 300, top = 60;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='960' height='420' font-family='sans-serif' "
         "font-size='12'>\n<rect width='960' height='420' fill='white'/>\n<text x='480' y='24' "
         "text-anchor='middle' font-size='16'>"
      << svg_escape(title) << "</text>\n";
  const std::string blue = plot_color(0), orange = plot_color(1);
  draw_curves(svg,
             {curve_of(history, "train loss", blue, [](const EpochMetrics& m) { return m.student.train_loss; }),
              curve_of(history, "test loss", orange, [](const EpochMetrics& m) { return m.student.test_loss; })},
             70, top, panel_width, panel_height, "loss", 0.0, 0.0);
  std::vector<Curve> accuracy = {
      curve_of(history, "train accuracy", blue, [](const EpochMetrics& m) { return m.student.train_accuracy; }),
      curve_of(history, "test accuracy", orange, [](const EpochMetrics& m) { return m.student.test_accuracy; })};
  if (std::any_of(history.begin(), history.end(),
                  [](const EpochMetrics& m) { return !std::isnan(m.student.test_accuracy_bn_recal); }))
    accuracy.push_back(curve_of(history, "test, BN recal", plot_color(2),
                                [](const EpochMetrics& m) { return m.student.test_accuracy_bn_recal; }));
  draw_curves(svg, accuracy, 550, top, panel_width, panel_height, "accuracy (%)", 100.0, 100.0);
  svg << "</svg>\n";
  return svg.str();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    ENGRAM_CHECK(out.good(), IOError, "write_file_atomic", "cannot open " + temp + " for writing");
    out << contents;
    out.flush();
    ENGRAM_CHECK(out.good(), IOError, "write_file_atomic", "writing " + temp + " failed (disk full?)");
  }
  ENGRAM_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, IOError, "write_file_atomic",
               "cannot rename " + temp + " to " + path);
}

void prepare_output_folder(const std::string& dir, const std::string& op) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  ENGRAM_CHECK(!error, IOError, op, "cannot create folder " + dir + ": " + error.message());
  const std::string probe = dir + "/.engram-write-test";
  bool writable = false;
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    writable = out.good() && (out << "ok").flush().good();
  }
  std::filesystem::remove(probe, error);
  ENGRAM_CHECK(writable, IOError, op, "cannot write into the output folder " + dir + " (read-only, or no space?)");
}

void write_metrics_files(const std::string& dir, const std::vector<EpochMetrics>& history, const std::string& title) {
  prepare_output_folder(dir, "write_metrics_files");
  write_file_atomic(dir + "/metrics.csv", metrics_csv(history));
  write_file_atomic(dir + "/metrics.json", metrics_json(history).dump(2) + "\n");
  write_file_atomic(dir + "/metrics.svg", metrics_svg(history, title));
}

}  // namespace engram::train
