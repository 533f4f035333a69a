// run_kd on CUDA: replayed batches are bitwise the teacher's, s = 0 is online
// KD step for step, and a short run's losses follow the CPU run's.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>

#include "distill/experiment.h"
#include "distill/kd_run.h"

using namespace engram;
using namespace engram::distill;

namespace {

KdRunConfig small_run(Mode mode, double s, DeviceRequest device) {
  KdRunConfig c;
  c.mode = mode;
  c.s = s;
  c.teacher_model = "resnet8";
  c.student_model = "resnet8";
  c.train.epochs = 2;
  c.train.batch = 8;  // 4 steps an epoch; small, because on the host runtime every kernel runs on the CPU
  c.train.eval_batch = 16;
  c.train.subset = 32;
  c.train.test_subset = 16;
  c.train.device = device;
  c.train.seed = 7;
  c.train.bn_recalibrate = 2;
  return c;
}

train::RunHooks quiet() {
  train::RunHooks hooks;
  hooks.log = nullptr;
  return hooks;
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  Tensor host = t.to(Device::cpu());
  std::vector<uint8_t> out(host.nbytes());
  std::memcpy(out.data(), host.raw_data(), out.size());
  return out;
}

}  // namespace

TEST_CASE("on CUDA a replayed batch is bitwise the batch the teacher saw", "[distill][cuda]") {
  std::map<std::pair<uint64_t, int64_t>, std::vector<uint8_t>> teacher_images;
  int64_t compared = 0, mismatches = 0;
  train::RunHooks hooks = quiet();
  hooks.on_step = [&](const train::StepEvent& e) {
    CHECK(e.data->images.device().is_cuda());
    auto key = std::make_pair(e.batch.epoch, e.batch.step);
    if (e.role == train::Role::teacher) {
      teacher_images[key] = bytes_of(e.data->images);
    } else {
      ++compared;
      if (teacher_images.at(key) != bytes_of(e.data->images)) ++mismatches;
    }
  };
  run_kd(small_run(Mode::spaced, 1.5, DeviceRequest::cuda), hooks);
  CHECK(compared == 8);
  CHECK(mismatches == 0);
}

TEST_CASE("on CUDA spaced KD with s = 0 equals online KD, and follows the CPU run", "[distill][cuda]") {
  train::RunResult online = run_kd(small_run(Mode::online, 0.0, DeviceRequest::cuda), quiet());
  train::RunResult spaced = run_kd(small_run(Mode::spaced, 0.0, DeviceRequest::cuda), quiet());
  CHECK(online.student_step_losses == spaced.student_step_losses);
  CHECK(online.teacher_step_losses == spaced.teacher_step_losses);

  train::RunResult cpu = run_kd(small_run(Mode::online, 0.0, DeviceRequest::cpu), quiet());
  REQUIRE(cpu.student_step_losses.size() == online.student_step_losses.size());
  // Different summation orders drift apart slowly over 8 SGD steps.
  for (size_t i = 0; i < cpu.student_step_losses.size(); ++i) {
    CHECK(online.student_step_losses[i] == Approx(cpu.student_step_losses[i]).epsilon(2e-2));
    CHECK(online.teacher_step_losses[i] == Approx(cpu.teacher_step_losses[i]).epsilon(2e-2));
  }
  CHECK(online.host_reads_per_epoch == 10);
  for (const train::EpochMetrics& m : online.history) CHECK(std::isfinite(m.student.test_accuracy_bn_recal));
}

TEST_CASE("on CUDA online KD's teacher is the baseline, bitwise", "[distill][cuda]") {
  KdRunConfig base_config = small_run(Mode::baseline, 0.0, DeviceRequest::cuda),
              online_config = small_run(Mode::online, 0.0, DeviceRequest::cuda);
  base_config.train.epochs = online_config.train.epochs = 1;
  train::RunResult base = run_kd(base_config, quiet());
  train::RunResult online = run_kd(online_config, quiet());
  CHECK(base.student_step_losses == online.teacher_step_losses);
  const RunRecord derived = baseline_from_teacher({online.history, 0, online.host_reads_per_epoch, std::nullopt});
  REQUIRE(derived.history.size() == base.history.size());
  for (size_t e = 0; e < base.history.size(); ++e) {
    const train::ModelMetrics &x = base.history[e].student, &y = derived.history[e].student;
    CHECK(std::memcmp(&x, &y, sizeof x) == 0);
  }
}

TEST_CASE("on CUDA runs sharing one teacher equal the same runs alone, bitwise", "[distill][cuda][shared]") {
  // Online and a spaced run replaying inside the epoch (the CPU test covers more intervals).
  std::vector<KdRunConfig> configs = {small_run(Mode::online, 0.0, DeviceRequest::cuda),
                                      small_run(Mode::spaced, 0.5, DeviceRequest::cuda)};
  for (KdRunConfig& c : configs) c.train.epochs = 1;
  const std::vector<train::RunResult> group =
      run_kd_group(configs, std::vector<train::RunHooks>(configs.size(), quiet()));
  for (size_t k = 0; k < configs.size(); ++k) {
    INFO("run " << k);
    const train::RunResult alone = run_kd(configs[k], quiet());
    CHECK(group[k].student_step_losses == alone.student_step_losses);
    CHECK(group[k].teacher_step_losses == alone.teacher_step_losses);
    REQUIRE(group[k].history.size() == alone.history.size());
    for (size_t e = 0; e < alone.history.size(); ++e) {
      const train::EpochMetrics &a = alone.history[e], &g = group[k].history[e];
      CHECK(std::memcmp(&a.student, &g.student, sizeof a.student) == 0);
      CHECK(std::memcmp(&a.teacher, &g.teacher, sizeof a.teacher) == 0);
    }
  }
}

TEST_CASE("on CUDA the self modes run", "[distill][cuda]") {
  train::RunResult result = run_kd(small_run(Mode::spaced_self, 0.5, DeviceRequest::cuda), quiet());
  CHECK(result.student_step_losses.size() == 8);
  for (float v : result.student_step_losses) CHECK(std::isfinite(v));
}
