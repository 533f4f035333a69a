#include "tests/support/checks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <sstream>

#include "core/autograd.h"
#include "tests/support/schedule_guard.h"

namespace engram::testing {

MakeInputs normal_inputs(std::vector<Shape> shapes) {
  return [shapes](DType dtype, Generator& gen) {
    std::vector<Tensor> inputs;
    for (const Shape& s : shapes) inputs.push_back(random::normal(s, 0.0, 1.0, gen, dtype).requires_grad_());
    return inputs;
  };
}

namespace {

template <typename T>
void write_non_finite(const Tensor& t, int64_t spacing) {
  T* p = t.data<T>();
  p[0] = std::numeric_limits<T>::quiet_NaN();
  p[spacing] = std::numeric_limits<T>::infinity();
  p[2 * spacing] = -std::numeric_limits<T>::infinity();
}

}  // namespace

MakeInputs with_non_finite(MakeInputs builder, int64_t spacing, std::vector<size_t> only) {
  return [builder = std::move(builder), spacing, only = std::move(only)](DType dtype, Generator& gen) {
    std::vector<Tensor> inputs = builder(dtype, gen);
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Tensor& t = inputs[k];
      if (!only.empty() && std::find(only.begin(), only.end(), k) == only.end()) continue;
      if (!is_floating(t.dtype()) || t.numel() <= 2 * spacing) continue;
      if (t.dtype() == DType::f32)
        write_non_finite<float>(t, spacing);
      else
        write_non_finite<double>(t, spacing);
    }
    return inputs;
  };
}

OpCase parity_only(OpCase c) {
  c.parity_only = true;
  return c;
}

OpCase non_finite(OpCase c, int64_t spacing, std::vector<size_t> only) {
  c.name += " with NaN/+Inf/-Inf";
  c.make_inputs = with_non_finite(std::move(c.make_inputs), spacing, std::move(only));
  c.parity_only = true;
  c.non_finite_inputs = true;
  return c;
}

OpCase unaligned(OpCase c) {
  c.name += " unaligned";
  c.unaligned_inputs = true;
  c.parity_only = true;
  return c;
}

namespace {

// The error of one element: the normalised error for finite values; for
// non-finite ones 0 when both sides agree exactly (NaN and NaN, +Inf and
// +Inf, -Inf and -Inf), INFINITY when they do not.
double element_error(double a, double e, double atol, double rtol) {
  if (std::isnan(a) || std::isnan(e)) return std::isnan(a) && std::isnan(e) ? 0.0 : INFINITY;
  if (std::isinf(a) || std::isinf(e)) return a == e ? 0.0 : INFINITY;
  double err = std::abs(a - e) / (atol + rtol * std::abs(e));
  return std::isnan(err) ? INFINITY : err;  // 0 / 0: atol = 0 and e = 0
}

// The worst element of a comparison: its error, index and values.
struct ErrorScan {
  double worst = 0;
  int64_t index = -1;
  double actual = 0, expected = 0;
};

ErrorScan scan_errors(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  ENGRAM_CHECK(actual.shape() == expected.shape(), ShapeError, "normalised_error",
               "shapes differ: " + shape_str(actual.shape()) + " vs " + shape_str(expected.shape()));
  std::vector<double> a = actual.to(Device::cpu()).to(DType::f64).to_vector<double>();
  std::vector<double> e = expected.to(Device::cpu()).to(DType::f64).to_vector<double>();
  ErrorScan scan;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = element_error(a[i], e[i], atol, rtol);
    if (scan.index < 0 || err > scan.worst) {
      scan.worst = err;
      scan.index = static_cast<int64_t>(i);
      scan.actual = a[i];
      scan.expected = e[i];
    }
  }
  return scan;
}

}  // namespace

