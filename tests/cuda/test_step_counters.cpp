// The design's promise, held by counts: after warm-up a training step on CUDA
// neither waits for the device nor grows the memory pool, and an epoch reads
// the device exactly as often as run_kd says. The counts come from engram's
// own CUDA wrappers (core/cuda_runtime.h), so they mean the same on a GPU and
// on the host runtime.
#include <catch2/catch.hpp>

#include <vector>

#include "core/cuda_runtime.h"
#include "core/random.h"
#include "distill/kd_run.h"
#include "kernels/loss.h"
#include "nn/models.h"
#include "optim/optimizer.h"

using namespace engram;
using namespace engram::distill;

namespace {

KdRunConfig small_run(Mode mode, double s) {
  KdRunConfig c;
  c.mode = mode;
  c.s = s;
  c.teacher_model = "resnet8";
  c.student_model = "resnet8";
  c.train.epochs = 2;  // epoch 0 warms the pool up; epoch 1 is measured
  c.train.batch = 8;
  c.train.eval_batch = 16;
  c.train.subset = 24;  // 3 steps an epoch; small, because on the host runtime every kernel runs on the CPU
  c.train.test_subset = 16;
  c.train.device = DeviceRequest::cuda;
  c.train.seed = 3;
  return c;
}

struct Snapshot {
  train::Role role;
  int64_t epoch;
  cuda::Counters counts;
};

// Counters at every teacher and student step of a run.
// The last snapshot is taken after the run returned.
std::vector<Snapshot> record_steps(const KdRunConfig& config, train::RunResult& result) {
  std::vector<Snapshot> snapshots;
  train::RunHooks hooks;
  hooks.log = nullptr;
  hooks.on_step = [&](const train::StepEvent& e) {
    snapshots.push_back({e.role, static_cast<int64_t>(e.batch.epoch), cuda::counters()});
  };
  result = run_kd(config, hooks);
  snapshots.push_back({train::Role::teacher, -1, cuda::counters()});
  return snapshots;
}

// Between two consecutive steps of one epoch after the first, the device
// ran a whole step: it must not have synchronised or grown the pool.
void check_steps_stay_on_device(const std::vector<Snapshot>& s, const char* what) {
  int checked = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i].epoch != s[i - 1].epoch || s[i].epoch < 1) continue;
    INFO(what << ": step " << i << " (epoch " << s[i].epoch << ")");
    CHECK(s[i].counts.host_syncs == s[i - 1].counts.host_syncs);
    CHECK(s[i].counts.pool_growths == s[i - 1].counts.pool_growths);
    CHECK(s[i].counts.launches > s[i - 1].counts.launches);
    ++checked;
  }
  CHECK(checked >= 3);
}

}  // namespace

TEST_CASE("a plain SGD step on CUDA performs no host sync and no pool growth after warm-up", "[cuda][counters]") {
  manual_seed(1);
  auto model = nn::make_model("resnet8", 1, 10);
  model->to(Device::cuda());
  model->train();
  SgdConfig config;
  config.lr = 0.05, config.momentum = 0.9, config.weight_decay = 5e-4;
  optim::SGD sgd(model->parameters(), config);
  Generator gen(2);
  Tensor x = random::normal({4, 1, 28, 28}, 0, 1, gen).to(Device::cuda());
  Tensor y = random::randint({4}, 0, 10, gen).to(Device::cuda());
  auto step = [&] {
    Tensor loss = cross_entropy(model->forward(x).logits, y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  };
  step();
  step();
  cuda::Counters before = cuda::counters();
  step();
  cuda::Counters after = cuda::counters();
  CHECK(after.host_syncs == before.host_syncs);
  CHECK(after.pool_growths == before.pool_growths);
  CHECK(after.allocations > before.allocations);  // served by the pool
  CHECK(after.launches > before.launches);
}

TEST_CASE("online KD steps on CUDA stay on the device; an epoch reads it as often as run_kd reports",
          "[cuda][counters][distill]") {
  train::RunResult result;
  std::vector<Snapshot> steps = record_steps(small_run(Mode::online, 0.0), result);
  check_steps_stay_on_device(steps, "online");
  // From the first step of the last epoch to the run's return: one epoch end
  // (losses, evaluation; no checkpoint without an out_dir).
  const Snapshot* start = nullptr;
  for (const Snapshot& s : steps)
    if (s.epoch == 1 && !start) start = &s;
  REQUIRE(start);
  CHECK(int64_t(steps.back().counts.host_reads - start->counts.host_reads) == result.host_reads_per_epoch);
}

TEST_CASE("Spaced KD teacher steps and replayed student steps on CUDA stay on the device", "[cuda][counters][distill]") {
  train::RunResult result;
  std::vector<Snapshot> steps = record_steps(small_run(Mode::spaced, 0.5), result);
  int replays = 0;
  for (const Snapshot& s : steps) replays += s.role == train::Role::student;
  CHECK(replays == 6);
  check_steps_stay_on_device(steps, "spaced");
}
