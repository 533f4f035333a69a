#include "tests/cases/batchnorm.h"

#include <cmath>
#include <stdexcept>

#include "kernels/batchnorm.h"

namespace engram::testing {

namespace {

constexpr double kMomentum = 0.1, kEps = 1e-5;
// Pre-activation values closer to 0 than this are moved away from relu's
// kink, where central differences are wrong and the two backends may disagree
// on the mask.
constexpr double kKinkMargin = 0.05;

struct BnSpec {
  Shape shape;
  BnActivation act = BnActivation::none;
  bool training = true;
  bool weight = true, bias = true;
  bool running = true;
  double x_mean = 0.5, x_std = 2.0;
};

std::string describe(const BnSpec& s) {
  std::string name = s.act == BnActivation::none   ? "batch_norm2d"
                     : s.act == BnActivation::relu ? "batch_norm2d_relu"
                                                   : "batch_norm2d_add_relu";
  name += s.training ? " train " : " eval ";
  name += shape_str(s.shape);
  if (!s.weight && !s.bias)
    name += " affine=false";
  else if (!s.bias)
    name += " weight only";
  if (!s.running) name += " no running stats";
  if (s.x_mean != 0.5) name += " mean " + std::to_string(static_cast<int>(s.x_mean));
  return name;
}

// The op's arguments unpacked from the packed input list.
struct BnArgs {
  Tensor x, weight, bias, running_mean, running_var, residual;
};

BnArgs unpack(const BnSpec& s, const std::vector<Tensor>& in) {
  BnArgs a;
  size_t k = 0;
  a.x = in[k++];
  if (s.weight) a.weight = in[k++];
  if (s.bias) a.bias = in[k++];
  if (s.running) a.running_mean = in[k++], a.running_var = in[k++];
  if (s.act == BnActivation::add_relu) a.residual = in[k++];
  return a;
}

// Per-channel mean and 1/std the forward pass will normalise with, in double.
void channel_stats(const BnSpec& s, const BnArgs& a, std::vector<double>& mean, std::vector<double>& invstd) {
  const int64_t n = s.shape[0], c = s.shape[1], plane = s.shape[2] * s.shape[3];
  const double* x = a.x.data<double>();
  mean.assign(c, 0.0);
  invstd.assign(c, 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    if (!s.training) {
      mean[ch] = a.running_mean.data<double>()[ch];
      invstd[ch] = 1.0 / std::sqrt(a.running_var.data<double>()[ch] + kEps);
      continue;
    }
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) sum += x[(i * c + ch) * plane + j];
    mean[ch] = sum / (n * plane);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) squares += std::pow(x[(i * c + ch) * plane + j] - mean[ch], 2);
    invstd[ch] = 1.0 / std::sqrt(squares / (n * plane) + kEps);
  }
}

// Moves inputs (f64) so that no value reaching the relu lies within
// kKinkMargin of 0: the residual when there is one (it does not change the
// statistics), otherwise x itself, repeated because moving x shifts the batch
// statistics a little.
void keep_away_from_kink(const BnSpec& s, BnArgs& a) {
  const int64_t c = s.shape[1], plane = s.shape[2] * s.shape[3];
  double* x = a.x.data<double>();
  double* r = a.residual.defined() ? a.residual.data<double>() : nullptr;
  for (int round = 0; round < 20; ++round) {
    std::vector<double> mean, invstd;
    channel_stats(s, a, mean, invstd);
    bool moved = false;
    for (int64_t k = 0; k < a.x.numel(); ++k) {
      const int64_t ch = (k / plane) % c;
      const double w = a.weight.defined() ? a.weight.data<double>()[ch] : 1.0;
      const double b = a.bias.defined() ? a.bias.data<double>()[ch] : 0.0;
      const double z = (x[k] - mean[ch]) * invstd[ch] * w + b + (r ? r[k] : 0.0);
      if (std::abs(z) >= kKinkMargin) continue;
      const double push = z >= 0 ? 3 * kKinkMargin : -3 * kKinkMargin;
      if (r)
        r[k] += push;
      else
        x[k] += push / (invstd[ch] * w);
      moved = true;
    }
    if (!moved) return;
  }
  throw std::logic_error("batchnorm cases: could not move the inputs away from the relu kink");
}

