// Crash consistency of the programs. `spaced_kd` and `train` are killed with
// SIGKILL at many points, then resumed with --resume; every resumed run must
// end with the weights and metrics of an uninterrupted run, bitwise, and no
// checkpoint may ever be left unreadable. And a disk that fills up (a file
// size limit, RLIMIT_FSIZE) stops a run with an error naming the file while
// the previous checkpoint stays as it was. The kill points:
//   - every file-system event in the run folder up to the first epoch's
//     checkpoint: each metrics file and the checkpoint is a temporary file
//     created, written and closed, then renamed into place (inotify shows
//     each step, and the kill follows it within microseconds); and every
//     event of the second epoch's checkpoint, which replaces the first;
//   - moments inside the epochs, timed from the progress lines, where
//     teacher steps and the student's replays alternate.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/support/programs.h"

using namespace engram;
using namespace engram::testing;
namespace fs = std::filesystem;

namespace {

struct Program {
  std::string name;
  std::vector<std::string> args;  // with --out DIR
  std::string run_folder;         // where the run's checkpoint and metrics go, inside DIR
  std::vector<std::string> resume_args(const std::string& out) const {
    std::vector<std::string> a = with_out(out);
    const std::string checkpoint = out + "/" + run_folder + "/last.safetensors";
    if (name == "spaced_kd") a.push_back("--resume");
    if (name == "train" && fs::exists(checkpoint)) a.insert(a.end(), {"--resume", checkpoint});
    return a;
  }
  std::vector<std::string> with_out(const std::string& out) const {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--out", out});
    return a;
  }
};

const Program kSpacedKd{"spaced_kd",
                        {"--modes",   "spaced",  "--s",      "0.5", "--seeds",          "1",  "--teacher",    "resnet8",
                         "--student", "resnet8", "--subset", "64",  "--test-subset",    "50", "--eval-batch", "50",
                         "--epochs",  "2",       "--batch",  "16",  "--bn-recalibrate", "0",  "--device",     "cpu"},
                        "spaced-s0.5/seed0"};
const Program kTrain{"train",
                     {"--model", "resnet8", "--subset", "64", "--test-subset", "50", "--eval-batch", "50", "--epochs",
                      "2", "--batch", "16", "--device", "cpu"},
                     ""};

// Starts the program with its output in `log`. With `file_size_limit`, no
// file it writes may grow past that many bytes: a write past it fails with
// EFBIG, as one on a full disk fails with ENOSPC.
pid_t spawn(const Program& program, const std::vector<std::string>& args, const std::string& log,
            rlim_t file_size_limit = RLIM_INFINITY) {
  const std::string path = kPrograms + "/" + program.name;
  std::vector<char*> argv{const_cast<char*>(path.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("OMP_NUM_THREADS", "2", 1);
    if (file_size_limit != RLIM_INFINITY) {
      signal(SIGXFSZ, SIG_IGN);  // else the kernel ends the process instead of failing the write
      const rlimit limit{file_size_limit, file_size_limit};
      setrlimit(RLIMIT_FSIZE, &limit);
    }
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for the process; its exit status, or 128 + the signal that ended it.
int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool exited(pid_t pid, int& status) {
  int raw = 0;
  if (waitpid(pid, &raw, WNOHANG) != pid) return false;
  status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return true;
}

// The file events of a folder: a file created, closed after writing, or renamed into it.
class FolderEvents {
 public:
  explicit FolderEvents(const std::string& dir) : fd_(inotify_init1(IN_NONBLOCK)) {
    fs::create_directories(dir);
    REQUIRE(inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0);
  }
  ~FolderEvents() { close(fd_); }
  // Appends the events that arrived within `timeout_ms` ("create metrics.csv.tmp", ...).
  void read(std::vector<std::string>& out, int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return;
    alignas(inotify_event) char buffer[16384];
    const ssize_t got = ::read(fd_, buffer, sizeof buffer);
    for (ssize_t at = 0; at < got;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
      const char* kind = (e->mask & IN_CREATE) ? "create" : (e->mask & IN_CLOSE_WRITE) ? "written" : "renamed to";
      out.push_back(std::string(kind) + " " + (e->len ? e->name : ""));
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }

 private:
  int fd_;
};

// Runs the program to the end, recording the events of its run folder.
std::vector<std::string> run_recording_events(const Program& program, const std::string& out) {
  FolderEvents events(out + "/" + program.run_folder);
  const pid_t pid = spawn(program, program.with_out(out), out + ".log");
  std::vector<std::string> seen;
  int status = -1;
  while (!exited(pid, status)) events.read(seen, 20);
  events.read(seen, 0);
  REQUIRE(status == 0);
  return seen;
}

// Kills the program right after the `k`-th event of its run folder.
void kill_after_event(const Program& program, const std::string& out, size_t k) {
  FolderEvents events(out + "/" + program.run_folder);
  const pid_t pid = spawn(program, program.with_out(out), out + ".log");
  std::vector<std::string> seen;
  int status = -1;
  while (seen.size() < k && !exited(pid, status)) events.read(seen, 20);
  REQUIRE(seen.size() >= k);  // the run did not finish first
  kill(pid, SIGKILL);
  CHECK(wait_for(pid) == 128 + SIGKILL);
}

// Kills the program `delay` after its output first contains `line`.
void kill_after_line(const Program& program, const std::string& out, const std::string& line,
                     std::chrono::milliseconds delay) {
  const std::string log = out + ".log";
  const pid_t pid = spawn(program, program.with_out(out), log);
  int status = -1;
  while (read_file(log).find(line) == std::string::npos) {
    REQUIRE(!exited(pid, status));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  CHECK(wait_for(pid) >= 0);
}

// After a kill: the checkpoint, if there is one, loads; then --resume runs
// to the end and matches the uninterrupted run.
void resume_and_compare(const Program& program, const std::string& out, const std::string& reference) {
  const std::string run = out + "/" + program.run_folder, ref = reference + "/" + program.run_folder;
  if (fs::exists(run + "/last.safetensors")) CHECK_NOTHROW(nn::load_safetensors(run + "/last.safetensors"));
  const pid_t pid = spawn(program, program.resume_args(out), out + ".resumed.log");
  INFO(read_file(out + ".resumed.log"));
  REQUIRE(wait_for(pid) == 0);
  CHECK(first_tensor_difference(run + "/last.safetensors", ref + "/last.safetensors") == "");
  CHECK(without_seconds(read_file(run + "/metrics.csv")) == without_seconds(read_file(ref + "/metrics.csv")));
}

// Every event up to the first checkpoint's rename, every event of the
// second checkpoint's write (the one that replaces a checkpoint), then the
// progress points.
int kill_everywhere(const Program& program, const std::string& label, const std::vector<std::string>& progress_lines) {
  const std::string dir = program_dir("crash_" + label);
  const std::string reference = dir + "/reference";
  const std::vector<std::string> events = run_recording_events(program, reference);
  std::vector<size_t> after;  // kill after this many events
  size_t checkpoints = 0;
  for (size_t i = 0; i < events.size() && checkpoints < 2; ++i) {
    const bool checkpoint_file = events[i].find("last.safetensors") != std::string::npos;
    if (checkpoints == 0 || checkpoint_file) after.push_back(i + 1);
    if (events[i] == "renamed to last.safetensors") ++checkpoints;
  }
  REQUIRE(checkpoints == 2);
  int kills = 0;
  for (size_t k : after) {
    INFO(label << ": killed after event " << k << " (" << events[k - 1] << ")");
    const std::string out = dir + "/event" + std::to_string(k);
    kill_after_event(program, out, k);
    resume_and_compare(program, out, reference);
    ++kills;
  }
  for (size_t i = 0; i < progress_lines.size(); ++i) {
    const auto delay = std::chrono::milliseconds(40 * static_cast<int>(i % 4));
    INFO(label << ": killed " << delay.count() << " ms after \"" << progress_lines[i] << "\"");
    const std::string out = dir + "/progress" + std::to_string(i);
    kill_after_line(program, out, progress_lines[i], delay);
    resume_and_compare(program, out, reference);
    ++kills;
  }
  fs::remove_all(dir);
  return kills;
}

}  // namespace

TEST_CASE("spaced_kd killed anywhere resumes to the uninterrupted run, bitwise", "[programs][crash][e2e]") {
  // 4 steps an epoch, a replay of 2 batches after every 2nd teacher step.
  const int kills = kill_everywhere(kSpacedKd, "spaced_kd",
                                    {"epoch 1/2 1/4", "epoch 1/2 2/4", "epoch 1/2 3/4", "epoch 2/2 1/4",
                                     "epoch 2/2 2/4", "epoch 2/2 3/4", "epoch 2/2 4/4"});
  CHECK(kills >= 10);
  std::printf("test_crash_resume: spaced_kd killed at %d points, every resumed run bitwise equal\n", kills);
}

TEST_CASE("train killed anywhere resumes to the uninterrupted run, bitwise", "[programs][crash][e2e]") {
  const int kills = kill_everywhere(kTrain, "train", {"epoch 1/2 2/4", "epoch 2/2 1/4", "epoch 2/2 3/4"});
  CHECK(kills >= 10);
  std::printf("test_crash_resume: train killed at %d points, every resumed run bitwise equal\n", kills);
}

TEST_CASE("a disk that fills up stops spaced_kd naming the file, and the last checkpoint stays intact",
          "[programs][crash][e2e]") {
  const std::string dir = program_dir("full_disk");
  const std::string out = dir + "/run", run = out + "/" + kSpacedKd.run_folder;
  // Killed right after the first epoch's checkpoint was renamed into place.
  const std::vector<std::string> events = run_recording_events(kSpacedKd, dir + "/reference");
  const size_t renamed = std::find(events.begin(), events.end(), "renamed to last.safetensors") - events.begin();
  REQUIRE(renamed < events.size());
  kill_after_event(kSpacedKd, out, renamed + 1);
  const std::string checkpoint = read_file(run + "/last.safetensors");
  REQUIRE(!checkpoint.empty());

  // The metrics files fit under the limit, the next checkpoint does not.
  const pid_t pid = spawn(kSpacedKd, kSpacedKd.resume_args(out), dir + "/full.log", checkpoint.size() / 2);
  CHECK(wait_for(pid) == 1);
  const std::string log = read_file(dir + "/full.log");
  INFO(log);
  CHECK_THAT(log, Catch::Contains("error:") && Catch::Contains(run + "/last.safetensors") &&
                      Catch::Contains("File too large"));
  CHECK(read_file(run + "/last.safetensors") == checkpoint);
  for (const fs::directory_entry& entry : fs::directory_iterator(run))
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);  // no temporary left behind
  // With room again, the run resumes from that checkpoint to the uninterrupted run's end.
  resume_and_compare(kSpacedKd, out, dir + "/reference");
  fs::remove_all(dir);
}
