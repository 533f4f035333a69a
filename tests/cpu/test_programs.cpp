// The programs themselves, run as a user runs them (the built executables of
// examples/): exit codes, errors that name the flag the user typed, the
// presets, the docs' flag and column lists against what the programs accept
// and write, and `train` against `spaced_kd --modes baseline`: one loop, so
// the same metrics and weights, bitwise.
#include <catch2/catch.hpp>
#include <regex>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/programs.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

using namespace engram::testing;

namespace {

// The flags a program's --help lists.
std::set<std::string> help_flags(const std::string& program) {
  Ran help = run_program(program, "--help");
  REQUIRE(help.status == 0);
  std::set<std::string> flags;
  std::regex option(R"(^\s+(?:-\w,)?(--[a-z][a-z-]*))");  // "  --lr FLOAT=0.1 ...", "  -h,--help ..."
  std::istringstream lines(help.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, option) && m[1] != "--help") flags.insert(m[1]);
  }
  return flags;
}

// The flags of the table under `heading` in a doc: every row that starts with a flag.
std::set<std::string> doc_flags(const std::string& doc, const std::string& heading) {
  std::string text = read_file(kSource + "/docs/" + doc);
  size_t at = text.find("\n" + heading + "\n");
  REQUIRE(at != std::string::npos);
  size_t end = text.find("\n#", at + heading.size() + 2);
  std::istringstream lines(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
  std::set<std::string> flags;
  std::regex row(R"(^\| `(--[a-z][a-z-]*))");
  // --help is every program's; a doc may list it or not.
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row) && m[1] != "--help") flags.insert(m[1]);
  }
  return flags;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

TEST_CASE("the programs exit 0 for --help and 1 for bad flags, naming the flag", "[programs]") {
  CHECK(run_program("train", "--help").status == 0);
  CHECK(run_program("train", "--no-such-flag").status == 1);
  CHECK(run_program("train", "--epochs three").status == 1);
  struct Bad {
    std::string program, args, message;
  };
  const std::vector<Bad> cases = {
      {"train", "--lr -1", "error: train: --lr must be > 0, got -1"},
      {"train", "--wd -1", "error: train: --wd must be >= 0, got -1"},
      {"train", "--optimizer rmsprop", "error: train: --optimizer must be sgd or adamw, got \"rmsprop\""},
      {"train", "--warmup 40", "error: train: --warmup must be in [0, epochs = 30), got 40"},
      {"train", "--model resnet21", "error: train: --model \"resnet21\" is not in the model zoo"},
      {"train", "--subset 60001", "error: train: --subset must be at most the 60000 training images of fashion-mnist"},
      {"train", "--out ''", "error: train: --out must name a folder"},
      {"spaced_kd", "--teacher-bn frozen", "error: spaced_kd: --teacher-bn must be train or eval, got \"frozen\""},
      {"spaced_kd", "--modes spaced --mutual", "error: spaced_kd: --mutual needs online KD"},
      {"spaced_kd", "--modes distill", "error: spaced_kd: --modes \"distill\" is not a mode"},
      {"spaced_kd", "--kl forward", "error: spaced_kd: --kl must be standard or reference"},
      {"spaced_kd", "--s -1", "error: spaced_kd: --s must be >= 0 (epochs), got -1"},
  };
  for (const Bad& bad : cases) {
    INFO(bad.program << " " << bad.args);
    Ran ran = run_program(bad.program, bad.args + " --device cpu");
    CHECK(ran.status == 1);
    CHECK_THAT(ran.err, StartsWith(bad.message));
  }
  Ran tpu = run_program("train", "--device tpu");
  CHECK(tpu.status == 1);
  CHECK_THAT(tpu.err, StartsWith("error: train: --device must be auto, cpu or cuda, got \"tpu\""));
}

