#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/philox.h"
#include "core/random.h"

using namespace engram;

TEST_CASE("Philox-4x32-10 matches the Random123 known-answer vectors", "[random]") {
  // Known-answer tests from the Random123 distribution (kat_vectors).
  auto zero = philox::philox4x32_10({0, 0, 0, 0}, 0, 0);
  CHECK(zero.x == 0x6627e8d5u);
  CHECK(zero.y == 0xe169c58du);
  CHECK(zero.z == 0xbc57ac4cu);
  CHECK(zero.w == 0x9b00dbd8u);
  auto ones = philox::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu);
  CHECK(ones.x == 0x408f276du);
  CHECK(ones.y == 0x41c83b0eu);
  CHECK(ones.z == 0xa20bc7c6u);
  CHECK(ones.w == 0x6d5451fdu);
  auto pi = philox::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u);
  CHECK(pi.x == 0xd16cfe09u);
  CHECK(pi.y == 0x94fdccebu);
  CHECK(pi.z == 0x5001e420u);
  CHECK(pi.w == 0x24126ea1u);
}

TEST_CASE("random tensors depend only on (seed, stream)", "[random]") {
  Generator a(42), b(42), c(43);
  std::vector<float> ua = random::uniform({1000}, -1, 1, a).to_vector<float>();
  std::vector<float> ub = random::uniform({1000}, -1, 1, b).to_vector<float>();
  std::vector<float> uc = random::uniform({1000}, -1, 1, c).to_vector<float>();
  CHECK(ua == ub);
  CHECK(ua != uc);
  CHECK(a.offset() == 1);
  // The next draw uses a new stream.
  CHECK(random::uniform({1000}, -1, 1, a).to_vector<float>() != ua);
  CHECK(*std::min_element(ua.begin(), ua.end()) >= -1.0f);
  CHECK(*std::max_element(ua.begin(), ua.end()) < 1.0f);
}

TEST_CASE("normal and uniform have the right moments", "[random]") {
  Generator gen(7);
  std::vector<double> n = random::normal({200000}, 1.0, 2.0, gen, DType::f64).to_vector<double>();
  double mean = std::accumulate(n.begin(), n.end(), 0.0) / n.size();
  double var = 0;
  for (double v : n) var += (v - mean) * (v - mean);
  var /= n.size();
  CHECK(mean == Approx(1.0).margin(0.02));
  CHECK(var == Approx(4.0).epsilon(0.02));

  std::vector<float> u = random::uniform({200000}, 0, 1, gen).to_vector<float>();
  double umean = std::accumulate(u.begin(), u.end(), 0.0) / u.size();
  CHECK(umean == Approx(0.5).margin(0.005));
}

TEST_CASE("randint covers its range and nothing else", "[random]") {
  Generator gen(3);
  std::vector<int32_t> r = random::randint({10000}, -3, 4, gen).to_vector<int32_t>();
  std::vector<int> counts(7, 0);
  for (int32_t v : r) {
    REQUIRE(v >= -3);
    REQUIRE(v < 4);
    counts[v + 3]++;
  }
  for (int c : counts) CHECK(c > 1200);
  CHECK_THROWS_AS(random::randint({1}, 2, 2, gen), ValueError);
}

TEST_CASE("permutation is a reproducible permutation", "[random]") {
  std::vector<int32_t> p = random::permutation(1000, 11, 5);
  std::vector<int32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int32_t i = 0; i < 1000; ++i) REQUIRE(sorted[i] == i);
  CHECK(p == random::permutation(1000, 11, 5));
  CHECK(p != random::permutation(1000, 11, 6));
  CHECK(random::permutation(0, 1, 1).empty());
}
