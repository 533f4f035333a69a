#pragma once
// Per-epoch training metrics and the files the training program writes from
// them: metrics.csv, metrics.json and metrics.svg (loss and accuracy curves).
// Accuracies are percentages; losses are means over the epoch's samples.
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/plot.h"

namespace engram::train {

// One model's figures for one epoch; NaN where nothing was measured (no
// step of that model in the epoch, no teacher, no BN recalibration).
struct ModelMetrics {
  double train_loss = NAN, train_accuracy = NAN;  // means over the epoch's steps
  double test_loss = NAN, test_accuracy = NAN;
  double test_accuracy_bn_recal = NAN;  // after BN recalibration (bn_recalibrate > 0)
  double test_accuracy_ensemble = NAN;  // multi-exit models: the prediction of all exits' mean logits
  int64_t steps = 0;                    // steps this model took in the epoch
};

struct EpochMetrics {
  int64_t epoch = 0;   // 1-based
  double lr = 0;       // the learning rate of the epoch's first step
  ModelMetrics student;  // the model being trained: a plain run's only model
  ModelMetrics teacher;  // a KD run's teacher; in spaced-self the deepest exit
  double seconds = 0;  // training and evaluation wall time
  bool has_teacher() const { return teacher.steps > 0 || !std::isnan(teacher.test_accuracy); }
};

// The checkpoint's form of one epoch (the keys of metrics.json; the teacher's
// prefixed teacher_ and present only when there is one; NaN as null).
// epoch_metrics_from_json throws IOError naming a missing or ill-typed key.
nlohmann::json to_json(const EpochMetrics& m);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& j);

// The epoch with the student's highest test accuracy (the first one on ties); history must not be empty.
const EpochMetrics& best_epoch(const std::vector<EpochMetrics>& history);

std::string metrics_csv(const std::vector<EpochMetrics>& history);
// Keys in the order a reader wants them: the summary first, then the epochs.
nlohmann::ordered_json metrics_json(const std::vector<EpochMetrics>& history);
// A self-contained SVG: a loss panel (train, test) and an accuracy panel
// (train, test), each with axes, ticks, labels and a legend.
std::string metrics_svg(const std::vector<EpochMetrics>& history, const std::string& title);

// Writes metrics.csv, metrics.json and metrics.svg into `dir` (created if
// missing), each atomically (temp file + rename). Throws IOError naming the file.
void write_metrics_files(const std::string& dir, const std::vector<EpochMetrics>& history, const std::string& title);

// Creates `dir` if missing and checks that a file can be written into it;
// IOError (starting with `op`) naming the folder otherwise.
void prepare_output_folder(const std::string& dir, const std::string& op);

// Writes `contents` to `path` through a temp file in the same folder and a rename.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace engram::train