TEST_CASE("presets carry the usual recipes", "[programs]") {
  Ran cifar = run_program("train_cifar", "--help"), tiny = run_program("train_tiny_imagenet", "--help");
  for (const Ran& r : {cifar, tiny}) {
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Contains("--model TEXT=resnet18") && Contains("--epochs INT=200") &&
                          Contains("--batch INT=128") && Contains("--optimizer TEXT=sgd") &&
                          Contains("--lr FLOAT=0.1") && Contains("--momentum FLOAT=0.9") &&
                          Contains("--wd FLOAT=0.0005") && Contains("--schedule TEXT=cosine"));
  }
  CHECK_THAT(cifar.out, Contains("--dataset TEXT=cifar10"));
  CHECK_THAT(tiny.out, Contains("--dataset TEXT=tiny-imagenet"));
  CHECK_THAT(run_program("train", "--help").out, Contains("--model TEXT=resnet20") && Contains("--epochs INT=30"));
  CHECK_THAT(run_program("spaced_kd", "--help").out, Contains("--lr FLOAT=0.01"));
}

TEST_CASE("the docs list exactly the flags the programs accept", "[programs][docs]") {
  std::set<std::string> train = help_flags("train");
  CHECK(doc_flags("cli.md", "## Flags") == train);
  std::set<std::string> kd = help_flags("spaced_kd");
  CHECK(doc_flags("cli.md", "## Flags of `spaced_kd`") == kd);
  CHECK(doc_flags("cli.md", "## `sharpness`") == help_flags("sharpness"));
  CHECK(train.count("--lr") == 1);  // the parsers above found something

  // The model list of --model's row is the zoo's, as the error for an unknown name lists it.
  std::string cli = read_file(kSource + "/docs/cli.md");
  std::smatch row;
  REQUIRE(std::regex_search(cli, row, std::regex(R"(\| `--model NAME` \| [^|]+\| A model-zoo name: ([^.]+)\.)")));
  std::string documented = std::regex_replace(row[1].str(), std::regex("`"), "");
  std::string zoo = run_program("train", "--model none --device cpu").err;
  REQUIRE(zoo.find("expected one of ") != std::string::npos);
  zoo = zoo.substr(zoo.find("expected one of ") + 16);
  CHECK(documented == zoo.substr(0, zoo.find('\n')));
}

TEST_CASE("train and spaced_kd --modes baseline are one loop: the same metrics and weights, bitwise", "[programs][e2e]") {
  const std::string dir = program_dir("baseline");
  const std::string common =
      " --subset 256 --test-subset 200 --eval-batch 100 --epochs 2 --batch 32 --lr 0.05 --bn-recalibrate 2 --device cpu";
  Ran train = run_program("train", "--model resnet8 --seed 0 --out " + dir + "/train" + common);
  REQUIRE(train.status == 0);
  Ran kd = run_program("spaced_kd", "--modes baseline --seeds 1 --student resnet8 --out " + dir + "/kd" + common);
  REQUIRE(kd.status == 0);
  const std::string a = read_file(dir + "/train/metrics.csv"), b = read_file(dir + "/kd/baseline/seed0/metrics.csv");
  REQUIRE(std::count(a.begin(), a.end(), '\n') == 3);
  CHECK(without_seconds(a) == without_seconds(b));

  CHECK(first_tensor_difference(dir + "/train/last.safetensors", dir + "/kd/baseline/seed0/last.safetensors") == "");

  // docs/cli.md's metrics.csv columns are the header the program wrote.
  std::string cli = read_file(kSource + "/docs/cli.md");
  std::smatch m;
  REQUIRE(std::regex_search(cli, m, std::regex(R"(\| `metrics.csv` \| `([a-z_,]+)`)")));
  CHECK(m[1].str() == first_line(a));
  std::filesystem::remove_all(dir);
}

