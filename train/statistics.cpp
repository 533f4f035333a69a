#include "train/statistics.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace engram::train {

namespace {

constexpr const char* kOp = "statistics";

// The continued fraction of the regularised incomplete beta function
// (modified Lentz's method), which converges fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, epsilon = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::abs(d) < tiny ? tiny : d);
  double f = d;
  for (int m = 1; m <= 300; ++m) {
    for (int half = 0; half < 2; ++half) {
      const double numerator = half == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                         : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1 + numerator * d;
      d = 1 / (std::abs(d) < tiny ? tiny : d);
      c = 1 + numerator / c;
      if (std::abs(c) < tiny) c = tiny;
      f *= c * d;
      if (half == 1 && std::abs(c * d - 1) < epsilon) return f;
    }
  }
  return f;
}

// I_x(a, b), given x and y = 1 - x each computed without cancellation.
double regularized_beta(double a, double b, double x, double y) {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log(y));
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, y) / b;
}

// P(T <= t) for Student's t with df degrees of freedom. Near t = 0, 1 - x
// computed as such would round to 0 and flatten the CDF around its median.
double student_t_cdf(double t, double df) {
  const double t2 = t * t;
  const double tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
  return t >= 0 ? 1 - tail : tail;
}

}  // namespace

MeanStd mean_std(const std::vector<double>& values) {
  if (values.empty()) return {};
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  const double std = values.size() > 1 ? std::sqrt(var / static_cast<double>(values.size() - 1)) : 0.0;
  return {mean, std};
}

double student_t_quantile(double p, double df) {
  ENGRAM_CHECK(p > 0 && p < 1, ValueError, kOp, "the quantile's p must be in (0, 1), got " + std::to_string(p));
  ENGRAM_CHECK(df >= 1, ValueError, kOp, "degrees of freedom must be at least 1, got " + std::to_string(df));
  // The CDF is increasing: bisection on a bracket that holds every quantile
  // used in practice (t(0.9995, 1) is about 637), then doubling as needed.
  double low = -1, high = 1;
  while (student_t_cdf(low, df) > p) low *= 2;
  while (student_t_cdf(high, df) < p) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-13 * std::max(1.0, std::abs(high)); ++i) {
    const double mid = 0.5 * (low + high);
    (student_t_cdf(mid, df) < p ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  ENGRAM_CHECK(a.size() == b.size(), ValueError, kOp,
               "paired values need as many of each, got " + std::to_string(a.size()) + " and " +
                   std::to_string(b.size()));
  std::vector<double> differences;
  PairedDifference d;
  for (size_t i = 0; i < a.size(); ++i) {
    differences.push_back(a[i] - b[i]);
    d.positive += a[i] - b[i] > 0;
  }
  d.n = static_cast<int64_t>(differences.size());
  const MeanStd m = mean_std(differences);
  d.mean = m.mean;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (d.n < 2 || std::isnan(m.mean)) {
    d.low = d.high = nan;
    return d;
  }
  const double half_width = student_t_quantile(0.975, static_cast<double>(d.n - 1)) * m.std /
                            std::sqrt(static_cast<double>(d.n));
  d.low = d.mean - half_width;
  d.high = d.mean + half_width;
  return d;
}

}  // namespace engram::train
