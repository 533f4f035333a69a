#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.h"

// The format stores little-endian bytes and both readers and writers copy
// tensor memory as is.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace engram::nn {

namespace {

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers above 100 MB; so do we, so that
// a corrupt length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

bool is_counter_name(const std::string& name) {
  const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
  }
  return "?";
}

// ---- writing ----

// One tensor's bytes as they go into the file.
struct EncodedTensor {
  std::string name;
  std::string dtype;
  Shape shape;
  bool is_counter = false;       // a num_batches_tracked entry, stored as I64
  Tensor host;                   // the tensor's bytes on the host, or
  std::vector<int64_t> counter;  // the I64 values of a counter
  const void* bytes() const { return is_counter ? static_cast<const void*>(counter.data()) : host.raw_data(); }
  size_t nbytes() const { return is_counter ? counter.size() * sizeof(int64_t) : host.nbytes(); }
};

EncodedTensor encode(const std::string& name, const Tensor& tensor) {
  ENGRAM_CHECK(tensor.defined(), ValueError, "save_safetensors", "tensor \"" + name + "\" is undefined");
  EncodedTensor out{name, file_dtype_name(tensor.dtype()), tensor.shape(), false, {}, {}};
  Tensor host = tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu());
  if (!is_counter_name(name)) {
    out.host = host;
    return out;
  }
  out.dtype = "I64";
  out.is_counter = true;
  for (double v : host.to(DType::f64).to_vector<double>()) {
    ENGRAM_CHECK(std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= 9007199254740992.0, ValueError,
                 "save_safetensors",
                 "\"" + name + "\" is stored as I64 and must hold integers, got " + std::to_string(v));
    out.counter.push_back(static_cast<int64_t>(v));
  }
  return out;
}

// The 8-byte length and the JSON header, padded with spaces to a multiple of
// 8 bytes as the reference implementation does, so that the data starts aligned.
std::string build_header(const std::vector<EncodedTensor>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const EncodedTensor& t : tensors) {
    uint64_t end = offset + t.nbytes();
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(std::string("save_safetensors: names and metadata must be valid UTF-8 (") + e.what() + ")");
  }
  json.append((8 - json.size() % 8) % 8, ' ');
  uint64_t length = json.size();
  std::string out(reinterpret_cast<const char*>(&length), sizeof length);
  return out + json;
}

void write_all(int fd, const void* data, size_t size, const std::string& temp) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IOError("writing " + temp + " failed: " + std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

std::string parent_folder(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// ---- reading ----

struct FileDType {
  DType dtype;       // what the tensor holds in memory
  size_t file_size;  // bytes per element in the file
};

FileDType parse_dtype(const std::string& name, const std::string& where) {
  if (name == "F32") return {DType::f32, 4};
  if (name == "F64") return {DType::f64, 8};
  if (name == "I32") return {DType::i32, 4};
  if (name == "U8") return {DType::u8, 1};
  if (name == "I64") return {DType::f64, 8};
  throw IOError(where + "unsupported dtype \"" + name + "\" (engram reads F32, F64, I32, U8 and I64)");
}

// A tensor's header entry, checked against the format's rules.
struct Entry {
  std::string name;
  std::string file_dtype;
  FileDType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& info, const std::string& where) {
  const std::string here = where + "tensor \"" + name + "\": ";
  if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
    throw IOError(here + "expected an object with dtype, shape and data_offsets, got " + info.dump());
  const auto& dtype = info["dtype"];
  const auto& shape = info["shape"];
  const auto& offsets = info["data_offsets"];
  if (!dtype.is_string()) throw IOError(here + "dtype must be a string, got " + dtype.dump());
  if (!shape.is_array()) throw IOError(here + "shape must be an array, got " + shape.dump());
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw IOError(here + "data_offsets must be [begin, end] with non-negative integers, got " + offsets.dump());
  Entry entry{name, dtype.get<std::string>(), parse_dtype(dtype.get<std::string>(), here), {}, 0, 0};
  uint64_t numel = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) throw IOError(here + "shape must hold non-negative integers, got " + shape.dump());
    entry.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    if (__builtin_mul_overflow(numel, d.get<uint64_t>(), &numel) || entry.shape.back() < 0)
      throw IOError(here + "shape " + shape.dump() + " is too large");
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end < entry.begin) throw IOError(here + "data_offsets " + offsets.dump() + " end before they begin");
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, entry.dtype.file_size, &expected))
    throw IOError(here + "shape " + shape.dump() + " is too large");
  if (entry.end - entry.begin != expected)
    throw IOError(here + "data_offsets " + offsets.dump() + " span " + std::to_string(entry.end - entry.begin) +
                  " bytes, shape " + shape_str(entry.shape) + " of " + entry.file_dtype + " needs " +
                  std::to_string(expected));
  return entry;
}

