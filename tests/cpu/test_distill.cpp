// distill/: the Spaced KD schedule, the student's KD objective, and run_kd's
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
#include "distill/kd_run.h"
#include "distill/losses.h"
#include "distill/spaced.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
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

// A projector with given f64 weights, so that the objective can be checked in double.
class FixedProjector : public nn::Layer {
 public:
  FixedProjector(Tensor w1, Tensor b1, Tensor w2, Tensor b2) : w1_(w1), b1_(b1), w2_(w2), b2_(b2) {}
  Tensor forward(const Tensor& x) override { return linear(relu(linear(x, w1_, b1_)), w2_, b2_); }

 private:
  Tensor w1_, b1_, w2_, b2_;
};

std::vector<double> softmax_row(const std::vector<double>& z, double T) {
  double m = *std::max_element(z.begin(), z.end()), sum = 0;
  std::vector<double> p(z.size());
  for (size_t j = 0; j < z.size(); ++j) sum += p[j] = std::exp((z[j] - m) / T);
  for (double& v : p) v /= sum;
  return p;
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

TEST_CASE("the KD objective equals its closed form (standard and reference KL)", "[distill][loss]") {
  const std::vector<double> s = {2.0, 0.5, -1.0, 0.1, 0.2, 0.3}, t = {1.0, 1.5, -0.5, -2.0, 0.0, 2.0};
  const std::vector<int32_t> y = {0, 2};
  const std::vector<double> fs = {0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25};                       // [2, 4]
  const std::vector<double> ft = {0.3, -0.2, 1.0, 0.0, 0.5, -1.0};                                  // [2, 3]
  const std::vector<double> w1 = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 0.1, 0.2, -0.3};  // [3, 4]
  const std::vector<double> b1 = {0.05, -0.1, 0.2};
  const std::vector<double> w2 = {0.3, -0.1, 0.2, 0.5, 0.4, -0.6, -0.2, 0.1, 0.7};  // [3, 3]
  const std::vector<double> b2 = {0.0, 0.1, -0.1};
  const double alpha = 0.3, T = 3.0, beta = 0.03;

  // Independent double loops.
  double ce = 0, kl = 0, kl_ref = 0, squares = 0;
  for (int i = 0; i < 2; ++i) {
    std::vector<double> zs(s.begin() + 3 * i, s.begin() + 3 * i + 3), zt(t.begin() + 3 * i, t.begin() + 3 * i + 3);
    std::vector<double> p = softmax_row(zs, 1.0), r = softmax_row(zs, T), q = softmax_row(zt, T);
    ce += -std::log(p[y[i]]) / 2;
    for (int j = 0; j < 3; ++j) {
      kl += T * T * q[j] * (std::log(q[j]) - std::log(r[j])) / 2;
      kl_ref += T * T * q[j] * (std::log(q[j]) - r[j]) / 2;
    }
    std::vector<double> h(3);
    for (int k = 0; k < 3; ++k) {
      double v = b1[k];
      for (int j = 0; j < 4; ++j) v += w1[4 * k + j] * fs[4 * i + j];
      h[k] = std::max(v, 0.0);
    }
    for (int k = 0; k < 3; ++k) {
      double v = b2[k];
      for (int j = 0; j < 3; ++j) v += w2[3 * k + j] * h[j];
      squares += (v - ft[3 * i + k]) * (v - ft[3 * i + k]);
    }
  }
  const double distance = std::sqrt(squares);

  auto f64 = [](const std::vector<double>& v, Shape shape) { return Tensor::from_vector<double>(v, shape); };
  nn::ModelOutput student{f64(fs, {2, 4}), f64(s, {2, 3})}, teacher{f64(ft, {2, 3}), f64(t, {2, 3})};
  Tensor labels = Tensor::from_vector<int32_t>(y, {2});
  FixedProjector projector(f64(w1, {3, 4}), f64(b1, {3}), f64(w2, {3, 3}), f64(b2, {3}));
  KdLossConfig config;
  config.alpha = alpha;
  config.temperature = T;
  config.beta = beta;

  CHECK(kd_student_loss(student, labels, nullptr, nullptr, config).item<double>() == Approx(ce).epsilon(1e-12));
  CHECK(kd_student_loss(student, labels, &teacher, &projector, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl + beta * distance).epsilon(1e-12));
  config.kl_form = KLForm::reference_compat;
  CHECK(kd_student_loss(student, labels, &teacher, &projector, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl_ref + beta * distance).epsilon(1e-12));
  config.beta = 0;
  CHECK(kd_student_loss(student, labels, &teacher, nullptr, config).item<double>() ==
        Approx((1 - alpha) * ce + alpha * kl_ref).epsilon(1e-12));

  // Mutual learning: the teacher's CE plus KD toward the student.
  double ce_t = 0, kl_t = 0;
  for (int i = 0; i < 2; ++i) {
    std::vector<double> zs(s.begin() + 3 * i, s.begin() + 3 * i + 3), zt(t.begin() + 3 * i, t.begin() + 3 * i + 3);
    std::vector<double> p = softmax_row(zt, 1.0), r = softmax_row(zt, T), q = softmax_row(zs, T);
    ce_t += -std::log(p[y[i]]) / 2;
    for (int j = 0; j < 3; ++j) kl_t += T * T * q[j] * (std::log(q[j]) - std::log(r[j])) / 2;
  }
  config.kl_form = KLForm::standard;
  CHECK(mutual_teacher_loss(teacher, labels, student, config).item<double>() ==
        Approx((1 - alpha) * ce_t + alpha * kl_t).epsilon(1e-12));
}

