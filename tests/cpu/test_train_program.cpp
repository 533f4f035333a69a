// The run loop's pieces that need no training: configuration checks,
// device and data-folder resolution, the progress line and the metrics files
// (CSV, JSON, SVG). tests/cpu/test_programs.cpp runs the programs themselves.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/dataset.h"
#include "data/idx.h"
#include "nn/safetensors.h"
#include "tests/support/checks.h"
#include "train/baseline.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/run.h"

using namespace engram;
using namespace engram::train;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

using engram::testing::message_of;

namespace {

EpochMetrics epoch(int64_t n, double train_loss, double train_acc, double test_loss, double test_acc, double lr,
                   double seconds) {
  EpochMetrics m;
  m.epoch = n;
  m.lr = lr;
  m.seconds = seconds;
  m.student.train_loss = train_loss;
  m.student.train_accuracy = train_acc;
  m.student.test_loss = test_loss;
  m.student.test_accuracy = test_acc;
  return m;
}

std::vector<EpochMetrics> sample_history() {
  return {epoch(1, 0.9, 70.0, 0.8, 72.5, 0.1, 10.0), epoch(2, 0.5, 82.0, 0.55, 84.0, 0.05, 11.0),
          epoch(3, 0.4, 86.0, 0.5, 83.0, 0.01, 12.5)};
}

// The field a ConfigError names, and its message.
std::pair<std::string, std::string> config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return {e.field(), e.what()};
  }
  return {"(no ConfigError)", ""};
}

}  // namespace

TEST_CASE("validate names the offending field and what it got", "[train][config]") {
  TrainConfig ok;
  CHECK_NOTHROW(validate(ok));
  struct Bad {
    std::function<void(TrainConfig&)> change;
    std::string field, message;
  };
  std::vector<Bad> cases = {
      {[](TrainConfig& c) { c.epochs = 0; }, "epochs", "train: epochs must be at least 1, got 0"},
      {[](TrainConfig& c) { c.batch = -4; }, "batch", "train: batch must be at least 1, got -4"},
      {[](TrainConfig& c) { c.eval_batch = 0; }, "eval_batch", "train: eval_batch must be at least 1, got 0"},
      {[](TrainConfig& c) { c.lr = 0; }, "lr", "train: lr must be > 0, got 0"},
      {[](TrainConfig& c) { c.momentum = 1.5; }, "momentum", "train: momentum must be in [0, 1), got 1.5"},
      {[](TrainConfig& c) { c.nesterov = true, c.momentum = 0; }, "nesterov", "train: nesterov needs optimizer sgd"},
      {[](TrainConfig& c) { c.weight_decay = -1; }, "weight_decay", "train: weight_decay must be >= 0, got -1"},
      {[](TrainConfig& c) { c.gamma = 0; }, "gamma", "train: gamma must be > 0, got 0"},
      {[](TrainConfig& c) { c.warmup_epochs = 30; }, "warmup_epochs",
       "train: warmup_epochs must be in [0, epochs = 30), got 30"},
      {[](TrainConfig& c) { c.schedule = ScheduleKind::multistep; }, "milestones",
       "train: milestones must not be empty for the multistep schedule"},
      {[](TrainConfig& c) {
         c.schedule = ScheduleKind::multistep, c.milestones = {20, 10};
       },
       "milestones", "train: milestones must increase and not fall inside the warm-up, got 10 at position 2"},
      {[](TrainConfig& c) { c.subset = -1; }, "subset", "train: subset must be >= 0, got -1"},
      {[](TrainConfig& c) { c.test_subset = -1; }, "test_subset", "train: test_subset must be >= 0, got -1"},
      {[](TrainConfig& c) { c.bn_recalibrate = -2; }, "bn_recalibrate", "train: bn_recalibrate must be >= 0"},
  };
  for (const Bad& bad : cases) {
    TrainConfig config;
    bad.change(config);
    INFO(bad.message);
    auto [field, message] = config_error_of([&] { validate(config); });
    CHECK(field == bad.field);
    CHECK_THAT(message, StartsWith(bad.message));
  }
  CHECK(config_error_of([] { parse_optimizer("lion"); }).second == "train: optimizer must be sgd or adamw, got \"lion\"");
  CHECK_THAT(config_error_of([] { parse_schedule("step"); }).second,
             StartsWith("train: schedule must be constant, multistep or cosine"));
  CHECK(config_error_of([] { parse_device_request("tpu"); }).first == "device");
}