TEST_CASE("sharpness measures a checkpoint; spaced_kd --sharpness adds its columns and keeps the figures",
          "[programs][sharpness]") {
  const std::string dir = program_dir("sharpness");
  const std::string common = " --subset 128 --test-subset 100 --eval-batch 100 --epochs 1 --batch 32 --device cpu";
  REQUIRE(run_program("train", "--model resnet8 --out " + dir + "/train" + common).status == 0);
  Ran ran = run_program("sharpness", "--checkpoint " + dir + "/train/last.safetensors --samples 64 --batch 32 "
                                     "--probes 3 --iterations 4 --json " + dir + "/s.json");
  INFO(ran.err);
  REQUIRE(ran.status == 0);
  CHECK_THAT(ran.out, Contains("the student resnet8 of a baseline run after 1 epochs on fashion-mnist") &&
                          Contains("Hessian trace") && Contains("lambda_max"));
  const nlohmann::json s = nlohmann::json::parse(read_file(dir + "/s.json"));
  CHECK(s["samples"] == 64);
  CHECK(s["probes"] == 3);
  CHECK(s["iterations"] <= 4);
  CHECK(s["lambda_max"].get<double>() > 0);  // the CE's Hessian is positive semi-definite away from kinks
  CHECK(s["trace"].get<double>() > 0);

  Ran missing = run_program("sharpness", "--checkpoint " + dir + "/none.safetensors");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Contains(dir + "/none.safetensors"));
  Ran role = run_program("sharpness", "--checkpoint " + dir + "/train/last.safetensors --model teacher");
  CHECK(role.status == 1);
  CHECK_THAT(role.err, Contains("teacher"));

  Ran kd = run_program("spaced_kd", "--modes baseline --seeds 1 --student resnet8 --sharpness 64 --sharpness-probes 2 "
                                    "--out " + dir + "/kd" + common);
  INFO(kd.err);
  REQUIRE(kd.status == 0);
  CHECK_THAT(read_file(dir + "/kd/table.md"), Contains("Hessian trace | λ_max |"));
  const nlohmann::json result = nlohmann::json::parse(read_file(dir + "/kd/baseline/seed0/result.json"));
  REQUIRE(result.contains("sharpness"));
  CHECK(result["sharpness"]["probes"] == 2);
  CHECK(nlohmann::json::parse(read_file(dir + "/kd/table.json"))["sharpness_samples"] == 64);
  std::filesystem::remove_all(dir);
}

TEST_CASE("spaced_kd shares one teacher per seed, and gives every row as separate runs would", "[programs][e2e]") {
  const std::string dir = program_dir("shared_baseline");
  const std::string common = " --modes baseline,online,spaced --s 1.5 --seeds 1 --student resnet8 --teacher resnet8 --subset 128 "
                             "--test-subset 100 --eval-batch 100 --epochs 2 --batch 32 --bn-recalibrate 2 --device cpu";
  Ran shared = run_program("spaced_kd", "--out " + dir + "/shared" + common);
  INFO(shared.err);
  REQUIRE(shared.status == 0);
  CHECK_THAT(shared.out, Contains("baseline/seed0 is the teacher of " + dir + "/shared/online/seed0"));
  CHECK_THAT(read_file(dir + "/shared/table.md"), Contains("The baseline row is the online runs' teacher") &&
                                                     Contains("trained together on one teacher"));
  CHECK(!std::filesystem::exists(dir + "/shared/baseline/seed0/last.safetensors"));  // never trained on its own
  Ran separate = run_program("spaced_kd", "--separate-runs --out " + dir + "/separate" + common);
  REQUIRE(separate.status == 0);
  CHECK(std::filesystem::exists(dir + "/separate/baseline/seed0/last.safetensors"));

  for (const std::string row : {"baseline", "online", "spaced-s1.5"})
    for (const std::string seed : {"seed0"}) {
      INFO(row << " " << seed);
      auto history = [&](const std::string& run) {
        nlohmann::json h =
            nlohmann::json::parse(read_file(dir + "/" + run + "/" + row + "/" + seed + "/result.json"))["history"];
        for (nlohmann::json& epoch : h) epoch.erase("seconds");
        return h;
      };
      CHECK(history("shared") == history("separate"));
      if (row != "baseline")
        CHECK(first_tensor_difference(dir + "/shared/" + row + "/" + seed + "/last.safetensors",
                                      dir + "/separate/" + row + "/" + seed + "/last.safetensors") == "");
    }
  nlohmann::json a = nlohmann::json::parse(read_file(dir + "/shared/table.json"))["rows"],
                 b = nlohmann::json::parse(read_file(dir + "/separate/table.json"))["rows"];
  for (const char* key : {"student_best", "student_last", "student_last_bn_recal", "teacher_last",
                          "student_test_acc_mean_curve"}) {
    INFO(key);
    for (int row = 0; row < 3; ++row) CHECK(a[row][key] == b[row][key]);
  }
  std::filesystem::remove_all(dir);
}
