#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "train/statistics.h"

using namespace engram;

TEST_CASE("Student's t quantiles match the tables", "[statistics]") {
  // Two-sided 95 % critical values, from any table of the t distribution.
  CHECK(train::student_t_quantile(0.975, 1) == Approx(12.7062047).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.975, 2) == Approx(4.30265273).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.975, 4) == Approx(2.77644511).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.975, 9) == Approx(2.26215716).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.975, 30) == Approx(2.04227246).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.995, 3) == Approx(5.84090931).epsilon(1e-8));
  CHECK(train::student_t_quantile(0.975, 1e6) == Approx(1.95996590).epsilon(1e-6));  // the normal's
  CHECK(train::student_t_quantile(0.5, 7) == Approx(0).margin(1e-12));
  CHECK(train::student_t_quantile(0.025, 4) == Approx(-2.77644511).epsilon(1e-8));
  CHECK_THROWS_WITH(train::student_t_quantile(1.0, 4), Catch::Contains("p must be in (0, 1), got 1"));
  CHECK_THROWS_WITH(train::student_t_quantile(0.9, 0), Catch::Contains("degrees of freedom must be at least 1"));
}

TEST_CASE("paired differences: mean, 95 % interval and positive count", "[statistics]") {
  train::PairedDifference d = train::paired_difference({91.0, 90.5, 92.0, 91.5, 90.0}, {90.0, 90.5, 90.0, 90.5, 89.0});
  // Differences 1, 0, 2, 1, 1: mean 1, std sqrt(0.5), t(0.975, 4) = 2.776445.
  CHECK(d.n == 5);
  CHECK(d.positive == 4);
  CHECK(d.mean == Approx(1.0));
  const double half = 2.77644511 * std::sqrt(0.5) / std::sqrt(5.0);
  CHECK(d.low == Approx(1.0 - half).margin(1e-8));
  CHECK(d.high == Approx(1.0 + half).margin(1e-8));

  train::PairedDifference one = train::paired_difference({2.0}, {1.0});
  CHECK(one.mean == 1.0);
  CHECK(std::isnan(one.low));
  CHECK(std::isnan(train::paired_difference({1.0, NAN}, {0.0, 0.0}).mean));
  CHECK_THROWS_WITH(train::paired_difference({1.0}, {1.0, 2.0}), Catch::Contains("got 1 and 2"));
}

TEST_CASE("mean and sample standard deviation", "[statistics]") {
  train::MeanStd m = train::mean_std({1.0, 2.0, 3.0, 4.0});
  CHECK(m.mean == 2.5);
  CHECK(m.std == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(train::mean_std({7.0}).std == 0.0);
  CHECK(std::isnan(train::mean_std({}).mean));
  CHECK(std::isnan(train::mean_std({1.0, NAN}).mean));
}