TEST_CASE("run rejects a bad model, dataset, device or subset before training", "[train][config]") {
  TrainConfig config;
  config.device = DeviceRequest::cpu;
  config.out_dir =
      (std::filesystem::temp_directory_path() / ("engram_test_train_program_" + std::to_string(getpid()))).string();
  RunHooks quiet;
  quiet.log = nullptr;
  BaselineStrategy resnet20("resnet20");

  BaselineStrategy typo("resnet21");
  auto [field, message] = config_error_of([&] { run(config, typo, quiet); });
  CHECK(field == "model");
  CHECK_THAT(message, StartsWith("train: model \"resnet21\" is not in the model zoo") && Contains("resnet20"));
  TrainConfig c = config;
  c.dataset = "imagenet";
  CHECK_THAT(message_of<ValueError>([&] { run(c, resnet20, quiet); }), Contains("imagenet") && Contains("cifar100"));
  c = config;
  c.dataset = "cifar10";
  c.data_dir = config.out_dir + "/no-cifar-here";
  CHECK_THROWS_AS(run(c, resnet20, quiet), IOError);  // the reader names the missing file
  c = config;
  c.subset = 60001;
  std::tie(field, message) = config_error_of([&] { run(c, resnet20, quiet); });
  CHECK(field == "subset");
  CHECK_THAT(message, StartsWith("train: subset must be at most the 60000 training images of fashion-mnist, got 60001"));
  c = config;
  c.subset = 100;
  std::tie(field, message) = config_error_of([&] { run(c, resnet20, quiet); });
  CHECK(field == "batch");
  CHECK_THAT(message, StartsWith("train: batch must be at most the 100 training images, got 128"));
  CHECK_FALSE(std::filesystem::exists(config.out_dir));  // nothing was written

  // An output folder that cannot be written fails before the first step.
  int64_t steps = 0;
  RunHooks counting = quiet;
  counting.on_step = [&](const StepEvent&) { ++steps; };
  c = config;
  c.out_dir = "/proc/engram-cannot-create-this";
  CHECK_THAT(message_of<IOError>([&] { run(c, resnet20, counting); }),
             StartsWith("train: cannot create folder /proc/engram-cannot-create-this"));
  c.out_dir = "/proc";
  CHECK_THAT(message_of<IOError>([&] { run(c, resnet20, counting); }),
             StartsWith("train: cannot write into the output folder /proc"));
  CHECK(steps == 0);
  std::filesystem::remove_all(config.out_dir);
}

TEST_CASE("devices and default data folders", "[train][config]") {
  CHECK(resolve_device(DeviceRequest::cpu, "train") == Device::cpu());
  CHECK(resolve_device(DeviceRequest::automatic, "train") == (cuda_available() ? Device::cuda() : Device::cpu()));
  if (!cuda_available())
    CHECK_THAT(message_of<DeviceError>([&] { resolve_device(DeviceRequest::cuda, "train"); }),
               StartsWith("train: device cuda"));
  CHECK(parse_device_request("auto") == DeviceRequest::automatic);
  CHECK(parse_device_request("cuda") == DeviceRequest::cuda);
  CHECK(data::default_data_dir("fashion-mnist") == data::default_fashion_mnist_dir());
  CHECK(data::default_data_dir("cifar10") == "datasets/cifar-10-batches-bin");
  CHECK(data::default_data_dir("cifar100") == "datasets/cifar-100-binary");
  CHECK(data::default_data_dir("tiny-imagenet") == "datasets/tiny-imagenet-200");
  CHECK(data::dataset_spec("cifar10").default_dir == "datasets/cifar-10-batches-bin");
  CHECK_THROWS_AS(data::default_data_dir("svhn"), ValueError);
}

TEST_CASE("progress lines and durations", "[train][progress]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(65.4) == "1:05");
  CHECK(format_duration(3600 * 12 + 3) == "12:00:03");
  CHECK(format_duration(NAN) == "?");
  CHECK(ProgressBar::format_line("epoch 3/30", 234, 468, 0.41234, 5120.4, 12.2, true) ==
        "epoch 3/30 [##########..........] 234/468  loss 0.4123  5120 img/s  ETA 0:12");
  CHECK(ProgressBar::format_line("epoch 1/2", 5, 468, 2.0, 10, 90, false) ==
        "epoch 1/2   5/468  loss 2.0000  10 img/s  ETA 1:30");
}

TEST_CASE("a plain progress bar prints about every 10 % and reads the loss only then", "[train][progress]") {
  char path[] = "/tmp/engram_progress_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::FILE* out = fdopen(fd, "w+");
  int reads = 0;
  {
    ProgressBar bar(out, /*interactive=*/false, "epoch 1/1", 50, 8);
    for (int64_t step = 1; step <= 50; ++step) bar.update(step, [&] { return ++reads, 1.0; });
    bar.finish("done");
  }
  std::fclose(out);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::remove(path);
  CHECK(reads == 10);  // steps 5, 10, ..., 50
  REQUIRE(lines.size() == 11);
  CHECK_THAT(lines[0], StartsWith("epoch 1/1  5/50"));
  CHECK_THAT(lines[9], StartsWith("epoch 1/1 50/50"));
  CHECK(lines[10] == "done");
}

