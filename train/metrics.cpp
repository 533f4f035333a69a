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
  const bool teacher = any_teacher(history);
  std::string csv = "epoch,train_loss,train_acc,test_loss,test_acc,test_acc_bn_recal,";
  if (teacher) csv += "teacher_train_loss,teacher_train_acc,teacher_test_loss,teacher_test_acc,teacher_test_acc_bn_recal,";
  csv += "lr,seconds\n";
  for (const EpochMetrics& m : history) {
    csv += std::to_string(m.epoch) + "," + csv_model(m.student) + ",";
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

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!std::isfinite(low) || !std::isfinite(high)) low = 0, high = 1;
  if (high <= low) high = low + 1;
  double raw = (high - low) / std::max(target, 1);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double normalised = raw / magnitude;
  double step = (normalised < 1.5 ? 1 : normalised < 3 ? 2 : normalised < 7 ? 5 : 10) * magnitude;
  // Ticks cover [low, high]: the axis runs from the first tick to the last.
  int64_t first = static_cast<int64_t>(std::floor(low / step + 1e-9));
  int64_t last = static_cast<int64_t>(std::ceil(high / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t i = first; i <= last; ++i) ticks.push_back(i * step == 0 ? 0.0 : i * step);
  return ticks;
}

namespace {

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// One panel of a plot: a frame at (left, top) of size (width, height) in
// pixels, epochs on x. The y axis always includes [y_floor, y_ceiling] (0 for
// losses, 100 % for accuracies); non-finite points are left out.
void draw_panel(std::ostringstream& svg, const std::vector<Curve>& curves, double left, double top, double width,
                double height, const std::string& y_label, double y_floor, double y_ceiling) {
  double lo = y_floor, hi = y_ceiling;
  double first_epoch = 1.0, last_epoch = 1.0;
  bool any = false;
  for (const Curve& c : curves)
    for (size_t i = 0; i < c.epochs.size(); ++i) {
      first_epoch = any ? std::min(first_epoch, c.epochs[i]) : c.epochs[i];
      last_epoch = any ? std::max(last_epoch, c.epochs[i]) : c.epochs[i];
      any = true;
      if (!std::isfinite(c.values[i])) continue;
      lo = std::min(lo, c.values[i]);
      hi = std::max(hi, c.values[i]);
    }
  std::vector<double> y_ticks = nice_ticks(lo, hi);
  double y_min = y_ticks.front(), y_max = y_ticks.back();
  if (last_epoch <= first_epoch) last_epoch = first_epoch + 1;
  auto x_of = [&](double epoch) { return left + (epoch - first_epoch) / (last_epoch - first_epoch) * width; };
  auto y_of = [&](double v) { return top + height - (v - y_min) / (y_max - y_min) * height; };

  svg << "<rect x='" << left << "' y='" << top << "' width='" << width << "' height='" << height
      << "' fill='none' stroke='#444'/>\n";
  for (double t : y_ticks) {
    double y = y_of(t);
    svg << "<line x1='" << left << "' y1='" << y << "' x2='" << left + width << "' y2='" << y
        << "' stroke='#ddd'/><line x1='" << left - 5 << "' y1='" << y << "' x2='" << left << "' y2='" << y
        << "' stroke='#444'/><text x='" << left - 8 << "' y='" << y + 4 << "' text-anchor='end'>" << number(t)
        << "</text>\n";
  }
  for (double t : nice_ticks(first_epoch, last_epoch, 8)) {
    if (t < first_epoch || t > last_epoch || t != std::floor(t)) continue;  // whole epochs inside the axis only
    double x = x_of(t);
    svg << "<line x1='" << x << "' y1='" << top + height << "' x2='" << x << "' y2='" << top + height + 5
        << "' stroke='#444'/><text x='" << x << "' y='" << top + height + 20 << "' text-anchor='middle'>" << number(t)
        << "</text>\n";
  }
  svg << "<text x='" << left + width / 2 << "' y='" << top + height + 40 << "' text-anchor='middle'>epoch</text>\n";
  svg << "<text transform='translate(" << left - 45 << "," << top + height / 2 << ") rotate(-90)' text-anchor='middle'>"
      << xml_escape(y_label) << "</text>\n";

  for (size_t k = 0; k < curves.size(); ++k) {
    const Curve& c = curves[k];
    std::string points;
    for (size_t i = 0; i < c.epochs.size(); ++i) {
      if (!std::isfinite(c.values[i])) continue;
      double x = x_of(c.epochs[i]), y = y_of(c.values[i]);
      points += number(x) + "," + number(y) + " ";
      svg << "<circle cx='" << x << "' cy='" << y << "' r='2.5' fill='" << c.color << "'/>\n";
    }
    svg << "<polyline fill='none' stroke='" << c.color << "' stroke-width='2' points='" << points << "'/>\n";
    // The legend sits in rows above the frame, where no curve can hide it.
    const size_t per_row = std::max<size_t>(1, static_cast<size_t>(width / 150));
    const size_t rows = (curves.size() + per_row - 1) / per_row;
    double legend_x = left + 150 * static_cast<double>(k % per_row);
    double legend_y = top - 8 - 16 * static_cast<double>(rows - 1 - k / per_row);
    svg << "<line x1='" << legend_x << "' y1='" << legend_y - 4 << "' x2='" << legend_x + 20 << "' y2='" << legend_y - 4
        << "' stroke='" << c.color << "' stroke-width='2'/><text x='" << legend_x + 26 << "' y='" << legend_y << "'>"
        << xml_escape(c.name) << "</text>\n";
  }
}

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

std::string plot_color(size_t k) {
  static const char* const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[k % 10];
}

std::string metrics_svg(const std::vector<EpochMetrics>& history, const std::string& title) {
  const double panel_width = 400, panel_height = 300, top = 60;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='960' height='420' font-family='sans-serif' "
         "font-size='12'>\n<rect width='960' height='420' fill='white'/>\n<text x='480' y='24' "
         "text-anchor='middle' font-size='16'>"
      << xml_escape(title) << "</text>\n";
  const std::string blue = plot_color(0), orange = plot_color(1);
  draw_panel(svg,
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
  draw_panel(svg, accuracy, 550, top, panel_width, panel_height, "accuracy (%)", 100.0, 100.0);
  svg << "</svg>\n";
  return svg.str();
}

std::string curves_svg(const std::string& title, const std::string& y_label, const std::vector<Curve>& curves,
                       double y_floor, double y_ceiling) {
  const double width = 960, panel_width = 820, panel_height = 360;
  const size_t legend_rows = (curves.size() + 4) / 5;  // 820 px hold five legend entries a row
  const double top = 50 + 16 * static_cast<double>(legend_rows), height = top + panel_height + 60;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='12'>\n<rect width='" << width << "' height='" << height
      << "' fill='white'/>\n<text x='" << width / 2 << "' y='24' text-anchor='middle' font-size='16'>"
      << xml_escape(title) << "</text>\n";
  draw_panel(svg, curves, 90, top, panel_width, panel_height, y_label, y_floor, y_ceiling);
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
