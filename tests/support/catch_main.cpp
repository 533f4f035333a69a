// Entry point of the CPU test programs.
#include "tests/support/catch_session.h"

int main(int argc, char* argv[]) { return engram::testing::run_catch(argc, argv); }
