#pragma once
// Self-contained SVG plots: curves over epochs (metrics.svg, the main job's
// curves.svg) and a sweep, points with error bars over a parameter with
// reference bands (the main job's sweep.svg).
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace engram::train {

// A curve of a plot: one value per epoch (non-finite values are left out).
struct Curve {
  std::string name, color;
  std::vector<double> epochs, values;
};
// The k-th colour of a ten-colour palette (cycling).
std::string plot_color(size_t k);
// A self-contained SVG with one panel: the curves over epochs, a legend above
// it; the y axis includes [y_floor, y_ceiling].
std::string curves_svg(const std::string& title, const std::string& y_label, const std::vector<Curve>& curves,
                       double y_floor, double y_ceiling);
// One panel of curves at (left, top), of width x height pixels, into `svg`.
void draw_curves(std::ostringstream& svg, const std::vector<Curve>& curves, double left, double top, double width,
                 double height, const std::string& y_label, double y_floor, double y_ceiling);

// One measured point of a sweep: the mean and its error bar [low, high].
struct SweepPoint {
  double x, mean, low, high;
};
// A horizontal band across the whole sweep: a reference measured once.
struct Band {
  std::string name, color;
  double mean, low, high;
};
// The points (joined, with error bars) over x, and each band as a shaded
// strip with its mean as a dashed line; non-finite values are left out.
std::string sweep_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::string& points_name, const std::vector<SweepPoint>& points,
                      const std::vector<Band>& bands);

// Tick positions for an axis over [low, high]: about `target` multiples of 1, 2 or 5 x 10^k.
std::vector<double> nice_ticks(double low, double high, int target = 5);
// `text` with &, <, > and " escaped for SVG.
std::string svg_escape(const std::string& text);

}  // namespace engram::train