double normalised_error(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  return scan_errors(actual, expected, atol, rtol).worst;
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

using Convert = std::function<Tensor(const Tensor&)>;

// A copy of t on `device` whose first element sits one element past the
// start of its (16-byte aligned) storage.
Tensor misaligned_copy(const Tensor& t, Device device) {
  const int64_t n = t.numel();
  Tensor storage = Tensor::empty({n + 1}, t.dtype(), device);
  Tensor view = storage.narrow_rows(1, n).reshape(t.shape());
  view.copy_(t);
  return view.detach();
}

// How a case's CPU tensors reach the device under test.
Convert device_copy(Device device, bool misaligned) {
  if (misaligned) return [device](const Tensor& t) { return misaligned_copy(t, device); };
  return [device](const Tensor& t) { return t.to(device); };
}

// Converted copies of the inputs, requiring grad where the originals do.
std::vector<Tensor> converted_inputs(const std::vector<Tensor>& inputs, const Convert& convert) {
  std::vector<Tensor> copies;
  for (const Tensor& t : inputs) {
    Tensor copy = convert(t.detach());
    if (t.requires_grad()) copy.requires_grad_();
    copies.push_back(copy);
  }
  return copies;
}

int64_t input_elements(const std::vector<Tensor>& inputs) {
  int64_t elements = 0;
  for (const Tensor& t : inputs) elements += t.numel();
  return elements;
}

// Runs the case on f32 CPU inputs and on `convert`ed copies of them (another
// device or dtype), and compares outputs and input gradients.
CheckResult compare_runs(const OpCase& op_case, uint64_t seed, const std::string& what, const Convert& convert,
                         int64_t max_elements) {
  CheckResult result;
  Generator gen(seed);
  std::vector<Tensor> reference_inputs = op_case.make_inputs(DType::f32, gen);
  int64_t elements = input_elements(reference_inputs);
  if (elements > max_elements) {
    result.report = op_case.name + ": " + what + " not run on the CPU (" + std::to_string(elements) + " elements)";
    return result;
  }
  // Copied before either run: an op may update inputs in place (running statistics).
  std::vector<Tensor> other_inputs = converted_inputs(reference_inputs, convert);
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
    ErrorScan scan = scan_errors(other, reference, tol, tol);
    result.worst = std::max(result.worst, scan.worst);
    report << "\n  " << name << ": normalised error " << scan.worst;
    if (scan.worst > 1.0) {
      result.ok = false;
      report << " (element " << scan.index << ": got " << scan.actual << ", expected " << scan.expected << ")";
    }
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
  return compare_runs(op_case, seed, "CUDA vs CPU parity", device_copy(Device::cuda(), op_case.unaligned_inputs),
                      INT64_MAX);
}

CheckResult f32_matches_f64(const OpCase& op_case, int64_t max_elements, uint64_t seed) {
  return compare_runs(
      op_case, seed, "f64 vs f32 on the CPU",
      [](const Tensor& t) { return is_floating(t.dtype()) ? t.to(DType::f64) : t.clone(); }, max_elements);
}

#if ENGRAM_CUDA_HOST

namespace {

// What one CUDA run of a case leaves behind, copied to the host: the output,
// each input's gradient, and each input that does not require grad (an op may
// update it in place, as batch norm does its running statistics).
struct RunRecord {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;  // undefined where a gradient is missing
};

// `weights` (the output gradient) is drawn from gen on the first call and reused after.
RunRecord record_cuda_run(const OpCase& op_case, const std::vector<Tensor>& inputs, Tensor& weights, Generator& gen) {
  const Convert convert = device_copy(Device::cuda(), op_case.unaligned_inputs);
  std::vector<Tensor> cuda_inputs = converted_inputs(inputs, convert);
  Tensor out = op_case.run(cuda_inputs);
  RunRecord record;
  record.names.push_back("output");
  record.tensors.push_back(out.detach().to(Device::cpu()));
  if (op_case.check_gradients && out.requires_grad()) {
    if (!weights.defined()) weights = random::normal(out.shape(), 0.0, 1.0, gen, DType::f32);
    out.backward(convert(weights));
    for (size_t k = 0; k < cuda_inputs.size(); ++k) {
      if (!cuda_inputs[k].requires_grad()) continue;
      Tensor grad = cuda_inputs[k].grad();
      record.names.push_back("grad " + std::to_string(k));
      record.tensors.push_back(grad.defined() ? grad.to(Device::cpu()) : Tensor());
    }
  }
  for (size_t k = 0; k < cuda_inputs.size(); ++k) {
    if (cuda_inputs[k].requires_grad()) continue;
    record.names.push_back("input " + std::to_string(k) + " (updated in place)");
    record.tensors.push_back(cuda_inputs[k].to(Device::cpu()));
  }
  return record;
}

// The first element whose bytes differ between two host tensors of one shape
// and dtype, or -1.
int64_t first_difference(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0) return -1;
  const size_t width = dtype_size(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.raw_data());
  const auto* pb = static_cast<const unsigned char*>(b.raw_data());
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(pa + i * width, pb + i * width, width) != 0) return i;
  return -1;
}

}  // namespace

CheckResult schedule_invariance(const OpCase& op_case, uint64_t seed) {
  CheckResult result;
  Generator gen(seed);
  std::vector<Tensor> inputs = op_case.make_inputs(DType::f32, gen);
  const std::vector<cuda::host::Schedule> schedules = invariance_schedules(input_elements(inputs) <= 4096);
  Tensor weights;
  std::vector<RunRecord> runs;
  for (const cuda::host::Schedule& s : schedules) {
    ScheduleGuard guard(s);
    runs.push_back(record_cuda_run(op_case, inputs, weights, gen));
  }

  std::ostringstream report;
  report << op_case.name << ": bitwise equal under the schedules";
  for (const cuda::host::Schedule& s : schedules) report << " " << cuda::host::schedule_name(s);
  const RunRecord& reference = runs[0];
  for (size_t r = 1; r < runs.size(); ++r) {
    for (size_t t = 0; t < reference.tensors.size() && t < runs[r].tensors.size(); ++t) {
      const Tensor& a = reference.tensors[t];
      const Tensor& b = runs[r].tensors[t];
      std::string where;
      if (a.defined() != b.defined()) {
        where = "(missing under one of them)";
      } else if (!a.defined()) {
        continue;
      } else if (a.shape() != b.shape() || a.dtype() != b.dtype()) {
        where = "(shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + ")";
      } else {
        const int64_t i = first_difference(a, b);
        if (i < 0) continue;
        where = "at element " + std::to_string(i);
      }
      result.ok = false;
      result.worst = INFINITY;
      report << "\nrace in " << op_case.name << ": " << reference.names[t] << " differs between schedules "
             << cuda::host::schedule_name(schedules[0]) << " and " << cuda::host::schedule_name(schedules[r]) << " "
             << where;
    }
  }
  result.report = report.str();
  return result;
}

#endif  // ENGRAM_CUDA_HOST

CheckResult without_throwing(const std::string& what, const std::function<CheckResult()>& check) {
  try {
    return check();
  } catch (const std::exception& e) {
    CheckResult result;
    result.ok = false;
    result.worst = INFINITY;
    result.report = what + ": threw " + e.what();
    return result;
  }
}

}  // namespace engram::testing