TEST_CASE("the KD objective's gradients match central differences; the teacher gets none", "[distill][gradcheck]") {
  for (KLForm form : {KLForm::standard, KLForm::reference_compat}) {
    testing::OpCase op_case;
    op_case.name = std::string("kd_student_loss ") + (form == KLForm::standard ? "standard" : "reference");
    op_case.make_inputs = [](DType dtype, Generator& gen) {
      auto normal = [&](Shape shape) { return random::normal(shape, 0.0, 1.0, gen, dtype).requires_grad_(); };
      // The teacher's logits and features (inputs 2 and 3) are constants: no gradient.
      return std::vector<Tensor>{normal({3, 5}),
                                 normal({3, 4}),
                                 random::normal({3, 5}, 0.0, 1.0, gen, dtype),
                                 random::normal({3, 6}, 0.0, 1.0, gen, dtype),
                                 normal({6, 4}),
                                 normal({6}),
                                 normal({6, 6}),
                                 normal({6}),
                                 Tensor::from_vector<int32_t>({1, 4, 0}, {3})};
    };
    op_case.run = [form](const std::vector<Tensor>& in) {
      nn::ModelOutput student{in[1], in[0]}, teacher{in[3], in[2]};
      FixedProjector projector(in[4], in[5], in[6], in[7]);
      KdLossConfig config;
      config.beta = 0.5;  // large enough that the feature term's gradient is checked sharply
      config.kl_form = form;
      return kd_student_loss(student, in[8], &teacher, &projector, config);
    };
    testing::CheckResult result = testing::gradcheck(op_case);
    INFO(result.report);
    CHECK(result.ok);
  }

  Tensor s = Tensor::zeros({2, 3}).requires_grad_(), fs = Tensor::zeros({2, 3}).requires_grad_();
  Tensor t = Tensor::ones({2, 3}).requires_grad_(), ft = Tensor::ones({2, 3}).requires_grad_();
  nn::ModelOutput student{fs, s}, teacher{ft, t};
  FixedProjector identity(Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}), Tensor::zeros({3}),
                          Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}), Tensor::zeros({3}));
  kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, &identity, KdLossConfig{}).backward();
  CHECK(s.grad().defined());
  CHECK(!t.grad().defined());
  CHECK(!ft.grad().defined());
}

TEST_CASE("the projector maps student features to the teacher's width with PyTorch names", "[distill][loss]") {
  auto projector = make_projector(64, 256);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : projector->named_parameters()) names.push_back(name + shape_str(tensor.shape()));
  CHECK(names == std::vector<std::string>{"0.weight[256, 64]", "0.bias[256]", "2.weight[256, 256]", "2.bias[256]"});
  nn::ModelOutput student{Tensor::zeros({2, 64}), Tensor::zeros({2, 10})};
  nn::ModelOutput teacher{Tensor::zeros({2, 128}), Tensor::zeros({2, 10})};
  CHECK_THAT(
      message_of<ShapeError>([&] {
        kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, projector.get(), KdLossConfig{});
      }),
      Contains("projected student features have shape [2, 256]") && Contains("[2, 128]"));
  CHECK_THAT(message_of<ValueError>([&] {
               kd_student_loss(student, Tensor::from_vector<int32_t>({0, 1}, {2}), &teacher, nullptr, KdLossConfig{});
             }),
             Contains("needs a projector"));
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
  CHECK_THAT(message_of<ValueError>([&] { run_kd(config, quiet()); }), Contains("layer1.1"));
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

TEST_CASE("the worked example of docs/distillation.md", "[distill][loss]") {
  // Values from PyTorch 1.13 autograd in float64 (the doc's table).
  Tensor labels = Tensor::from_vector<int32_t>({0}, {1});
  struct Expected {
    KLForm form;
    bool with_ce;
    double value;
    std::vector<double> grad;
  };
  const std::vector<Expected> cases = {
      {KLForm::standard, false, 0.416355, {0.443359, -0.349653, -0.0937057}},
      {KLForm::reference_compat, false, -12.7424, {-0.00959198, -0.0657698, 0.0753618}},
      {KLForm::standard, true, 0.293825, {-0.0170744, 0.0178073, -0.000732905}},
      {KLForm::reference_compat, true, -3.65380, {-0.152960, 0.102972, 0.0499873}},
  };
  for (const Expected& e : cases) {
    Tensor s = Tensor::from_vector<float>({2.0f, 0.5f, -1.0f}, {1, 3}).requires_grad_();
    Tensor t = Tensor::from_vector<float>({1.0f, 1.5f, -0.5f}, {1, 3});
    Tensor loss = !e.with_ce ? (e.form == KLForm::standard ? kl_div_with_temperature(s, t, 3.0)
                                                           : kl_div_reference_compat(s, t, 3.0))
                             : distill_loss(s, labels, t, 0.3, 3.0, 0.0, Reduction::mean, e.form);
    loss.backward();
    CHECK(loss.item<float>() == Approx(e.value).epsilon(1e-5));
    std::vector<float> grad = s.grad().to_vector<float>();
    for (int j = 0; j < 3; ++j) CHECK(grad[j] == Approx(e.grad[j]).epsilon(1e-4).margin(1e-6));
  }
}