std::ifstream::pos_type file_size_of(std::ifstream& file) {
  file.seekg(0, std::ios::end);
  auto size = file.tellg();
  file.seekg(0, std::ios::beg);
  return size;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  std::vector<EncodedTensor> encoded;
  for (const auto& [name, tensor] : tensors) {
    ENGRAM_CHECK(!name.empty() && name != kMetadataKey, ValueError, "save_safetensors",
                 "tensor names must be non-empty and not \"__metadata__\", got \"" + name + "\"");
    ENGRAM_CHECK(seen.insert(name).second, ValueError, "save_safetensors", "duplicate tensor name \"" + name + "\"");
    encoded.push_back(encode(name, tensor));
  }
  const std::string header = build_header(encoded, metadata);

  // Written next to `path` so that the rename stays within one file system
  // (and so is atomic); the pid keeps concurrent writers apart.
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw IOError("save_safetensors: cannot write " + path + ": creating " + temp + " failed: " + std::strerror(errno));
  try {
    write_all(fd, header.data(), header.size(), temp);
    for (const EncodedTensor& t : encoded) write_all(fd, t.bytes(), t.nbytes(), temp);
    if (::fsync(fd) != 0) throw IOError("fsync of " + temp + " failed: " + std::strerror(errno));
    int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw IOError("closing " + temp + " failed: " + std::strerror(errno));
    if (std::rename(temp.c_str(), path.c_str()) != 0)
      throw IOError("renaming " + temp + " over it failed: " + std::strerror(errno));
  } catch (const IOError& e) {
    if (fd >= 0) ::close(fd);
    std::remove(temp.c_str());
    throw IOError("save_safetensors: cannot write " + path + ": " + e.what());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(temp.c_str());
    throw;
  }
  // Make the rename itself durable; a failure here loses nothing already written.
  int dir = ::open(parent_folder(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::string where = "load_safetensors: " + path + ": ";
  std::ifstream file(path, std::ios::binary);
  if (!file.is_open()) throw IOError(where + "cannot open the file: " + std::strerror(errno));
  const auto size_or_error = file_size_of(file);
  if (size_or_error < 0) throw IOError(where + "cannot determine the file size");
  const uint64_t file_size = static_cast<uint64_t>(size_or_error);

  uint64_t header_length = 0;
  if (file_size < 8 || !file.read(reinterpret_cast<char*>(&header_length), 8))
    throw IOError(where + "file of " + std::to_string(file_size) + " bytes is too short for the 8-byte header length");
  if (header_length > file_size - 8 || header_length > kMaxHeaderBytes)
    throw IOError(where + "header length " + std::to_string(header_length) + " exceeds the " +
                  std::to_string(file_size - 8) + " bytes that follow it (truncated or not a safetensors file)");
  std::string header_text(header_length, '\0');
  if (!file.read(header_text.data(), static_cast<std::streamsize>(header_length)))
    throw IOError(where + "reading the header failed");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number past a double's range
    throw IOError(where + "the header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw IOError(where + "the header must be a JSON object, got " + header.type_name());

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, info] : header.items()) {
    if (name != kMetadataKey) {
      entries.push_back(parse_entry(name, info, where));
      continue;
    }
    if (!info.is_object()) throw IOError(where + "__metadata__ must be an object of strings, got " + info.dump());
    for (const auto& [key, value] : info.items()) {
      if (!value.is_string())
        throw IOError(where + "__metadata__[\"" + key + "\"] must be a string, got " + value.dump());
      out.metadata[key] = value.get<std::string>();
    }
  }

  // File order is offset order; the data must tile [0, data size) exactly,
  // without holes or overlaps, as the reference implementation requires.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  const uint64_t data_size = file_size - 8 - header_length;
  uint64_t expected_begin = 0;
  for (const Entry& e : entries) {
    if (e.end > data_size)
      throw IOError(where + "tensor \"" + e.name + "\" data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] run past the end of the data (" + std::to_string(data_size) +
                    " bytes): the file is truncated or the offsets are wrong");
    if (e.begin != expected_begin)
      throw IOError(where + "tensor \"" + e.name + "\" data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] " + (e.begin < expected_begin ? "overlap" : "leave a gap after") +
                    " the previous tensor, which ends at " + std::to_string(expected_begin));
    expected_begin = e.end;
  }
  if (expected_begin != data_size)
    throw IOError(where + "the tensors cover " + std::to_string(expected_begin) + " bytes of data, the file holds " +
                  std::to_string(data_size));

  // Offsets are contiguous, so the tensors are read in one sequential pass.
  for (const Entry& e : entries) {
    Tensor tensor = Tensor::empty(e.shape, e.dtype.dtype);
    if (e.file_dtype == "I64") {
      std::vector<int64_t> values(static_cast<size_t>(tensor.numel()));
      file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(e.end - e.begin));
      std::copy(values.begin(), values.end(), tensor.data<double>());
    } else {
      file.read(static_cast<char*>(tensor.raw_data()), static_cast<std::streamsize>(e.end - e.begin));
    }
    if (!file) throw IOError(where + "reading tensor \"" + e.name + "\" failed (truncated file?)");
    out.tensors.emplace_back(e.name, tensor);
  }
  return out;
}

}  // namespace engram::nn
