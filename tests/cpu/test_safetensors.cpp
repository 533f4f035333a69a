#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "nn/safetensors.h"

using namespace engram;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engram_safetensors_" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string le64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// A safetensors file written by hand: length, header text, data.
std::string handmade(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

bool has_temp_file(const fs::path& folder) {
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("safetensors round trip keeps every dtype, shape, byte and the metadata", "[safetensors]") {
  TempDir dir;
  const float nan_payload = [] {
    uint32_t bits = 0x7fc01234u;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }();
  nn::NamedTensors tensors = {
      {"weights", Tensor::from_vector<float>({1.5f, -0.0f, std::numeric_limits<float>::infinity(), nan_payload,
                                              std::numeric_limits<float>::denorm_min(), 3.0e38f},
                                             {2, 3})},
      {"doubles", Tensor::from_vector<double>({0.1, -1e-300, 12345.678901234567}, {3})},
      {"labels", Tensor::from_vector<int32_t>({-7, 0, 2147483647}, {3, 1})},
      {"pixels", Tensor::from_vector<uint8_t>({0, 1, 128, 255, 7}, {5})},
      {"scalar", Tensor::scalar(-2.25)},
      {"empty", Tensor::empty({0, 4})},
      {"layer.bn.num_batches_tracked", Tensor::scalar(9007199254740991.0, DType::f64)},  // 2^53 - 1
      {"odd.1x1x7x7", Tensor::from_vector<float>(std::vector<float>(49, 0.25f), {1, 1, 7, 7})},
  };
  std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"quoted \"key\"", "line\nbreak and \\ backslash"}, {"empty", ""}, {"utf8", "µ→∞"}};
  const fs::path path = dir.path / "all.safetensors";
  nn::save_safetensors(path, tensors, metadata);

  nn::SafetensorsFile file = nn::load_safetensors(path);
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO(tensors[i].first);
    CHECK(file.tensors[i].first == tensors[i].first);  // file order is the given order
    if (i == 6) continue;                              // the counter is checked below
    CHECK(same_bytes(file.tensors[i].second, tensors[i].second));
  }
  const Tensor& counter = file.tensors[6].second;
  CHECK(counter.dtype() == DType::f64);
  CHECK(counter.shape() == Shape{});
  CHECK(counter.item<double>() == 9007199254740991.0);
  CHECK(file.tensors[4].second.shape() == Shape{});
  CHECK(file.tensors[5].second.shape() == Shape{0, 4});
}

