// Catch2's implementation, compiled once for every test program (the mains
// are catch_main.cpp and cuda_main.cpp). Built without optimisation: it is
// the slowest file of the build to optimise, and the test runner's own speed
// does not matter.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/support/catch_session.h"

int engram::testing::run_catch(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
