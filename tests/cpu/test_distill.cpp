// distill/: the Spaced KD schedule and run_kd's
// modes on small Fashion-MNIST runs (the real data the setup installs).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/random.h"
#include "data/dataset.h"
#include "distill/experiment.h"
#include "distill/kd_run.h"
#include "train/interrupt.h"
#include "distill/losses.h"
#include "distill/spaced.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "tests/support/checks.h"
#include "tests/support/op_case.h"

using namespace engram;
using namespace engram::distill;
using Catch::Contains;
using Catch::StartsWith;

using engram::testing::message_of;

namespace {

std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("engram_test_distill_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// "T0.1" = teacher step on batch (epoch 0, step 1), "S0.1" = student step.
std::string event_name(train::Role role, const BatchRef& b) {
  return (role == train::Role::teacher ? "T" : "S") + std::to_string(b.epoch) + "." + std::to_string(b.step);
}

// The schedule alone: the events of `epochs` epochs of `steps` steps, flush included.
std::string schedule_events(double s, int64_t steps, int64_t epochs) {
  SpacedSchedule schedule(s, steps);
  std::string out;
  auto student = [&](const std::vector<BatchRef>& due) {
    for (const BatchRef& b : due) out += event_name(train::Role::student, b) + " ";
  };
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t t = 0; t < steps; ++t) {
      BatchRef b{static_cast<uint64_t>(e), t};
      out += event_name(train::Role::teacher, b) + " ";
      student(schedule.teacher_stepped(b));
    }
  student(schedule.flush());
  return out;
}

// Hand-written: 3 epochs of 4 steps.
const std::map<double, std::string> kExpectedEvents = {
    {0.5,  // I = 2
     "T0.0 T0.1 S0.0 S0.1 T0.2 T0.3 S0.2 S0.3 T1.0 T1.1 S1.0 S1.1 T1.2 T1.3 S1.2 S1.3 "
     "T2.0 T2.1 S2.0 S2.1 T2.2 T2.3 S2.2 S2.3 "},
    {1.0,  // I = 4
     "T0.0 T0.1 T0.2 T0.3 S0.0 S0.1 S0.2 S0.3 T1.0 T1.1 T1.2 T1.3 S1.0 S1.1 S1.2 S1.3 "
     "T2.0 T2.1 T2.2 T2.3 S2.0 S2.1 S2.2 S2.3 "},
    {1.5,  // I = 6: replays after global steps 5 and 11
     "T0.0 T0.1 T0.2 T0.3 T1.0 T1.1 S0.0 S0.1 S0.2 S0.3 S1.0 S1.1 "
     "T1.2 T1.3 T2.0 T2.1 T2.2 T2.3 S1.2 S1.3 S2.0 S2.1 S2.2 S2.3 "},
    {1.25,  // I = 5: replays after global steps 4 and 9; the last two batches are flushed at the end
     "T0.0 T0.1 T0.2 T0.3 T1.0 S0.0 S0.1 S0.2 S0.3 S1.0 T1.1 T1.2 T1.3 T2.0 T2.1 S1.1 S1.2 S1.3 S2.0 S2.1 "
     "T2.2 T2.3 S2.2 S2.3 "},
};

// A small, fast run: 64 training images in 4 steps of 16, 100 test images, resnet8s.
KdRunConfig small_run(Mode mode, double s, int64_t epochs = 3) {
  KdRunConfig c;
  c.mode = mode;
  c.s = s;
  c.teacher_model = "resnet8";
  c.student_model = "resnet8";
  c.train.epochs = epochs;
  c.train.batch = 16;
  c.train.eval_batch = 100;
  c.train.subset = 64;
  c.train.test_subset = 100;
  c.train.device = DeviceRequest::cpu;
  c.train.seed = 7;
  return c;
}

train::RunHooks quiet() {
  train::RunHooks hooks;
  hooks.log = nullptr;
  return hooks;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  return std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

// The name of the first tensor two checkpoints hold differently, "" when none.
std::string first_tensor_difference_of(const std::string& a, const std::string& b) {
  nn::SafetensorsFile x = nn::load_safetensors(a), y = nn::load_safetensors(b);
  if (x.tensors.size() != y.tensors.size()) return "(the tensor count)";
  for (size_t i = 0; i < x.tensors.size(); ++i)
    if (x.tensors[i].first != y.tensors[i].first || !bitwise_equal(x.tensors[i].second, y.tensors[i].second))
      return x.tensors[i].first;
  return "";
}

}  // namespace

TEST_CASE("the replay interval is round(s * steps_per_epoch)", "[distill][schedule]") {
  CHECK(replay_interval(0.0, 391) == 0);
  CHECK(replay_interval(1.5, 391) == 587);  // 586.5 rounds up
  CHECK(replay_interval(1.5, 10) == 15);
  CHECK(replay_interval(0.5, 4) == 2);
  CHECK(replay_interval(1.25, 4) == 5);
  CHECK(replay_interval(0.01, 4) == 1);  // never shorter than one step
  CHECK_THROWS_AS(SpacedSchedule(-1.0, 4), ValueError);
  CHECK_THROWS_AS(SpacedSchedule(1.0, 0), ValueError);
  CHECK_THAT(message_of<ValueError>([] { SpacedSchedule(std::nan(""), 4); }), Contains("space interval s"));
}

TEST_CASE("the schedule's events equal the hand-written sequences", "[distill][schedule]") {
  for (const auto& [s, expected] : kExpectedEvents) {
    INFO("s = " << s);
    CHECK(schedule_events(s, 4, 3) == expected);
  }
  SpacedSchedule online(0.0, 4);
  CHECK(online.online());
  CHECK(online.teacher_stepped({0, 2}) == std::vector<BatchRef>{{0, 2}});
  CHECK(online.pending().empty());
}

TEST_CASE("the replay buffer round-trips through its checkpoint state", "[distill][schedule]") {
  SpacedSchedule a(1.5, 4);
  for (int64_t t = 0; t < 4; ++t) a.teacher_stepped({0, t});
  SpacedSchedule b(1.5, 4);
  b.load_state(nlohmann::json::parse(a.state().dump()));
  CHECK(b.pending() == a.pending());
  CHECK(b.teacher_stepped({1, 0}).empty());
  CHECK(b.teacher_stepped({1, 1}).size() == 6);
  CHECK_THROWS_AS(b.load_state(nlohmann::json::parse("[[0, 9]]")), ValueError);  // step beyond the epoch
  CHECK_THROWS_AS(b.load_state(nlohmann::json::parse("{\"a\": 1}")), ValueError);
  CHECK_THROWS_AS(b.load_state(nlohmann::json::parse("[[0,0],[0,1],[0,2],[0,3],[1,0],[1,1],[1,2]]")), ValueError);
}

TEST_CASE("run_kd follows the schedule; replayed batches are bitwise the teacher's", "[distill][run]") {
  for (const auto& [s, expected] : kExpectedEvents) {
    INFO("s = " << s);
    std::string events;
    std::map<std::pair<uint64_t, int64_t>, std::vector<Tensor>> seen;  // images, labels, indices
    int64_t mismatches = 0;
    train::RunHooks hooks = quiet();
    hooks.on_step = [&](const train::StepEvent& e) {
      events += event_name(e.role, e.batch) + " ";
      auto key = std::make_pair(e.batch.epoch, e.batch.step);
      if (e.role == train::Role::teacher) {
        seen[key] = {e.data->images.clone(), e.data->labels.clone(), e.data->indices.clone()};
      } else {
        const std::vector<Tensor>& first = seen.at(key);
        if (!bitwise_equal(first[0], e.data->images) || !bitwise_equal(first[1], e.data->labels) ||
            !bitwise_equal(first[2], e.data->indices))
          ++mismatches;
      }
    };
    train::RunResult result = run_kd(small_run(Mode::spaced, s), hooks);
    CHECK(events == expected);
    CHECK(mismatches == 0);
    CHECK(result.teacher_step_losses.size() == 12);
    CHECK(result.student_step_losses.size() == 12);
    int64_t student_steps = 0;
    for (const train::EpochMetrics& m : result.history) student_steps += m.student.steps;
    CHECK(student_steps == 12);
  }
}

TEST_CASE("spaced KD with s = 0 is online KD, step for step", "[distill][run]") {
  for (bool mutual : {false, true}) {
    INFO("mutual " << mutual);
    KdRunConfig online = small_run(Mode::online, 0.0, 2), spaced = small_run(Mode::spaced, 0.0, 2);
    online.mutual = spaced.mutual = mutual;
    train::RunResult a = run_kd(online, quiet()), b = run_kd(spaced, quiet());
    REQUIRE(a.student_step_losses.size() == 8);
    CHECK(a.teacher_step_losses == b.teacher_step_losses);
    CHECK(a.student_step_losses == b.student_step_losses);
    CHECK(a.history.back().student.test_accuracy == b.history.back().student.test_accuracy);
  }
  // And the student of online KD is not the baseline: the KD terms change its steps.
  train::RunResult base = run_kd(small_run(Mode::baseline, 0.0, 1), quiet());
  train::RunResult online = run_kd(small_run(Mode::online, 0.0, 1), quiet());
  CHECK(base.student_step_losses.size() == online.student_step_losses.size());
  CHECK(base.student_step_losses != online.student_step_losses);
}

TEST_CASE("online KD's teacher is the baseline, bitwise: one run serves both rows", "[distill][run]") {
  KdRunConfig base = small_run(Mode::baseline, 0.0, 1), online = small_run(Mode::online, 0.0, 1);
  base.train.bn_recalibrate = online.train.bn_recalibrate = 2;
  REQUIRE(teacher_is_baseline(online));
  train::RunResult b = run_kd(base, quiet()), o = run_kd(online, quiet());
  CHECK(b.student_step_losses == o.teacher_step_losses);
  const RunRecord derived = baseline_from_teacher({o.history, 0, o.host_reads_per_epoch, std::nullopt});
  REQUIRE(derived.history.size() == b.history.size());
  for (size_t e = 0; e < b.history.size(); ++e) {
    const train::ModelMetrics &x = b.history[e].student, &y = derived.history[e].student;
    CHECK(std::memcmp(&x, &y, sizeof x) == 0);  // every figure, to the bit
    CHECK(!derived.history[e].has_teacher());
  }
  // Where the teacher is not the baseline, it is not claimed to be.
  KdRunConfig other = online;
  other.mutual = true;
  CHECK(!teacher_is_baseline(other));
  other = online;
  other.teacher_model = "resnet14";
  CHECK(!teacher_is_baseline(other));
  CHECK(!teacher_is_baseline(small_run(Mode::spaced, 1.5)));
  CHECK(teacher_is_baseline(small_run(Mode::spaced, 0.0)));
}

TEST_CASE("runs sharing one teacher equal the same runs alone, bitwise", "[distill][run][shared]") {
  // Online, and spaced with intervals that replay inside an epoch and across
  // epochs; a spaced follower with the teacher in eval mode for its replays.
  // Two epochs of 4 steps: s = 0.5 replays inside an epoch, s = 1.5 across the
  // boundary and at the end.
  std::vector<KdRunConfig> configs = {small_run(Mode::online, 0.0, 2), small_run(Mode::spaced, 0.5, 2),
                                      small_run(Mode::spaced, 1.5, 2)};
  configs[2].teacher_bn = TeacherBn::eval;
  configs[2].loss.beta = 0;  // and a student without the projector
  const std::string dir = temp_dir("shared");
  std::vector<train::RunResult> alone;
  for (size_t k = 0; k < configs.size(); ++k) {
    configs[k].train.bn_recalibrate = 2;
    KdRunConfig c = configs[k];
    c.train.out_dir = dir + "/alone" + std::to_string(k);
    alone.push_back(run_kd(c, quiet()));
    configs[k].train.out_dir = dir + "/group" + std::to_string(k);
  }
  const std::vector<train::RunResult> group =
      run_kd_group(configs, std::vector<train::RunHooks>(configs.size(), quiet()));
  REQUIRE(group.size() == configs.size());
  for (size_t k = 0; k < configs.size(); ++k) {
    INFO("run " << k);
    CHECK(group[k].student_step_losses == alone[k].student_step_losses);
    CHECK(group[k].teacher_step_losses == alone[k].teacher_step_losses);
    REQUIRE(group[k].history.size() == alone[k].history.size());
    for (size_t e = 0; e < alone[k].history.size(); ++e) {
      const train::EpochMetrics &a = alone[k].history[e], &g = group[k].history[e];
      CHECK(std::memcmp(&a.student, &g.student, sizeof a.student) == 0);
      CHECK(std::memcmp(&a.teacher, &g.teacher, sizeof a.teacher) == 0);  // the follower's own BN statistics
    }
    CHECK(first_tensor_difference_of(alone[k].checkpoint, group[k].checkpoint) == "");
  }
  // A group stopped after its first epoch resumes together and ends where it ends uninterrupted.
  std::vector<KdRunConfig> split = configs;
  std::vector<train::RunHooks> stop(split.size(), quiet());
  for (size_t k = 0; k < split.size(); ++k) {
    split[k].train.out_dir = dir + "/split" + std::to_string(k);
    stop[k].stop_after_epoch = 1;
  }
  const std::vector<train::RunResult> first = run_kd_group(split, stop);
  for (size_t k = 0; k < split.size(); ++k) split[k].train.resume = first[k].checkpoint;
  std::filesystem::copy_file(first[1].checkpoint, dir + "/after_epoch_1.safetensors");
  const std::vector<train::RunResult> rest =
      run_kd_group(split, std::vector<train::RunHooks>(split.size(), quiet()));
  for (size_t k = 0; k < split.size(); ++k) {
    INFO("resumed run " << k);
    CHECK(first_tensor_difference_of(rest[k].checkpoint, alone[k].checkpoint) == "");
    CHECK(std::memcmp(&rest[k].history.back().teacher, &alone[k].history.back().teacher,
                      sizeof(train::ModelMetrics)) == 0);
  }
  // One run's checkpoint from another epoch: the group cannot resume together.
  split[1].train.resume = dir + "/after_epoch_1.safetensors";
  CHECK_THROWS_AS(run_kd_group(split, std::vector<train::RunHooks>(split.size(), quiet())), ConfigError);

  // The spaced teachers' statistics do differ from the online one's: the followers keep their own.
  CHECK(alone[1].history.back().teacher.test_loss != alone[0].history.back().teacher.test_loss);

  KdRunConfig mutual = configs[0];
  mutual.mutual = true;
  CHECK(!can_share_teacher(configs[0], mutual));
  KdRunConfig other_seed = configs[1];
  other_seed.train.seed = 8;
  CHECK(!can_share_teacher(configs[0], other_seed));
  CHECK(can_share_teacher(configs[0], configs[2]));
  CHECK_THROWS_AS(run_kd_group({configs[0], other_seed}, {quiet(), quiet()}), ConfigError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a run resumed in the middle of an interval continues exactly", "[distill][resume]") {
  std::string whole_dir = temp_dir("whole"), split_dir = temp_dir("split");
  KdRunConfig config = small_run(Mode::spaced, 1.5, 3);  // after epoch 1 the buffer holds epoch 0's 4 batches
  config.train.out_dir = whole_dir;
  train::RunResult whole = run_kd(config, quiet());

  config.train.out_dir = split_dir;
  train::RunHooks stop = quiet();
  stop.stop_after_epoch = 1;
  train::RunResult first = run_kd(config, stop);
  REQUIRE(first.history.size() == 1);
  CHECK(first.history[0].student.steps == 0);  // nothing replayed yet: the interval is 6 steps
  config.train.resume = first.checkpoint;
  train::RunResult rest = run_kd(config, quiet());

  std::vector<float> teacher = first.teacher_step_losses, student = first.student_step_losses;
  teacher.insert(teacher.end(), rest.teacher_step_losses.begin(), rest.teacher_step_losses.end());
  student.insert(student.end(), rest.student_step_losses.begin(), rest.student_step_losses.end());
  CHECK(teacher == whole.teacher_step_losses);
  CHECK(student == whole.student_step_losses);
  REQUIRE(rest.history.size() == 3);
  CHECK(rest.history.back().student.test_accuracy == whole.history.back().student.test_accuracy);

  // Stopped (Ctrl-C) inside epoch 2 with replays pending: the step records
  // and the buffer go into the checkpoint, and the run continues exactly.
  std::string stop_dir = temp_dir("stop");
  config.train.out_dir = stop_dir;
  config.train.resume.clear();
  int64_t teacher_steps = 0;
  train::RunHooks stop_inside = quiet();
  stop_inside.on_step = [&](const train::StepEvent& e) {
    if (e.role == train::Role::teacher && ++teacher_steps == 7) train::request_stop();  // epoch 2, step 3 of 4
  };
  train::RunResult stopped = run_kd(config, stop_inside);
  CHECK(stopped.interrupted);
  REQUIRE(stopped.history.size() == 1);
  config.train.resume = stopped.checkpoint;
  train::RunResult continued = run_kd(config, quiet());
  teacher = stopped.teacher_step_losses, student = stopped.student_step_losses;
  teacher.insert(teacher.end(), continued.teacher_step_losses.begin(), continued.teacher_step_losses.end());
  student.insert(student.end(), continued.student_step_losses.begin(), continued.student_step_losses.end());
  CHECK(teacher == whole.teacher_step_losses);
  CHECK(student == whole.student_step_losses);
  REQUIRE(continued.history.size() == 3);
  CHECK(continued.history.back().student.test_accuracy == whole.history.back().student.test_accuracy);
  CHECK(continued.history[1].teacher.train_loss == whole.history[1].teacher.train_loss);
  std::filesystem::remove_all(stop_dir);

  config.train.out_dir = split_dir;
  config.train.resume = first.checkpoint;
  KdRunConfig other = config;
  other.s = 1.0;
  CHECK_THAT(message_of<ValueError>([&] { run_kd(other, quiet()); }), Contains("was written by a run with s 1.5, this run has 1.0"));
  std::filesystem::remove_all(whole_dir);
  std::filesystem::remove_all(split_dir);
}

TEST_CASE("offline KD distills from a frozen teacher loaded from a checkpoint", "[distill][run]") {
  std::string dir = temp_dir("offline");
  std::filesystem::create_directories(dir);
  // A teacher file as `train` writes it: the model under bare names plus optimizer state.
  manual_seed(3);
  auto teacher = nn::make_model("resnet8", 1, 10);
  SgdConfig sgd;
  sgd.lr = 0.1, sgd.momentum = 0.9;
  optim::SGD optimizer(teacher->parameters(), sgd);
  train::save_checkpoint(dir + "/teacher.safetensors", {{{"", teacher.get()}}, {{"optimizer", &optimizer}}},
                      nlohmann::json::object());
  KdRunConfig config = small_run(Mode::offline, 0.0, 1);
  config.teacher_checkpoint = dir + "/teacher.safetensors";
  train::RunResult result = run_kd(config, quiet());

  data::DeviceDataset test_data(
      data::first_samples(data::load_dataset("fashion-mnist", "", false), 100),
      Device::cpu());
  data::Loader loader = data::Loader::evaluation(test_data, 100, data::dataset_spec("fashion-mnist").test_augment());
  train::Evaluation expected = train::evaluate(*teacher, loader, [&](const Tensor& x) { return teacher->forward(x).logits; });
  CHECK(result.history[0].teacher.test_accuracy == expected.accuracy);
  CHECK(result.teacher_step_losses.empty());  // the teacher does not train
  CHECK(result.student_step_losses.size() == 4);

  config.teacher_model = "resnet14";
  CHECK_THAT(message_of<ConfigError>([&] { run_kd(config, quiet()); }),
             StartsWith("spaced_kd: teacher_checkpoint " + config.teacher_checkpoint + " is not a resnet14") &&
                 Contains("layer1.1"));
  // A teacher trained on 100 classes does not fit a 10-class dataset: the message names the tensor.
  manual_seed(3);
  auto wide = nn::make_model("resnet8", 1, 100);
  train::save_checkpoint(dir + "/teacher100.safetensors", {{{"", wide.get()}}, {}}, nlohmann::json::object());
  config.teacher_model = "resnet8";
  config.teacher_checkpoint = dir + "/teacher100.safetensors";
  CHECK_THAT(message_of<ConfigError>([&] { run_kd(config, quiet()); }),
             Contains("does not fit teacher_model resnet8 on this dataset") && Contains("[100, "));
  std::filesystem::remove_all(dir);
}

TEST_CASE("self KD and spaced self KD train the multi-exit network", "[distill][run]") {
  train::RunResult online = run_kd(small_run(Mode::self, 0.0, 1), quiet());
  CHECK(online.student_step_losses.size() == 4);
  CHECK(online.teacher_step_losses.empty());
  std::string events;
  train::RunHooks hooks = quiet();
  hooks.on_step = [&](const train::StepEvent& e) { events += event_name(e.role, e.batch) + " "; };
  train::RunResult spaced = run_kd(small_run(Mode::spaced_self, 0.5, 1), hooks);
  CHECK(events == "T0.0 T0.1 S0.0 S0.1 T0.2 T0.3 S0.2 S0.3 ");
  CHECK(spaced.teacher_step_losses.size() == 4);  // the deepest exit's CE
  CHECK(spaced.student_step_losses.size() == 4);  // the shallow exits' distillation
  for (float v : spaced.student_step_losses) CHECK(std::isfinite(v));
  CHECK(std::isnan(spaced.history[0].teacher.test_accuracy));
  // The exits' ensemble is scored next to the deepest exit; a single-exit model has none.
  for (const train::RunResult* r : {&online, &spaced}) {
    const double ensemble = r->history[0].student.test_accuracy_ensemble;
    CHECK(ensemble >= 0);
    CHECK(ensemble <= 100);
  }
  CHECK(std::isnan(run_kd(small_run(Mode::baseline, 0.0, 1), quiet()).history[0].student.test_accuracy_ensemble));
}

TEST_CASE("bad configurations are named", "[distill][errors]") {
  // The field a ConfigError names, and its message.
  auto config_error = [](const KdRunConfig& c) -> std::pair<std::string, std::string> {
    try {
      run_kd(c, quiet());
    } catch (const ConfigError& e) {
      return {e.field(), e.what()};
    }
    return {"(no ConfigError)", ""};
  };
  KdRunConfig c = small_run(Mode::spaced, 1.5);
  c.mutual = true;
  CHECK(config_error(c).first == "mutual");
  CHECK_THAT(config_error(c).second, StartsWith("spaced_kd: mutual needs online KD"));
  c = small_run(Mode::offline, 0.0);
  CHECK(config_error(c).first == "teacher_checkpoint");
  c.teacher_checkpoint = "/nonexistent/teacher.safetensors";
  CHECK_THROWS_AS(run_kd(c, quiet()), IOError);
  CHECK(message_of<ConfigError>([] { parse_teacher_bn("frozen"); }) ==
        "spaced_kd: teacher_bn must be train or eval, got \"frozen\"");
  c = small_run(Mode::spaced, -1.0);
  CHECK(config_error(c).first == "s");
  CHECK_THAT(config_error(c).second, Contains("s must be >= 0"));
  c = small_run(Mode::online, 0.0);
  c.teacher_model = "resnet21";
  CHECK(config_error(c).first == "teacher_model");
  CHECK_THAT(config_error(c).second, Contains("\"resnet21\" is not in the model zoo"));
  c = small_run(Mode::self, 0.0);
  c.student_model = "vgg11";
  CHECK_THAT(message_of<ValueError>([&] { run_kd(c, quiet()); }), Contains("vgg11"));
  c = small_run(Mode::baseline, 0.0);
  c.train.subset = 8;
  CHECK(config_error(c).first == "batch");
  CHECK_THAT(config_error(c).second, Contains("batch must be at most the 8 training images, got 16"));
  c = small_run(Mode::spaced, 1.5);
  c.train.weight_decay = -1;
  CHECK(config_error(c).first == "weight_decay");
  CHECK_THAT(message_of<ValueError>([] { parse_mode("distill"); }), Contains("baseline, offline, online, spaced"));
  CHECK(parse_mode("spaced-self") == Mode::spaced_self);
}

TEST_CASE("a short Spaced KD run trains teacher and student well above chance", "[distill][e2e]") {
  KdRunConfig c = small_run(Mode::spaced, 1.0, 3);
  c.train.subset = 2048;
  c.train.test_subset = 500;
  c.train.batch = 64;
  c.train.lr = 0.05;
  train::RunResult result = run_kd(c, quiet());
  const train::EpochMetrics& last = result.history.back();
  std::printf("test_distill: spaced KD (s = 1, 3 epochs of 2048 images): teacher %.1f %%, student %.1f %%\n",
              last.teacher.test_accuracy, last.student.test_accuracy);
  CHECK(last.teacher.test_accuracy > 60.0);  // chance is 10 %
  CHECK(last.student.test_accuracy > 60.0);
  CHECK(result.host_reads_per_epoch == 6);
}