TEST_CASE("safetensors layout: padded header, contiguous offsets, I64 counters", "[safetensors]") {
  TempDir dir;
  const fs::path path = dir.path / "layout.safetensors";
  nn::save_safetensors(path,
                       {{"a", Tensor::from_vector<float>({1, 2, 3}, {3})},
                        {"bn1.num_batches_tracked", Tensor::scalar(5, DType::f64)},
                        {"b", Tensor::from_vector<uint8_t>({9}, {1})}},
                       {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  REQUIRE(bytes.size() == 8 + n + 12 + 8 + 1);
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') < n);  // padding (if any) is spaces only
  auto json = nlohmann::json::parse(header);
  CHECK(json["__metadata__"] == nlohmann::json({{"k", "v"}}));
  CHECK(json["a"]["dtype"] == "F32");
  CHECK(json["a"]["data_offsets"] == nlohmann::json({0, 12}));
  CHECK(json["bn1.num_batches_tracked"]["dtype"] == "I64");
  CHECK(json["bn1.num_batches_tracked"]["shape"] == nlohmann::json::array());
  CHECK(json["bn1.num_batches_tracked"]["data_offsets"] == nlohmann::json({12, 20}));
  CHECK(json["b"]["dtype"] == "U8");
  CHECK(json["b"]["data_offsets"] == nlohmann::json({20, 21}));
  int64_t stored_counter = 0;
  std::memcpy(&stored_counter, bytes.data() + 8 + n + 12, 8);
  CHECK(stored_counter == 5);
  float second = 0;
  std::memcpy(&second, bytes.data() + 8 + n + 4, 4);
  CHECK(second == 2.0f);
}

TEST_CASE("safetensors reads a hand-written file (unpadded header, keys not in file order, I64)", "[safetensors]") {
  TempDir dir;
  const fs::path path = dir.path / "hand.safetensors";
  // "second" is listed first but its bytes come last.
  const std::string header =
      R"({"second":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},)"
      R"("first":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"__metadata__":{"who":"hand"}})";
  write_bytes(path, handmade(header, bytes_of<float>({0.5f, -4.0f}) + bytes_of<int64_t>({-3, 1LL << 40})));
  nn::SafetensorsFile file = nn::load_safetensors(path);
  CHECK(file.metadata.at("who") == "hand");
  REQUIRE(file.tensors.size() == 2);
  CHECK(file.tensors[0].first == "first");
  CHECK(file.tensors[0].second.shape() == Shape{1, 2});
  CHECK(file.tensors[0].second.to_vector<float>() == std::vector<float>{0.5f, -4.0f});
  CHECK(file.tensors[1].first == "second");
  CHECK(file.tensors[1].second.dtype() == DType::f64);
  CHECK(file.tensors[1].second.to_vector<double>() == std::vector<double>{-3.0, 1099511627776.0});
}

TEST_CASE("safetensors rejects each kind of bad file with an IOError naming it", "[safetensors][errors]") {
  TempDir dir;
  const std::string f32x2 = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight = bytes_of<float>({1, 2});
  struct BadFile {
    const char* what;
    std::string bytes;
    const char* message;
  };
  const std::vector<BadFile> cases = {
      {"shorter than the length field", "abc", "too short"},
      {"header length past the end", le64(1000) + "{}", "header length 1000 exceeds"},
      {"invalid JSON", handmade(R"({"t": {"dtype": )", ""), "not valid JSON"},
      {"a number past a double's range", handmade(R"({"t": {"dtype": "F32", "shape": [1e999]}})", ""),
       "not valid JSON"},
      {"header not an object", handmade("[1, 2]", ""), "must be a JSON object"},
      {"unknown dtype", handmade(R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", eight),
       "unsupported dtype \"Q4\""},
      {"unsupported half dtype", handmade(R"({"t":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", eight),
       "unsupported dtype \"F16\""},
      {"entry without data_offsets", handmade(R"({"t":{"dtype":"F32","shape":[2]}})", eight),
       "expected an object with dtype, shape and data_offsets"},
      {"negative dimension", handmade(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
       "non-negative integers"},
      {"offsets not matching shape", handmade(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
       "needs 12"},
      {"end before begin", handmade(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight),
       "end before they begin"},
      {"data truncated", handmade(f32x2, eight.substr(0, 5)), "run past the end of the data (5 bytes)"},
      {"offsets out of range", handmade(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4000,4008]}})", eight),
       "run past the end"},
      {"overlapping tensors",
       handmade(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                eight + eight.substr(0, 4)),
       "overlap"},
      {"gap between tensors",
       handmade(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                eight + eight.substr(0, 4)),
       "leave a gap"},
      {"trailing bytes", handmade(f32x2, eight + "xx"), "cover 8 bytes of data, the file holds 10"},
      {"metadata value not a string", handmade(R"({"__metadata__":{"epoch":3}})", ""), "must be a string"},
  };
  for (const BadFile& bad : cases) {
    INFO(bad.what);
    const fs::path path = dir.path / "bad.safetensors";
    write_bytes(path, bad.bytes);
    CHECK_THROWS_AS(nn::load_safetensors(path), IOError);
    CHECK_THROWS_WITH(nn::load_safetensors(path),
                      Catch::StartsWith("load_safetensors: " + path.string() + ": ") && Catch::Contains(bad.message));
  }
  const fs::path missing = dir.path / "missing.safetensors";
  CHECK_THROWS_AS(nn::load_safetensors(missing), IOError);
  CHECK_THROWS_WITH(nn::load_safetensors(missing), Catch::Contains(missing.string()) && Catch::Contains("cannot open"));
}

TEST_CASE("save_safetensors rejects bad arguments before touching the file", "[safetensors][errors]") {
  TempDir dir;
  const fs::path path = dir.path / "args.safetensors";
  Tensor t = Tensor::ones({2});
  CHECK_THROWS_AS(nn::save_safetensors(path, {{"a", t}, {"a", t}}), ValueError);
  CHECK_THROWS_WITH(nn::save_safetensors(path, {{"a", t}, {"a", t}}),
                    Catch::StartsWith("save_safetensors") && Catch::Contains("duplicate tensor name \"a\""));
  CHECK_THROWS_WITH(nn::save_safetensors(path, {{"a", Tensor()}}), Catch::Contains("\"a\" is undefined"));
  CHECK_THROWS_WITH(nn::save_safetensors(path, {{"__metadata__", t}}), Catch::Contains("not \"__metadata__\""));
  CHECK_THROWS_WITH(nn::save_safetensors(path, {{"", t}}), Catch::Contains("non-empty"));
  CHECK_THROWS_AS(nn::save_safetensors(path, {{"bn.num_batches_tracked", Tensor::scalar(2.5, DType::f64)}}),
                  ValueError);
  CHECK_THROWS_WITH(nn::save_safetensors(path, {{"bn.num_batches_tracked", Tensor::scalar(2.5, DType::f64)}}),
                    Catch::Contains("must hold integers"));
  CHECK_THROWS_AS(nn::save_safetensors(path, {{std::string("bad\xff"), t}}), ValueError);
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(has_temp_file(dir.path));
}

TEST_CASE("save_safetensors is atomic: a failed write leaves the old file and no temp file", "[safetensors][atomic]") {
  TempDir dir;
  const fs::path path = dir.path / "model.safetensors";
  nn::save_safetensors(path, {{"w", Tensor::from_vector<float>({1, 2, 3}, {3})}}, {{"version", "1"}});
  const std::string original = read_bytes(path);

  SECTION("a successful save replaces the file whole") {
    nn::save_safetensors(path, {{"w", Tensor::from_vector<float>({4, 5}, {2})}}, {{"version", "2"}});
    nn::SafetensorsFile file = nn::load_safetensors(path);
    CHECK(file.metadata.at("version") == "2");
    CHECK(file.tensors.at(0).second.to_vector<float>() == std::vector<float>{4, 5});
    CHECK_FALSE(has_temp_file(dir.path));
  }
  SECTION("the temp file cannot be created (its name is taken by a folder)") {
    const fs::path blocker = path.string() + ".tmp-" + std::to_string(::getpid());
    fs::create_directory(blocker);
    CHECK_THROWS_AS(nn::save_safetensors(path, {{"w", Tensor::ones({3})}}), IOError);
    CHECK_THROWS_WITH(nn::save_safetensors(path, {{"w", Tensor::ones({3})}}),
                      Catch::StartsWith("save_safetensors: cannot write " + path.string()));
    CHECK(read_bytes(path) == original);
    CHECK(fs::is_directory(blocker));  // not ours to remove
  }
  SECTION("the parent folder does not exist") {
    const fs::path nowhere = dir.path / "no_such_folder" / "model.safetensors";
    CHECK_THROWS_AS(nn::save_safetensors(nowhere, {{"w", Tensor::ones({3})}}), IOError);
    CHECK_THROWS_WITH(nn::save_safetensors(nowhere, {{"w", Tensor::ones({3})}}), Catch::Contains(nowhere.string()));
    CHECK_FALSE(fs::exists(nowhere.parent_path()));
    CHECK(read_bytes(path) == original);
  }
  SECTION("the rename fails (the target name is an existing folder): the temp file is removed") {
    const fs::path folder = dir.path / "taken.safetensors";
    fs::create_directory(folder);
    write_bytes(folder / "inside.txt", "keep me");
    CHECK_THROWS_AS(nn::save_safetensors(folder, {{"w", Tensor::ones({1000})}}), IOError);
    CHECK_THROWS_WITH(
        nn::save_safetensors(folder, {{"w", Tensor::ones({1000})}}),
        Catch::StartsWith("save_safetensors: cannot write " + folder.string()) && Catch::Contains("renaming"));
    CHECK(read_bytes(folder / "inside.txt") == "keep me");
    CHECK_FALSE(has_temp_file(dir.path));
    CHECK(read_bytes(path) == original);
  }
  SECTION("a bad argument fails before the old file is touched") {
    CHECK_THROWS_AS(nn::save_safetensors(path, {{"x.num_batches_tracked", Tensor::scalar(0.5, DType::f64)}}),
                    ValueError);
    CHECK(read_bytes(path) == original);
    CHECK_FALSE(has_temp_file(dir.path));
  }
}