MakeInputs bn_inputs(BnSpec s) {
  return [s](DType dtype, Generator& gen) {
    const Shape channels{s.shape[1]};
    BnArgs a;
    a.x = random::normal(s.shape, s.x_mean, s.x_std, gen, DType::f64);
    if (s.weight) a.weight = random::uniform(channels, 0.5, 1.5, gen, DType::f64);
    if (s.bias) a.bias = random::normal(channels, 0.0, 0.5, gen, DType::f64);
    if (s.running) {
      a.running_mean = random::normal(channels, s.x_mean, 1.0, gen, DType::f64);
      a.running_var = random::uniform(channels, 0.5, 2.0, gen, DType::f64);
    }
    if (s.act == BnActivation::add_relu) a.residual = random::normal(s.shape, 0.0, 1.0, gen, DType::f64);
    if (s.act != BnActivation::none) keep_away_from_kink(s, a);

    std::vector<Tensor> inputs{a.x.to(dtype).requires_grad_()};
    if (s.weight) inputs.push_back(a.weight.to(dtype).requires_grad_());
    if (s.bias) inputs.push_back(a.bias.to(dtype).requires_grad_());
    if (s.running) inputs.push_back(a.running_mean.to(dtype)), inputs.push_back(a.running_var.to(dtype));
    if (s.act == BnActivation::add_relu) inputs.push_back(a.residual.to(dtype).requires_grad_());
    return inputs;
  };
}

Tensor bn_run(const BnSpec& s, const std::vector<Tensor>& inputs) {
  BnArgs a = unpack(s, inputs);
  switch (s.act) {
    case BnActivation::none:
      return batch_norm2d(a.x, a.weight, a.bias, a.running_mean, a.running_var, s.training, kMomentum, kEps);
    case BnActivation::relu:
      return batch_norm2d_relu(a.x, a.weight, a.bias, a.running_mean, a.running_var, s.training, kMomentum, kEps);
    case BnActivation::add_relu:
      return batch_norm2d_add_relu(a.x, a.residual, a.weight, a.bias, a.running_mean, a.running_var, s.training,
                                   kMomentum, kEps);
  }
  return Tensor();
}

OpCase make_case(BnSpec s, double parity_tolerance) {
  OpCase op_case{describe(s), bn_inputs(s), [s](const std::vector<Tensor>& in) { return bn_run(s, in); }};
  op_case.gradcheck_tolerance = 1e-5;
  op_case.parity_tolerance = parity_tolerance;
  return op_case;
}

BnSpec spec(Shape shape, BnActivation act, bool training) {
  BnSpec s;
  s.shape = std::move(shape);
  s.act = act;
  s.training = training;
  return s;
}

BnSpec without_affine(BnSpec s) {
  s.weight = s.bias = false;
  return s;
}

}  // namespace

