// --resume of a Spaced KD run (distill/kd_run.h) stopped inside an epoch with
// replays pending. The input is the checkpoint's JSON state (epoch, step,
// generator, schedule, step records, the replay buffer); the tensors are
// those of the real run, so the fuzzer explores the state and not the
// safetensors layer (fuzz_checkpoint's). A resume that loads trains one step
// and checkpoints again.
#include "nn/safetensors.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/seeds.h"
#include "train/interrupt.h"

using namespace engram;

namespace {

struct BaseRun {
  fuzz::OwnFolder folder{"fuzz_resume"};
  nn::SafetensorsFile checkpoint;
};

BaseRun& base() {
  static BaseRun run;
  return run;
}

train::RunHooks stop_after_one_step() {
  train::RunHooks hooks;
  hooks.log = nullptr;
  hooks.on_step = [](const train::StepEvent&) { train::request_stop(); };
  return hooks;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  base().checkpoint = fuzz::stopped_spaced_kd_run(base().folder.path);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::fs::path dir = fuzz::fresh_scratch();
  std::map<std::string, std::string> metadata = base().checkpoint.metadata;
  metadata["engram"] = std::string(reinterpret_cast<const char*>(data), size);
  const std::string file = (dir / "last.safetensors").string();
  try {
    nn::save_safetensors(file, base().checkpoint.tensors, metadata);
  } catch (const ValueError&) {
    return 0;  // not UTF-8: no checkpoint can hold it (fuzz_checkpoint reads such files)
  }
  distill::KdRunConfig config =
      fuzz::resume_target_config((dir / "run").string(), (base().folder.path / "data").string());
  config.train.resume = file;
  fuzz::load_or_error([&] { distill::run_kd(config, stop_after_one_step()); });
  train::clear_stop_request();
  return 0;
}
