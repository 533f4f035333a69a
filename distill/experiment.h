#pragma once
// The main job's experiment (examples/spaced_kd.cpp): its rows (a mode and an
// interval), the record of each run, the per-row summary over seeds, the
// paired differences between rows, and the table written as Markdown, CSV
// and JSON.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "distill/checkpoint_model.h"
#include "distill/kd_run.h"
#include "train/metrics.h"
#include "train/sharpness.h"
#include "train/statistics.h"

namespace engram::distill {

// One row of the table: a mode and, for the spaced modes, its interval.
struct Row {
  Mode mode;
  double s;  // 0 for the modes without spacing
  std::string name() const;  // "online", "spaced-s1.5"
};

// What a finished run leaves in its result.json.
struct RunRecord {
  std::vector<train::EpochMetrics> history;
  double seconds = 0;
  int64_t host_reads_per_epoch = 0;
  std::optional<train::Sharpness> sharpness;  // of the final student (--sharpness)
};
nlohmann::json to_json(const RunRecord& r);
// IOError naming `path` for a missing key.
RunRecord run_record_from_json(const nlohmann::json& j, const std::string& path);
// In online KD without --mutual and with one architecture for both, the
// teacher trains exactly as the baseline does: built first from the seed, on
// the same batches, loss and schedule, and nothing flows back from the
// student. One online run then serves the baseline row too.
bool teacher_is_baseline(const KdRunConfig& online);
// The baseline's record read off such an online run: its teacher's figures
// as the student's (the teacher's share of the run's seconds is not known: 0).
RunRecord baseline_from_teacher(const RunRecord& online);

// The JSON of a file; IOError naming it when it is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

// A row over its seeds: mean ± std of each figure.
struct TableRow {
  Row row;
  train::MeanStd student_best, student_last, teacher_best, teacher_last;
  train::MeanStd student_best_recal, student_last_recal;  // after BN recalibration (--bn-recalibrate)
  train::MeanStd student_best_ensemble, student_last_ensemble;  // self modes: all exits' mean logits
  train::MeanStd trace, lambda_max;                         // the final student's sharpness (--sharpness)
  double seconds_per_run = 0;
  int64_t seeds = 0, host_reads_per_epoch = 0;
  std::vector<double> mean_curve;  // student test accuracy per epoch, mean over seeds
  std::vector<double> last, last_recal;  // per seed, for the paired differences
};
TableRow summarise(const Row& row, const std::vector<RunRecord>& runs);

// A paired difference of the students' last test accuracy over seeds, as-is
// and after BN recalibration.
struct Comparison {
  std::string name;
  train::PairedDifference as_is, recal;
};
// Each spaced row against its unspaced mode (online, self) and the baseline,
// and online against the baseline: whichever rows the run has.
std::vector<Comparison> comparisons(const std::vector<TableRow>& table);

// The final accuracy of a sweep of s, with error bars (± std over seeds),
// and the baseline and the unspaced mode as bands: the SVG of the first
// spaced mode with two or more rows, empty when there is none.
std::string spacing_sweep_svg(const std::vector<TableRow>& table, const std::string& title);

// The table and the differences in Markdown; the footer names the
// configuration (`base`), the device and the sharpness measurement.
std::string table_markdown(const std::vector<TableRow>& rows, const std::vector<Comparison>& differences,
                           const KdRunConfig& base, const std::string& device, const SharpnessRequest& sharpness);
std::string table_csv(const std::vector<TableRow>& rows);
nlohmann::ordered_json table_json(const std::vector<TableRow>& rows, const std::vector<Comparison>& differences,
                                  const KdRunConfig& base, const std::string& device,
                                  const SharpnessRequest& sharpness);

}  // namespace engram::distill
