// The main job's table (distill/experiment.h): rows summarised over seeds,
// the paired differences between rows, their Markdown and JSON, the records
// a finished run leaves, and the plot of an s sweep.
#include <catch2/catch.hpp>
#include <cmath>
#include <regex>

#include "core/error.h"
#include "distill/experiment.h"

using Catch::Matchers::Contains;
using namespace engram;
using namespace engram::distill;

namespace {

// A run of `epochs` epochs whose student ends at `last` (and peaks one point
// above it in the middle epoch), its BN-recalibrated accuracy `recal`.
RunRecord run(double last, double recal, double teacher = NAN, int epochs = 3) {
  RunRecord r;
  for (int e = 1; e <= epochs; ++e) {
    train::EpochMetrics m;
    m.epoch = e;
    m.student.test_accuracy = e == epochs ? last : e == 2 ? last + 1 : last - 5;
    m.student.test_accuracy_bn_recal = e == epochs ? recal : NAN;
    m.teacher.test_accuracy = teacher;
    m.seconds = 10;
    r.history.push_back(m);
  }
  r.seconds = 10.0 * epochs;
  return r;
}

std::vector<TableRow> sample_table() {
  return {summarise({Mode::baseline, 0}, {run(90, 90.5), run(91, 91), run(89, 89.5)}),
          summarise({Mode::online, 0}, {run(88, 88, 92), run(90, 90.5, 92), run(89, 89, 92)}),
          summarise({Mode::spaced, 1.5}, {run(90, 90, 92), run(92, 91, 92), run(90, 90.5, 92)})};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("rows are summarised over seeds: best, last, recalibrated, teacher, curve", "[experiment]") {
  const TableRow t = summarise({Mode::spaced, 1.5}, {run(90, 90, 95), run(92, 91.5, 95), run(91, 91, 95)});
  CHECK(t.row.name() == "spaced-s1.5");
  CHECK(t.seeds == 3);
  CHECK(t.student_last.mean == Approx(91));
  CHECK(t.student_last.std == Approx(1));
  CHECK(t.student_best.mean == Approx(92));  // the middle epoch's peak
  CHECK(t.student_last_recal.mean == Approx(90.8333333));
  CHECK(t.teacher_last.mean == 95);
  CHECK(t.last == std::vector<double>{90, 92, 91});
  CHECK(t.mean_curve == std::vector<double>{86, 92, 91});
  CHECK(t.seconds_per_run == Approx(30));
  CHECK(std::isnan(t.trace.mean));  // no sharpness measured
}

TEST_CASE("the paired differences: spaced - online, spaced - baseline, online - baseline", "[experiment]") {
  const std::vector<Comparison> d = comparisons(sample_table());
  REQUIRE(d.size() == 3);
  CHECK(d[0].name == "spaced-s1.5 − online");
  CHECK(d[1].name == "spaced-s1.5 − baseline");
  CHECK(d[2].name == "online − baseline");
  // spaced - online per seed: +2, +2, +1; recalibrated: +2, +0.5, +1.5.
  CHECK(d[0].as_is.mean == Approx(5.0 / 3));
  CHECK(d[0].as_is.positive == 3);
  CHECK(d[0].as_is.n == 3);
  const double half = 4.30265273 * std::sqrt(1.0 / 3) / std::sqrt(3.0);  // t(0.975, 2) * std / sqrt(n)
  CHECK(d[0].as_is.low == Approx(5.0 / 3 - half).margin(1e-6));
  CHECK(d[0].recal.mean == Approx(4.0 / 3));
  // online - baseline: -2, -1, 0: none positive.
  CHECK(d[2].as_is.mean == Approx(-1));
  CHECK(d[2].as_is.positive == 0);

  // Rows with other seed counts are not paired.
  std::vector<TableRow> uneven = sample_table();
  uneven[1] = summarise({Mode::online, 0}, {run(88, 88), run(90, 90)});
  CHECK(comparisons(uneven).size() == 1);  // spaced - baseline only

  SharpnessRequest no_sharpness;
  no_sharpness.samples = 0;
  const std::string md = table_markdown(sample_table(), d, KdRunConfig{}, "cpu", no_sharpness);
  CHECK_THAT(md, Contains("| spaced-s1.5 − online | +1.67 | [") && Contains("| 3 / 3 |"));
  CHECK_THAT(md, Contains("| online − baseline | -1.00 |") && Contains("| 0 / 3 |"));
  CHECK(count(md, "Hessian trace") == 0);
  const nlohmann::ordered_json json = table_json(sample_table(), d, KdRunConfig{}, "cpu", no_sharpness);
  CHECK(json["differences"][0]["last"]["positive"] == 3);
  CHECK(json["differences"][2]["last"]["mean"].get<double>() == Approx(-1));
}

TEST_CASE("the self modes' ensemble accuracy gets its columns, and only then", "[experiment]") {
  SharpnessRequest no_sharpness;
  no_sharpness.samples = 0;
  std::vector<TableRow> table = sample_table();
  CHECK(table_markdown(table, {}, KdRunConfig{}, "cpu", no_sharpness).find("ensemble") == std::string::npos);
  RunRecord self = run(80, 80);
  self.history.back().student.test_accuracy_ensemble = 82.5;
  table.push_back(summarise({Mode::self, 0}, {self}));
  CHECK(table.back().student_last_ensemble.mean == 82.5);
  const std::string md = table_markdown(table, {}, KdRunConfig{}, "cpu", no_sharpness);
  CHECK_THAT(md, Contains("student last, ensemble (%) |") && Contains("| 82.50 ± 0.00 |"));
  // Every data row has as many cells as the header.
  std::istringstream lines(md);
  std::string header, line;
  std::getline(lines, header);
  for (int row = 0; row < 5 && std::getline(lines, line); ++row) CHECK(count(line, "|") == count(header, "|"));
  CHECK(table_json(table, {}, KdRunConfig{}, "cpu", no_sharpness)["rows"][3]["student_last_ensemble"]["mean"] == 82.5);
}

TEST_CASE("a run's record round-trips through result.json, sharpness included", "[experiment]") {
  RunRecord r = run(90, 91, 93);
  r.host_reads_per_epoch = 4;
  train::Sharpness s;
  s.trace = 12.5;
  s.lambda_max = 3.25;
  s.probes = 8;
  r.sharpness = s;
  const RunRecord back = run_record_from_json(to_json(r), "result.json");
  CHECK(back.history.size() == 3);
  CHECK(back.history[2].student.test_accuracy == 90);
  CHECK(back.host_reads_per_epoch == 4);
  REQUIRE(back.sharpness);
  CHECK(back.sharpness->trace == 12.5);
  CHECK(back.sharpness->probes == 8);
  nlohmann::json broken = to_json(r);
  broken.erase("history");
  CHECK_THROWS_WITH(run_record_from_json(broken, "runs/x/result.json"),
                    Contains("runs/x/result.json") && Contains("history"));
}

TEST_CASE("an s sweep is plotted: one point with an error bar per s, baseline and online as bands", "[experiment]") {
  std::vector<TableRow> table = sample_table();
  CHECK(spacing_sweep_svg(table, "one s").empty());  // a single spaced row is no sweep
  table.push_back(summarise({Mode::spaced, 0.5}, {run(89, 89), run(91, 91), run(90, 90)}));
  table.push_back(summarise({Mode::spaced, 3}, {run(86, 86), run(88, 88), run(87, 87)}));
  const std::string svg = spacing_sweep_svg(table, "sweep <s>");
  CHECK_THAT(svg, Contains("sweep &lt;s&gt;") && Contains("space interval s"));
  CHECK(count(svg, "<circle") == 3);
  CHECK(count(svg, "fill-opacity='0.15'") == 2);  // the baseline's and online's bands
  CHECK_THAT(svg, Contains(">baseline</text>") && Contains(">online</text>") && Contains(">spaced</text>"));
  // The points lie left to right in the order of s, and higher for a better accuracy.
  std::regex circle("<circle cx='([0-9.]+)' cy='([0-9.]+)'");
  std::vector<double> x, y;
  for (std::sregex_iterator it(svg.begin(), svg.end(), circle), end; it != end; ++it) {
    x.push_back(std::stod((*it)[1]));
    y.push_back(std::stod((*it)[2]));
  }
  REQUIRE(x.size() == 3);  // in table order: s = 1.5 (mean 90.67), 0.5 (90), 3 (87)
  CHECK(x[1] < x[0]);
  CHECK(x[0] < x[2]);
  CHECK(y[0] < y[1]);  // SVG's y grows downwards
  CHECK(y[1] < y[2]);
}
