#include "tests/support/checks.h"

#include <cmath>
#include <sstream>

#include "core/autograd.h"

namespace engram::testing {

std::function<std::vector<Tensor>(DType, Generator&)> normal_inputs(std::vector<Shape> shapes) {
  return [shapes](DType dtype, Generator& gen) {
    std::vector<Tensor> inputs;
    for (const Shape& s : shapes) inputs.push_back(random::normal(s, 0.0, 1.0, gen, dtype).requires_grad_());
    return inputs;
  };
}

double normalised_error(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  ENGRAM_CHECK(actual.shape() == expected.shape(), ShapeError, "normalised_error",
               "shapes differ: " + shape_str(actual.shape()) + " vs " + shape_str(expected.shape()));
  std::vector<double> a = actual.to(Device::cpu()).to(DType::f64).to_vector<double>();
  std::vector<double> e = expected.to(Device::cpu()).to(DType::f64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::abs(a[i] - e[i]) / (atol + rtol * std::abs(e[i]));
    if (std::isnan(err)) return INFINITY;
    worst = std::max(worst, err);
  }
  return worst;
}

bool allclose(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  return normalised_error(actual, expected, atol, rtol) <= 1.0;
}

namespace {

double weighted_sum(const Tensor& out, const std::vector<double>& weights) {
  std::vector<double> values = out.to(DType::f64).to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < values.size(); ++i) s += values[i] * weights[i];
  return s;
}

}  // namespace

CheckResult gradcheck(const OpCase& op_case, uint64_t seed, double eps) {
  CheckResult result;
  Generator gen(seed);
  std::vector<Tensor> inputs = op_case.make_inputs(DType::f64, gen);
  Tensor out = op_case.run(inputs);
  Tensor weights = random::normal(out.shape(), 0.0, 1.0, gen, DType::f64);
  std::vector<double> w = weights.to_vector<double>();
  out.backward(weights);

  std::ostringstream report;
  report << op_case.name << ": gradcheck";
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& input = inputs[k];
    if (!input.requires_grad()) continue;
    Tensor analytic = input.grad();
    if (!analytic.defined()) {
      result.ok = false;
      report << "\n  input " << k << ": no gradient reached it";
      continue;
    }
    std::vector<double> g = analytic.to_vector<double>();
    double* x = input.data<double>();
    NoGradGuard no_grad;
    for (int64_t i = 0; i < input.numel(); ++i) {
      double saved = x[i];
      x[i] = saved + eps;
      double plus = weighted_sum(op_case.run(inputs), w);
      x[i] = saved - eps;
      double minus = weighted_sum(op_case.run(inputs), w);
      x[i] = saved;
      double numeric = (plus - minus) / (2 * eps);
      double err = std::abs(numeric - g[i]) / std::max(1.0, std::abs(numeric));
      result.worst = std::max(result.worst, err);
      if (err > op_case.gradcheck_tolerance && result.ok) {
        result.ok = false;
        report << "\n  input " << k << " element " << i << ": autograd " << g[i] << ", numeric " << numeric;
      }
    }
  }
  report << "\n  worst relative error " << result.worst << " (tolerance " << op_case.gradcheck_tolerance << ")";
  result.report = report.str();
  return result;
}

CheckResult parity(const OpCase& op_case, uint64_t seed) {
  CheckResult result;
  Generator gen(seed);
  std::vector<Tensor> cpu_inputs = op_case.make_inputs(DType::f32, gen);
  std::vector<Tensor> gpu_inputs;
  for (const Tensor& t : cpu_inputs) {
    Tensor g = t.detach().to(Device::cuda());
    if (t.requires_grad()) g.requires_grad_();
    gpu_inputs.push_back(g);
  }
  Tensor cpu_out = op_case.run(cpu_inputs);
  Tensor gpu_out = op_case.run(gpu_inputs);

  std::ostringstream report;
  report << op_case.name << ": parity";
  double tol = op_case.parity_tolerance;
  auto compare = [&](const std::string& what, const Tensor& gpu, const Tensor& cpu) {
    if (gpu.dtype() != cpu.dtype() || gpu.shape() != cpu.shape()) {
      result.ok = false;
      report << "\n  " << what << ": CUDA gives " << shape_str(gpu.shape()) << " " << dtype_name(gpu.dtype())
             << ", CPU " << shape_str(cpu.shape()) << " " << dtype_name(cpu.dtype());
      return;
    }
    double err = normalised_error(gpu, cpu, tol, tol);
    result.worst = std::max(result.worst, err);
    report << "\n  " << what << ": normalised error " << err;
    if (err > 1.0) result.ok = false;
  };
  compare("output", gpu_out, cpu_out);
  if (op_case.check_gradients && cpu_out.requires_grad()) {
    Tensor weights = random::normal(cpu_out.shape(), 0.0, 1.0, gen, DType::f32);
    cpu_out.backward(weights);
    gpu_out.backward(weights.to(Device::cuda()));
    for (size_t k = 0; k < cpu_inputs.size(); ++k) {
      if (!cpu_inputs[k].requires_grad()) continue;
      if (!gpu_inputs[k].grad().defined() || !cpu_inputs[k].grad().defined()) {
        result.ok = false;
        report << "\n  grad " << k << ": missing";
        continue;
      }
      compare("grad " + std::to_string(k), gpu_inputs[k].grad(), cpu_inputs[k].grad());
    }
  }
  report << " (tolerance " << tol << ")";
  result.report = report.str();
  return result;
}

}  // namespace engram::testing
