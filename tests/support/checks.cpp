#include "tests/support/checks.h"

#include <cmath>
#include <functional>
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

namespace {

// Runs the case on f32 CPU inputs and on `convert`ed copies of them (another
// device or dtype), and compares outputs and input gradients.
CheckResult compare_runs(const OpCase& op_case, uint64_t seed, const std::string& what,
                         const std::function<Tensor(const Tensor&)>& convert, int64_t max_elements) {
  CheckResult result;
  Generator gen(seed);
  std::vector<Tensor> reference_inputs = op_case.make_inputs(DType::f32, gen);
  int64_t elements = 0;
  for (const Tensor& t : reference_inputs) elements += t.numel();
  if (elements > max_elements) {
    result.report = op_case.name + ": " + what + " not run on the CPU (" + std::to_string(elements) + " elements)";
    return result;
  }
  std::vector<Tensor> other_inputs;
  for (const Tensor& t : reference_inputs) {
    Tensor converted = convert(t.detach());
    if (t.requires_grad()) converted.requires_grad_();
    other_inputs.push_back(converted);
  }
  Tensor reference_out = op_case.run(reference_inputs);
  Tensor other_out = op_case.run(other_inputs);

  std::ostringstream report;
  report << op_case.name << ": " << what;
  double tol = op_case.parity_tolerance;
  auto compare = [&](const std::string& name, const Tensor& other, const Tensor& reference) {
    if (other.shape() != reference.shape()) {
      result.ok = false;
      report << "\n  " << name << ": shapes " << shape_str(other.shape()) << " and " << shape_str(reference.shape());
      return;
    }
    double err = normalised_error(other, reference, tol, tol);
    result.worst = std::max(result.worst, err);
    report << "\n  " << name << ": normalised error " << err;
    if (err > 1.0) result.ok = false;
  };
  compare("output", other_out, reference_out);
  if (op_case.check_gradients && reference_out.requires_grad()) {
    Tensor weights = random::normal(reference_out.shape(), 0.0, 1.0, gen, DType::f32);
    reference_out.backward(weights);
    other_out.backward(convert(weights));
    for (size_t k = 0; k < reference_inputs.size(); ++k) {
      if (!reference_inputs[k].requires_grad()) continue;
      if (!other_inputs[k].grad().defined() || !reference_inputs[k].grad().defined()) {
        result.ok = false;
        report << "\n  grad " << k << ": missing";
        continue;
      }
      compare("grad " + std::to_string(k), other_inputs[k].grad(), reference_inputs[k].grad());
    }
  }
  report << " (tolerance " << tol << ")";
  result.report = report.str();
  return result;
}

}  // namespace

CheckResult parity(const OpCase& op_case, uint64_t seed) {
  return compare_runs(
      op_case, seed, "CUDA vs CPU parity", [](const Tensor& t) { return t.to(Device::cuda()); }, INT64_MAX);
}

CheckResult f32_matches_f64(const OpCase& op_case, int64_t max_elements, uint64_t seed) {
  return compare_runs(
      op_case, seed, "f64 vs f32 on the CPU",
      [](const Tensor& t) { return is_floating(t.dtype()) ? t.to(DType::f64) : t.clone(); }, max_elements);
}

}  // namespace engram::testing
