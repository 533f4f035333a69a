#pragma once
// Statistics of results over seeds: mean and sample standard deviation, and
// paired differences with a Student's t confidence interval (the main job's
// statements of certainty).
#include <cstdint>
#include <limits>
#include <vector>

namespace engram::train {

// NaN when there are no values or one is NaN (a figure not measured).
struct MeanStd {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
};

// The sample standard deviation (n − 1), 0 for a single value.
MeanStd mean_std(const std::vector<double>& values);

// The p-quantile of Student's t distribution with `df` degrees of freedom
// (ValueError unless 0 < p < 1 and df >= 1).
double student_t_quantile(double p, double df);

// a − b, paired by index (by seed): the mean difference, its two-sided 95 %
// confidence interval mean ± t(0.975, n − 1) · std / √n, and how many of the
// n differences are positive. NaN bounds for n < 2; NaN throughout when a
// value is NaN.
struct PairedDifference {
  double mean = 0, low = 0, high = 0;
  int64_t positive = 0, n = 0;
};
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace engram::train
