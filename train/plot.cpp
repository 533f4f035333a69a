#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace engram::train {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

}  // namespace

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

std::string svg_escape(const std::string& text) {
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


// One panel of a plot: a frame at (left, top) of size (width, height) in
// pixels, epochs on x. The y axis always includes [y_floor, y_ceiling] (0 for
// losses, 100 % for accuracies); non-finite points are left out.
void draw_curves(std::ostringstream& svg, const std::vector<Curve>& curves, double left, double top, double width,
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
      << svg_escape(y_label) << "</text>\n";

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
        << svg_escape(c.name) << "</text>\n";
  }
}

std::string plot_color(size_t k) {
  static const char* const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[k % 10];
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
      << svg_escape(title) << "</text>\n";
  draw_curves(svg, curves, 90, top, panel_width, panel_height, y_label, y_floor, y_ceiling);
  svg << "</svg>\n";
  return svg.str();
}

std::string sweep_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::string& points_name, const std::vector<SweepPoint>& points,
                      const std::vector<Band>& bands) {
  const double width = 960, left = 90, top = 66, panel_width = 820, panel_height = 360;
  const double height = top + panel_height + 60;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  auto widen_y = [&](double v) {
    if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
  };
  for (const SweepPoint& p : points) {
    if (!std::isfinite(p.x)) continue;
    x_lo = std::min(x_lo, p.x);
    x_hi = std::max(x_hi, p.x);
    widen_y(p.mean), widen_y(p.low), widen_y(p.high);
  }
  for (const Band& b : bands) widen_y(b.mean), widen_y(b.low), widen_y(b.high);
  const std::vector<double> x_ticks = nice_ticks(x_lo, x_hi, 6), y_ticks = nice_ticks(y_lo, y_hi);
  // A margin of a fifth of a tick on each side, so that no point sits on the frame.
  const double x_pad = 0.2 * (x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1.0);
  const double x_min = x_ticks.front() - x_pad, x_max = x_ticks.back() + x_pad;
  const double y_min = y_ticks.front(), y_max = y_ticks.back();
  auto x_of = [&](double v) { return left + (v - x_min) / (x_max - x_min) * panel_width; };
  auto y_of = [&](double v) { return top + panel_height - (v - y_min) / (y_max - y_min) * panel_height; };

  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='12'>\n<rect width='" << width << "' height='" << height
      << "' fill='white'/>\n<text x='" << width / 2 << "' y='24' text-anchor='middle' font-size='16'>"
      << svg_escape(title) << "</text>\n";
  svg << "<rect x='" << left << "' y='" << top << "' width='" << panel_width << "' height='" << panel_height
      << "' fill='none' stroke='#444'/>\n";
  for (double t : y_ticks)
    svg << "<line x1='" << left << "' y1='" << y_of(t) << "' x2='" << left + panel_width << "' y2='" << y_of(t)
        << "' stroke='#ddd'/><text x='" << left - 8 << "' y='" << y_of(t) + 4 << "' text-anchor='end'>" << number(t)
        << "</text>\n";
  for (double t : x_ticks)
    svg << "<line x1='" << x_of(t) << "' y1='" << top + panel_height << "' x2='" << x_of(t) << "' y2='"
        << top + panel_height + 5 << "' stroke='#444'/><text x='" << x_of(t) << "' y='" << top + panel_height + 20
        << "' text-anchor='middle'>" << number(t) << "</text>\n";
  svg << "<text x='" << left + panel_width / 2 << "' y='" << top + panel_height + 40 << "' text-anchor='middle'>"
      << svg_escape(x_label) << "</text>\n<text transform='translate(" << left - 45 << ","
      << top + panel_height / 2 << ") rotate(-90)' text-anchor='middle'>" << svg_escape(y_label) << "</text>\n";

  size_t legend = 0;
  auto legend_entry = [&](const std::string& name, const std::string& color, bool dashed) {
    const double x = left + 200 * static_cast<double>(legend++), y = top - 12;
    svg << "<line x1='" << x << "' y1='" << y - 4 << "' x2='" << x + 20 << "' y2='" << y - 4 << "' stroke='" << color
        << "' stroke-width='2'" << (dashed ? " stroke-dasharray='5,3'" : "") << "/><text x='" << x + 26 << "' y='"
        << y << "'>" << svg_escape(name) << "</text>\n";
  };
  for (const Band& b : bands) {
    if (!std::isfinite(b.mean)) continue;
    if (std::isfinite(b.low) && std::isfinite(b.high))
      svg << "<rect x='" << left << "' y='" << y_of(b.high) << "' width='" << panel_width << "' height='"
          << y_of(b.low) - y_of(b.high) << "' fill='" << b.color << "' fill-opacity='0.15'/>\n";
    svg << "<line x1='" << left << "' y1='" << y_of(b.mean) << "' x2='" << left + panel_width << "' y2='"
        << y_of(b.mean) << "' stroke='" << b.color << "' stroke-width='2' stroke-dasharray='5,3'/>\n";
    legend_entry(b.name, b.color, true);
  }
  const std::string color = plot_color(bands.size());
  std::string polyline;
  for (const SweepPoint& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.mean)) continue;
    const double x = x_of(p.x);
    polyline += number(x) + "," + number(y_of(p.mean)) + " ";
    if (std::isfinite(p.low) && std::isfinite(p.high))
      svg << "<line x1='" << x << "' y1='" << y_of(p.low) << "' x2='" << x << "' y2='" << y_of(p.high)
          << "' stroke='" << color << "' stroke-width='1.5'/><line x1='" << x - 5 << "' y1='" << y_of(p.low)
          << "' x2='" << x + 5 << "' y2='" << y_of(p.low) << "' stroke='" << color << "'/><line x1='" << x - 5
          << "' y1='" << y_of(p.high) << "' x2='" << x + 5 << "' y2='" << y_of(p.high) << "' stroke='" << color
          << "'/>\n";
    svg << "<circle cx='" << x << "' cy='" << y_of(p.mean) << "' r='3.5' fill='" << color << "'/>\n";
  }
  svg << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='" << polyline << "'/>\n";
  legend_entry(points_name, color, false);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace engram::train
