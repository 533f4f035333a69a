// The sharpness of a trained model (train/sharpness.h): the Hessian trace
// (Hutchinson) and largest eigenvalue (power iteration) of its training loss.
//
//   sharpness --checkpoint runs/spaced_kd/spaced-s1.5/seed0/last.safetensors
//   sharpness --checkpoint runs/train/last.safetensors --samples 1024 --json sharpness.json
//
// The model and dataset are read from the checkpoint's run identity.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "distill/checkpoint_model.h"
#include "examples/train_flags.h"
#include "train/metrics.h"

using namespace engram;

int main(int argc, char** argv) {
  std::string checkpoint, role = "student", json_path;
  distill::SharpnessRequest request;
  CLI::App app{"engram sharpness: Hessian trace and largest eigenvalue of a checkpoint's training loss", "sharpness"};
  app.add_option("--checkpoint", checkpoint, "a run's last.safetensors")->required();
  app.add_option("--model", role, "student (a baseline run's model) or teacher (online, spaced)")
      ->capture_default_str();
  app.add_option("--samples", request.samples, "the first N training images the loss is measured on")
      ->capture_default_str();
  app.add_option("--batch", request.batch, "images per forward pass")->capture_default_str();
  app.add_option("--data", request.data_dir, "dataset folder (default: the dataset's)");
  app.add_option("--probes", request.options.probes, "Hutchinson probes")->capture_default_str();
  app.add_option("--iterations", request.options.max_iterations, "power iterations at most")->capture_default_str();
  app.add_option("--tolerance", request.options.tolerance, "power iteration: relative change to stop at")
      ->capture_default_str();
  app.add_option("--seed", request.options.seed, "seed of the probes")->capture_default_str();
  app.add_option("--json", json_path, "also write the figures to this file");
  CLI11_PARSE(app, argc, argv);

  try {
    ENGRAM_CONFIG_CHECK(role == "student" || role == "teacher", "sharpness", "model",
                        "must be student or teacher, got \"" + role + "\"");
    distill::CheckpointModel model =
        distill::load_checkpoint_model(checkpoint, role == "teacher" ? train::Role::teacher : train::Role::student);
    std::printf("sharpness: %s: the %s %s of a %s run after %lld epochs on %s\n", checkpoint.c_str(), role.c_str(),
                model.name.c_str(), model.mode.c_str(), static_cast<long long>(model.epochs), model.dataset.c_str());
    train::Sharpness s = distill::model_sharpness(model, request);
    std::printf("  %lld parameters, loss %.6f on the first %lld training images\n",
                static_cast<long long>(s.parameters), s.loss, static_cast<long long>(s.samples));
    std::printf("  Hessian trace  %.6g ± %.2g  (Hutchinson, %lld probes)\n", s.trace, s.trace_stderr,
                static_cast<long long>(s.probes));
    std::printf("  lambda_max     %.6g  (power iteration, %lld iterations)\n", s.lambda_max,
                static_cast<long long>(s.iterations));
    std::printf("  %lld Hessian-vector products, %lld retried past a ReLU kink, %lld unresolved\n",
                static_cast<long long>(s.products), static_cast<long long>(s.kink_retries),
                static_cast<long long>(s.unresolved));
    if (!json_path.empty()) train::write_file_atomic(json_path, train::to_json(s).dump(2) + "\n");
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", programs::program_message("sharpness", e).c_str());
    return 1;
  }
  return 0;
}