TEST_CASE("axis ticks are round numbers covering the range", "[train][metrics]") {
  CHECK(nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  std::vector<double> t = nice_ticks(83.2, 100);
  CHECK(t.front() == 80);
  CHECK(t.back() == 100);
  CHECK(t.size() == 5);
  t = nice_ticks(0, 2.37);
  CHECK(t.front() == 0);
  CHECK(t.back() >= 2.37);
  CHECK(t.back() - t[t.size() - 2] == Approx(0.5));
  CHECK(nice_ticks(5, 5).size() >= 2);  // an empty range still gets an axis
}

TEST_CASE("metrics files: CSV rows, JSON summary, SVG curves", "[train][metrics]") {
  std::vector<EpochMetrics> history = sample_history();
  CHECK(best_epoch(history).epoch == 2);
  CHECK_THROWS_AS(best_epoch({}), ValueError);
  CHECK(metrics_csv(history) ==
        "epoch,train_loss,train_acc,test_loss,test_acc,test_acc_bn_recal,lr,seconds\n"
        "1,0.900000,70.0000,0.800000,72.5000,,0.1,10.000\n"
        "2,0.500000,82.0000,0.550000,84.0000,,0.05,11.000\n"
        "3,0.400000,86.0000,0.500000,83.0000,,0.01,12.500\n");
  std::vector<EpochMetrics> recalibrated = history;
  recalibrated[0].student.test_accuracy_bn_recal = 75.25;
  CHECK(metrics_csv(recalibrated).find("\n1,0.900000,70.0000,0.800000,72.5000,75.2500,0.1,10.000\n") !=
        std::string::npos);
  CHECK(epoch_metrics_from_json(metrics_json(recalibrated)["epochs"][0]).student.test_accuracy_bn_recal == 75.25);
  // A multi-exit model's ensemble accuracy gets its column, and only then.
  std::vector<EpochMetrics> ensemble = history;
  ensemble[0].student.test_accuracy_ensemble = 74.5;
  CHECK(metrics_csv(ensemble).find("test_acc_bn_recal,test_acc_ensemble,lr") != std::string::npos);
  CHECK(metrics_csv(ensemble).find("\n1,0.900000,70.0000,0.800000,72.5000,,74.5000,0.1,10.000\n") != std::string::npos);
  CHECK(epoch_metrics_from_json(metrics_json(ensemble)["epochs"][0]).student.test_accuracy_ensemble == 74.5);
  CHECK(std::isnan(epoch_metrics_from_json(metrics_json(ensemble)["epochs"][1]).student.test_accuracy_ensemble));
  CHECK(!metrics_json(history)["epochs"][0].contains("test_acc_ensemble"));
  CHECK(std::isnan(epoch_metrics_from_json(metrics_json(recalibrated)["epochs"][1]).student.test_accuracy_bn_recal));
  nlohmann::ordered_json json = metrics_json(history);
  CHECK(json["best_epoch"] == 2);
  CHECK(json["best_test_acc"] == 84.0);
  CHECK(json["last_test_acc"] == 83.0);
  REQUIRE(json["epochs"].size() == 3);
  CHECK(epoch_metrics_from_json(json["epochs"][2]).student.test_accuracy == 83.0);
  CHECK(epoch_metrics_from_json(json["epochs"][2]).seconds == 12.5);

  std::string svg = metrics_svg(history, "resnet <20> & co");
  CHECK_THAT(svg, StartsWith("<svg xmlns='http://www.w3.org/2000/svg'"));
  CHECK_THAT(svg, Contains("resnet &lt;20&gt; &amp; co"));
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++polylines;
  CHECK(polylines == 4);  // train/test loss, train/test accuracy
  CHECK_THAT(svg, Contains(">epoch</text>") && Contains(">loss</text>") && Contains(">accuracy (%)</text>"));
  CHECK_THAT(svg, Contains(">test accuracy</text>"));
  CHECK(svg.find("nan") == std::string::npos);

  auto dir = std::filesystem::temp_directory_path() / ("engram_test_metrics_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  write_metrics_files((dir / "nested").string(), history, "t");
  for (const char* name : {"metrics.csv", "metrics.json", "metrics.svg"}) {
    INFO(name);
    CHECK(std::filesystem::file_size(dir / "nested" / name) > 0);
    CHECK_FALSE(std::filesystem::exists(dir / "nested" / (std::string(name) + ".tmp")));
  }
  std::ifstream csv(dir / "nested" / "metrics.csv");
  std::stringstream text;
  text << csv.rdbuf();
  CHECK(text.str() == metrics_csv(history));
  std::filesystem::remove_all(dir);
  CHECK_THAT(message_of<IOError>([&] { write_metrics_files("/proc/engram-cannot-write-here", history, "t"); }),
             StartsWith("write_metrics_files: cannot create folder /proc/engram-cannot-write-here"));
}
