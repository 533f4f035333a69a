#pragma once
// Runs Catch2 on the command line; the implementation is compiled once, in
// catch_session.cpp (Catch2 v2 declares its Session only with the implementation).
namespace engram::testing {
int run_catch(int argc, char* argv[]);
}