std::vector<OpCase> batchnorm_cases() {
  using A = BnActivation;
  // Normalised outputs are O(1); reductions run over at most ~100 values.
  const double tol = 1e-4;
  std::vector<OpCase> cases;
  for (bool training : {true, false}) {
    cases.push_back(make_case(spec({2, 3, 7, 7}, A::none, training), tol));
    cases.push_back(make_case(spec({1, 5, 3, 4}, A::none, training), tol));  // N = 1
    cases.push_back(make_case(without_affine(spec({3, 6, 2, 3}, A::none, training)), tol));
    cases.push_back(make_case(spec({2, 3, 7, 7}, A::relu, training), tol));
    cases.push_back(make_case(spec({1, 5, 4, 3}, A::add_relu, training), tol));
    cases.push_back(make_case(spec({2, 13, 2, 2}, A::relu, training), tol));     // odd C, float4 planes of one vector
    cases.push_back(make_case(spec({3, 4, 1, 5}, A::add_relu, training), tol));  // H = 1, odd plane: scalar
  }
  cases.push_back(make_case(spec({4, 2, 1, 1}, A::none, true), tol));  // H*W = 1
  BnSpec untracked = without_affine(spec({2, 3, 5, 5}, A::none, true));
  untracked.running = false;
  cases.push_back(make_case(untracked, tol));
  BnSpec weight_only = spec({2, 4, 3, 3}, A::relu, true);
  weight_only.bias = false;
  cases.push_back(make_case(weight_only, tol));
  cases.push_back(make_case(without_affine(spec({2, 4, 3, 3}, A::add_relu, true)), tol));
  cases.push_back(make_case(spec({2, 3, 7, 7}, A::add_relu, true), tol));
  cases.push_back(make_case(spec({5, 1, 3, 3}, A::none, true), tol));   // C = 1
  cases.push_back(make_case(spec({1, 3, 1, 7}, A::relu, true), tol));   // N = 1, H = 1
  cases.push_back(make_case(spec({1, 2, 1, 1}, A::none, false), tol));  // one value per channel (evaluation only)

  // Parity only. Sums over up to ~30k values per channel in float32 on the GPU.
  const double large_tol = 1e-3;
  const size_t first = cases.size();
  for (A act : {A::none, A::relu, A::add_relu}) {
    for (bool training : {true, false}) {
      cases.push_back(make_case(spec({16, 8, 32, 32}, act, training), large_tol));   // float4 path, several blocks
      cases.push_back(make_case(spec({128, 3, 15, 15}, act, training), large_tol));  // scalar path, many blocks
    }
  }
  cases.push_back(make_case(spec({64, 4, 28, 28}, A::none, true), large_tol));   // uneven slices
  cases.push_back(make_case(spec({8, 33, 7, 7}, A::none, true), large_tol));     // odd C, 7x7 maps
  cases.push_back(make_case(spec({1, 7, 9, 9}, A::add_relu, true), large_tol));  // N = 1
  cases.push_back(make_case(spec({32, 256, 4, 4}, A::relu, true), large_tol));   // many channels, small maps
  BnSpec untracked_large = without_affine(spec({16, 8, 32, 32}, A::relu, true));
  untracked_large.running = false;
  cases.push_back(make_case(untracked_large, large_tol));
  // Mean far from 0 compared to the spread: the case Welford's update is for.
  BnSpec offset = spec({32, 4, 16, 16}, A::none, true);
  offset.x_mean = 100.0;
  offset.x_std = 0.5;
  cases.push_back(make_case(offset, large_tol));
  // Small maps that still split a channel over blocks: 3 slices of scalars
  // (1089 per plane), 2 slices of float4 (1280 vectors per channel).
  cases.push_back(make_case(spec({2, 3, 33, 33}, A::none, true), large_tol));
  cases.push_back(make_case(spec({5, 2, 32, 32}, A::add_relu, true), large_tol));
  // A batch of 0 (evaluation: training needs more than one value per channel).
  for (A act : {A::none, A::add_relu}) cases.push_back(make_case(spec({0, 3, 4, 4}, act, false), tol));
  for (size_t i = first; i < cases.size(); ++i) cases[i].parity_only = true;
  // Float4-sized planes on misaligned inputs: the scalar kernels.
  cases.push_back(unaligned(make_case(spec({2, 3, 4, 4}, A::none, true), tol)));
  cases.push_back(unaligned(make_case(spec({2, 3, 4, 4}, A::add_relu, false), tol)));
  // NaN in channel 0, +Inf in channel 1, -Inf in channel 2 of image 0 (x only):
  // the statistics of those channels, and everything normalised by them.
  for (bool training : {true, false})
    for (A act : {A::none, A::relu})
      cases.push_back(non_finite(make_case(spec({2, 3, 4, 5}, act, training), tol), 20, {0}));
  return cases;
}

}  // namespace engram::testing
