#include "nightshift/runtime/process_runner.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Only catches a hang; no test relies on how fast a shared machine is.
constexpr auto kHangLimit = 60s;

// Each test's own folder, named after this file.
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("process_runner_test") {}
};

// A new log file's path in its own folder: a log is never written twice, and
// the runner makes no folders (the executor makes a run's, once).
std::string fresh_log(const TempDir& dir) {
  static std::atomic<int> count{0};
  std::string folder = dir / ("logs/" + std::to_string(++count));
  fs::create_directories(folder);
  return folder + "/step.1.log";
}

StepInvocation command(std::vector<std::string> argv, const TempDir& dir) {
  StepInvocation step;
  step.run_id = 1;
  step.job = "test";
  step.step = "step";
  step.kind = StepKind::command;
  step.argv = std::move(argv);
  step.env = {{"PATH", "/usr/bin:/bin"}};
  step.log_path = fresh_log(dir);
  return step;
}

StepInvocation shell(const std::string& script, const TempDir& dir) {
  StepInvocation step = command({"/bin/sh", "-c", script}, dir);
  step.kind = StepKind::shell;
  return step;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs one attempt to its end, on a fresh io_context run by this thread.
StepResult run(const StepInvocation& step, Duration output_drain = 5s,
               StepLog::WriteFunction write_log = {}) {
  boost::asio::io_context io;
  ProcessRunner runner(io, output_drain, std::move(write_log));
  std::optional<StepResult> result;
  int calls = 0;
  runner.start(step, [&](StepResult r) {
    ++calls;
    result = std::move(r);
  });
  io.run_for(kHangLimit);
  REQUIRE(calls == 1);
  return *result;
}

// No child of ours is left, running or zombie.
bool no_children_left() {
  errno = 0;
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

std::size_t open_fd_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

// Dead, or a zombie waiting for its reaper: some containers' pid 1 never reaps
// orphans, which is not ours to fix.
bool is_dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

// Polls until the process is dead; SIGKILL is delivered asynchronously.
bool becomes_dead(pid_t pid) {
  auto give_up = std::chrono::steady_clock::now() + 20s;
  while (!is_dead(pid)) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

pid_t read_pid(const std::string& path) {
  std::string text = read_file(path);
  INFO("pid file " << path << " holds '" << text << "'");
  REQUIRE(!text.empty());
  return static_cast<pid_t>(std::stol(text));
}

// Calls `then` on io once `path` exists, polling it (the step writes it).
void when_file_exists(boost::asio::io_context& io, const std::string& path,
                      std::function<void()> then) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io, 10ms);
  timer->async_wait([&io, path, then, timer](const boost::system::error_code&) {
    if (fs::exists(path)) {
      then();
    } else {
      when_file_exists(io, path, then);
    }
  });
}

// A script line that writes the pid of a `sleep 1000` started in the
// background to `pid_file`, atomically so a reader never sees half of it.
std::string start_background_sleep(const std::string& pid_file) {
  return "sleep 1000 & echo $! > '" + pid_file + ".tmp' && mv '" + pid_file + ".tmp' '" + pid_file +
         "'; ";
}

}  // namespace

TEST_CASE("process runner: exit 0 succeeds and the log holds stdout and stderr") {
  TempDir dir;
  StepInvocation step = shell("echo out; echo err >&2; printf 'no newline'", dir);
  StepResult result = run(step);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(result.error.empty());
  CHECK(read_file(step.log_path) == "out\nerr\nno newline");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a non-zero exit fails with its exit code") {
  TempDir dir;
  StepInvocation step = shell("echo failing; exit 3", dir);
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 3);
  CHECK(read_file(step.log_path) == "failing\n");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: death by a signal is 128 plus the signal") {
  TempDir dir;
  // The step must get default dispositions and an empty mask whatever the daemon has.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGUSR1, &ignore, &previous) == 0);
  sigset_t usr1;
  sigset_t previous_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr1, &previous_mask) == 0);

  StepResult result = run(shell("kill -USR1 $$; sleep 1000", dir));

  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  ::sigaction(SIGUSR1, &previous, nullptr);
  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 128 + SIGUSR1);
  CHECK(result.error == "killed by signal 10 (SIGUSR1) from outside nightshift");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a SIGKILL nightshift did not send is named as such") {
  TempDir dir;
  StepResult result = run(shell("kill -KILL $$", dir));
  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 128 + SIGKILL);
  CHECK(result.error == "killed by signal 9 (SIGKILL) from outside nightshift");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a missing program fails with 127 and says so in the log") {
  TempDir dir;
  StepInvocation step = command({"/no/such", "arg"}, dir);
  boost::asio::io_context io;
  ProcessRunner runner(io);
  std::optional<StepResult> result;
  runner.start(step, [&](StepResult r) { result = std::move(r); });
  CHECK_FALSE(result.has_value());  // never from inside start()
  io.run_for(kHangLimit);
  REQUIRE(result.has_value());
  CHECK(result->outcome == StepState::failed);
  CHECK(result->exit_code == 127);
  CHECK(result->error == "cannot start '/no/such': No such file or directory");
  CHECK(read_file(step.log_path) == "cannot start '/no/such': No such file or directory\n");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: the environment is exactly the given one") {
  TempDir dir;
  StepInvocation step = command({"env"}, dir);
  step.env = {{"PATH", "/usr/bin:/bin"}, {"NIGHTSHIFT_DATE", "2026-11-17"}, {"SPACED", "a b  c"}};
  StepResult result = run(step);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(read_file(step.log_path) ==
        "PATH=/usr/bin:/bin\nNIGHTSHIFT_DATE=2026-11-17\nSPACED=a b  c\n");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: the step runs in its workdir") {
  TempDir dir;
  fs::create_directory(dir / "work");

  SECTION("an existing directory") {
    StepInvocation step = command({"pwd"}, dir);
    step.workdir = dir / "work";
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == step.workdir + "\n");
  }
  SECTION("a relative program path is taken from the workdir") {
    std::ofstream(dir / "work/hello.sh") << "#!/bin/sh\necho hello from work\n";
    fs::permissions(dir / "work/hello.sh", fs::perms::owner_all);
    StepInvocation step = command({"./hello.sh"}, dir);
    step.workdir = dir / "work";
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "hello from work\n");
  }
  SECTION("a missing directory") {
    StepInvocation step = command({"pwd"}, dir);
    step.workdir = dir / "missing";
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.exit_code == 127);
    CHECK(result.error ==
          "cannot change to workdir '" + step.workdir + "': No such file or directory");
    CHECK(read_file(step.log_path) == result.error + "\n");
  }
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a program name is looked up in the step's PATH") {
  TempDir dir;
  SECTION("command: [sh, -c, ...]") {
    StepInvocation step = command({"sh", "-c", "echo via path"}, dir);
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "via path\n");
  }
  SECTION("the step's PATH, not the daemon's") {
    fs::create_directory(dir / "bin");
    std::ofstream(dir / "bin/nightshift-probe") << "#!/bin/sh\necho probe ran\n";
    fs::permissions(dir / "bin/nightshift-probe", fs::perms::owner_all);
    StepInvocation step = command({"nightshift-probe"}, dir);
    step.env = {{"PATH", "/nonexistent:" + (dir / "bin")}};
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "probe ran\n");
  }
  SECTION("a name missing from the step's PATH") {
    StepInvocation step = command({"sh", "-c", "true"}, dir);
    step.env = {{"PATH", dir / "empty"}};
    StepResult result = run(step);
    CHECK(result.outcome == StepState::failed);
    CHECK(result.exit_code == 127);
    CHECK(result.error == "cannot start 'sh': No such file or directory");
  }
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a timeout stops the whole process group") {
  TempDir dir;
  StepInvocation step = shell(start_background_sleep(dir / "grandchild.pid") + "sleep 1000", dir);
  step.timeout = 2s;  // leaves the shell ample time to write the pid file
  auto started = std::chrono::steady_clock::now();
  StepResult result = run(step);
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  CHECK(result.outcome == StepState::timed_out);
  CHECK(becomes_dead(read_pid(dir / "grandchild.pid")));
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a step ignoring SIGTERM is killed after kill_grace") {
  TempDir dir;
  StepInvocation step = shell("trap '' TERM; echo trapped; while :; do sleep 1; done", dir);
  step.timeout = 2s;  // leaves the shell ample time to set its trap
  step.kill_grace = 200ms;
  StepResult result = run(step);
  CHECK(result.outcome == StepState::timed_out);
  CHECK(result.exit_code == 128 + SIGKILL);
  CHECK(result.error ==
        "timed out: nightshift sent SIGTERM to the process group; "
        "still running kill_grace after SIGTERM: nightshift sent SIGKILL");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a step that exits on SIGTERM does not wait for kill_grace") {
  TempDir dir;
  StepInvocation step = shell("sleep 1000", dir);
  step.timeout = 200ms;
  step.kill_grace = 600s;
  auto started = std::chrono::steady_clock::now();
  StepResult result = run(step);
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  CHECK(result.outcome == StepState::timed_out);
  CHECK(result.exit_code == 128 + SIGTERM);
  CHECK(result.error == "timed out: nightshift sent SIGTERM to the process group");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: cancel stops the group and ends as cancelled") {
  TempDir dir;
  StepInvocation step = shell(start_background_sleep(dir / "grandchild.pid") + "sleep 1000", dir);
  boost::asio::io_context io;
  ProcessRunner runner(io);
  std::optional<StepResult> result;
  int calls = 0;
  std::shared_ptr<StepHandle> handle = runner.start(step, [&](StepResult r) {
    ++calls;
    result = std::move(r);
  });
  when_file_exists(io, dir / "grandchild.pid", [&] {
    handle->cancel();
    handle->cancel();  // idempotent
  });
  io.run_for(kHangLimit);
  REQUIRE(calls == 1);
  CHECK(result->outcome == StepState::cancelled);
  CHECK(result->error == "cancelled: nightshift sent SIGTERM to the process group");
  CHECK(becomes_dead(read_pid(dir / "grandchild.pid")));

  handle->cancel();  // after the end: nothing happens
  io.restart();
  io.run_for(kHangLimit);
  CHECK(calls == 1);
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: destroying the io_context mid-attempt leaves no process behind") {
  TempDir dir;
  std::string pid_file = dir / "grandchild.pid";
  bool called = false;
  {
    boost::asio::io_context io;
    ProcessRunner runner(io);
    runner.start(shell(start_background_sleep(pid_file) + "sleep 1000", dir),
                 [&](StepResult) { called = true; });
    when_file_exists(io, pid_file, [&] { io.stop(); });
    io.run_for(kHangLimit);
  }
  CHECK_FALSE(called);  // there is no io_context left to call it on
  CHECK(becomes_dead(read_pid(pid_file)));
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a background child left by an exiting leader is killed") {
  TempDir dir;
  StepInvocation step = shell(start_background_sleep(dir / "orphan.pid") + "echo leader done", dir);
  StepResult result = run(step);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(read_file(step.log_path) == "leader done\n");
  CHECK(becomes_dead(read_pid(dir / "orphan.pid")));
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a process escaping the group does not hold the attempt open") {
  TempDir dir;
  std::string pid_file = dir / "escaped.pid";
  // setsid puts the sleep out of reach of kill(-pgid); it still holds the pipe.
  StepInvocation step = shell("setsid sh -c 'echo $$ > " + pid_file + ".tmp && mv " + pid_file +
                                  ".tmp " + pid_file + "; exec sleep 1000' & " + "while [ ! -e " +
                                  pid_file + " ]; do sleep 0.01; done; echo bye",
                              dir);
  StepResult result = run(step, 300ms);
  pid_t escaped = read_pid(pid_file);
  ::kill(escaped, SIGKILL);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.error == "the output was still held open by a process outside the step's group");
  CHECK(read_file(step.log_path) == "bye\n");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: large output lands byte-exact in the log") {
  TempDir dir;
  constexpr std::size_t kSize = 50'000'000;
  {
    std::mt19937_64 random(42);
    std::vector<std::uint64_t> block(kSize / sizeof(std::uint64_t));
    for (auto& word : block) word = random();
    std::ofstream(dir / "expected", std::ios::binary)
        .write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(kSize));
  }
  StepInvocation step = command({"head", "-c", std::to_string(kSize), dir / "expected"}, dir);
  StepResult result = run(step);
  CHECK(result.outcome == StepState::succeeded);
  std::string expected = read_file(dir / "expected");
  std::string logged = read_file(step.log_path);
  REQUIRE(logged.size() == kSize);
  bool identical = logged == expected;
  CHECK(identical);
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a log that cannot be written is reported, the step still drained") {
  TempDir dir;
  StepInvocation step = shell("head -c 1000000 /dev/zero; echo done >&2", dir);
  // The disk fills up after 4096 bytes.
  std::size_t taken = 0;
  auto disk = [&taken](int fd, const void* data, std::size_t size) -> ssize_t {
    if (taken >= 4096) {
      errno = ENOSPC;
      return -1;
    }
    ssize_t written = ::write(fd, data, std::min<std::size_t>(size, 4096 - taken));
    if (written > 0) taken += static_cast<std::size_t>(written);
    return written;
  };
  StepResult result = run(step, 5s, disk);
  CHECK(result.outcome == StepState::succeeded);
  CHECK(result.exit_code == 0);
  CHECK(result.log_incomplete);
  CHECK(result.error ==
        "the log is incomplete: cannot write '" + step.log_path + "': No space left on device");
  CHECK(read_file(step.log_path) == std::string(4096, '\0'));
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a log that exists already is not overwritten; the attempt fails") {
  TempDir dir;
  StepInvocation step = shell("touch '" + (dir / "ran") + "'", dir);
  std::ofstream(step.log_path) << "an earlier attempt's log\n";
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  CHECK_FALSE(result.log_incomplete);
  CHECK(result.error == "cannot open log '" + step.log_path +
                            "': File exists (a log is never overwritten)");
  CHECK(read_file(step.log_path) == "an earlier attempt's log\n");
  CHECK_FALSE(fs::exists(dir / "ran"));
}

TEST_CASE("process runner: the step's secrets are *** in its log, however they are written") {
  TempDir dir;
  const std::string secret = "hunter2-Pa55";
  SECTION("on stdout and stderr, whole, inside a longer word, and in a multi-line value") {
    StepInvocation step = shell(
        "echo \"pw=$SECRET\"; echo \"$SECRET\" >&2; echo \"x${SECRET}y\"; echo \"$KEY\"", dir);
    step.env.emplace_back("SECRET", secret);
    step.env.emplace_back("KEY", "line-one-of-key\nline-two-of-key");
    step.secrets = {secret, "line-one-of-key\nline-two-of-key"};
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "pw=***\n***\nx***y\n***\n");
  }
  SECTION("split across writes, and across reads of the pipe") {
    // Each printf is its own write; the sleeps make them separate reads too.
    StepInvocation step = shell(
        "printf 'a %s' \"${SECRET%-Pa55}\"; sleep 0.2; printf -- '-Pa'; sleep 0.2; "
        "printf '55 b\\n'; printf '%s' \"$SECRET\" >&2",
        dir);
    step.env.emplace_back("SECRET", secret);
    step.secrets = {secret};
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "a *** b\n***");
  }
  SECTION("large output with the secret across many reads of the pipe") {
    // ~900 KB: the pipe is read 64 KiB at a time, so reads end inside the
    // secret at offsets that vary with the padding.
    std::string input;
    std::string expected;
    for (int i = 0; i < 30000; ++i) {
      std::string pad(static_cast<std::size_t>(i % 37), ' ');
      input += secret + pad;
      expected += "***" + pad;
    }
    std::ofstream(dir / "input", std::ios::binary) << input;
    StepInvocation step = command({"cat", dir / "input"}, dir);
    step.secrets = {secret};
    StepResult result = run(step);
    CHECK(result.outcome == StepState::succeeded);
    std::string log = read_file(step.log_path);
    CHECK(log.size() == expected.size());
    CHECK((log == expected));
  }
  SECTION("an error that quotes what the step was given") {
    StepInvocation step = command({"/no/such/" + secret}, dir);
    step.secrets = {secret};
    StepResult result = run(step);
    CHECK(result.error == "cannot start '/no/such/***': No such file or directory");
    CHECK(read_file(step.log_path) == result.error + "\n");
  }
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a log that cannot be opened fails the attempt") {
  TempDir dir;
  std::ofstream(dir / "file") << "not a directory";
  StepInvocation step = shell("touch '" + (dir / "ran") + "'", dir);
  step.log_path = dir / "file/step.1.log";  // its folder is a file
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  CHECK_FALSE(result.exit_code.has_value());
  CHECK(result.error.rfind("cannot open log '" + step.log_path + "': ", 0) == 0);
  CHECK_FALSE(fs::exists(dir / "ran"));
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: an sql step is refused") {
  TempDir dir;
  StepInvocation step = command({}, dir);
  step.kind = StepKind::sql;
  step.sql = "SELECT 1;";
  StepResult result = run(step);
  CHECK(result.outcome == StepState::failed);
  CHECK(result.error == "the process runner cannot run sql steps");
}

TEST_CASE("process runner: no fd leaks, and the child inherits only stdin, stdout, stderr") {
  TempDir dir;
  std::size_t before = open_fd_count();
  {
    // An fd some library opened without O_CLOEXEC must not reach the step either.
    int stray = ::open("/dev/null", O_RDONLY);
    REQUIRE(stray >= 0);
    StepInvocation step = shell("readlink /proc/$$/fd/0; [ -e /proc/$$/fd/" +
                                    std::to_string(stray) + " ] && echo leaked || echo closed",
                                dir);
    StepResult inherited = run(step);
    ::close(stray);
    CHECK(inherited.outcome == StepState::succeeded);
    CHECK(read_file(step.log_path) == "/dev/null\nclosed\n");

    run(shell("exit 0", dir));
    run(command({"/no/such"}, dir));
    StepInvocation unopenable = shell("exit 0", dir);
    unopenable.log_path = "/proc/no/such/log";
    run(unopenable);
    StepInvocation timing_out = shell("sleep 1000", dir);
    timing_out.timeout = 100ms;
    run(timing_out);
  }
  CHECK(open_fd_count() == before);
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: 50 concurrent attempts on two threads all complete") {
  TempDir dir;
  constexpr int kAttempts = 50;
  boost::asio::io_context io;
  ProcessRunner runner(io);
  std::mutex mutex;
  std::vector<std::optional<StepResult>> results(kAttempts);
  std::vector<std::shared_ptr<StepHandle>> handles(kAttempts);
  std::vector<StepInvocation> steps;
  for (int i = 0; i < kAttempts; ++i) {
    StepInvocation step =
        shell("echo attempt $NIGHTSHIFT_ATTEMPT; exit " + std::to_string(i % 4), dir);
    step.attempt = i + 1;
    step.env.emplace_back("NIGHTSHIFT_ATTEMPT", std::to_string(i + 1));
    step.log_path = fresh_log(dir);
    if (i % 10 == 9) {  // some are stopped while others finish
      step.timeout = 100ms;
      step.argv.back() = "sleep 1000";
    }
    steps.push_back(std::move(step));
  }
  // Started from both io threads at once, as an executor on a threaded io_context would.
  for (int i = 0; i < kAttempts; ++i) {
    boost::asio::post(io, [&, i] {
      auto handle = runner.start(steps[i], [&, i](StepResult r) {
        std::lock_guard lock(mutex);
        results[i] = std::move(r);
      });
      std::lock_guard lock(mutex);
      handles[i] = std::move(handle);
    });
  }
  std::thread second([&] { io.run_for(kHangLimit); });
  io.run_for(kHangLimit);
  second.join();

  for (int i = 0; i < kAttempts; ++i) {
    INFO("attempt " << i + 1);
    REQUIRE(results[i].has_value());
    if (i % 10 == 9) {
      CHECK(results[i]->outcome == StepState::timed_out);
    } else {
      CHECK(results[i]->exit_code == i % 4);
      CHECK(results[i]->outcome == (i % 4 == 0 ? StepState::succeeded : StepState::failed));
      CHECK(read_file(steps[i].log_path) == "attempt " + std::to_string(i + 1) + "\n");
    }
  }
  REQUIRE(no_children_left());
}

// Issue #15: the daemon SIGKILLed steps it had just started. An epoll readiness
// event reached an attempt's exit watch although its process was still running
// (see on_exit in process_runner.cpp). Here thousands of short attempts start
// and end from several threads while other descriptors on the same io_context
// are opened, watched and closed, as HTTP connections are in the daemon. No
// attempt may end by a signal: none is sent.
TEST_CASE("process runner: no attempt ends by a signal it was not sent, under descriptor churn") {
  TempDir dir;
  constexpr int kAttempts = 3000;
  constexpr int kInFlight = 8;
  boost::asio::io_context io;
  ProcessRunner runner(io);
  std::mutex mutex;
  std::vector<std::optional<StepResult>> results(kAttempts);
  std::atomic<int> next{0};
  std::atomic<int> finished{0};
  std::vector<StepInvocation> steps;
  for (int i = 0; i < kAttempts; ++i) steps.push_back(command({"/bin/true"}, dir));

  std::function<void()> start_next = [&] {
    int i = next++;
    if (i >= kAttempts) return;
    runner.start(steps[i], [&, i](StepResult r) {
      {
        std::lock_guard lock(mutex);
        results[i] = std::move(r);
      }
      ++finished;
      start_next();
    });
  };
  for (int i = 0; i < kInFlight; ++i) boost::asio::post(io, start_next);

  // Descriptors that come and go on the same reactor, as the daemon's HTTP
  // connections do: clients on other threads connect over loopback TCP, send
  // a byte and hang up; each connection is read to its end and closed at once,
  // while epoll may still deliver its late events.
  std::atomic<bool> churning{true};
  // On a strand: its accept chain and its close run on several io threads.
  boost::asio::ip::tcp::acceptor acceptor(boost::asio::make_strand(io),
                                          {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto endpoint = acceptor.local_endpoint();
  struct Connection {
    explicit Connection(boost::asio::io_context& io) : socket(io) {}
    boost::asio::ip::tcp::socket socket;
    std::array<char, 16> buffer{};
  };
  std::function<void(std::shared_ptr<Connection>)> read_to_end = [&](auto connection) {
    connection->socket.async_read_some(
        boost::asio::buffer(connection->buffer),
        [&, connection](const boost::system::error_code& ec, std::size_t) {
          if (!ec) return read_to_end(connection);
          boost::system::error_code ignored;
          connection->socket.close(ignored);
        });
  };
  std::function<void()> accept = [&] {
    auto connection = std::make_shared<Connection>(io);
    acceptor.async_accept(connection->socket, [&, connection](const boost::system::error_code& ec) {
      if (ec) return;
      read_to_end(connection);
      accept();
    });
  };
  accept();
  auto client = [&] {
    while (churning) {
      boost::asio::io_context own;
      boost::asio::ip::tcp::socket socket(own);
      boost::system::error_code ec;
      socket.connect(endpoint, ec);
      if (ec) continue;
      boost::asio::write(socket, boost::asio::buffer("x", 1), ec);
    }
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) clients.emplace_back(client);
  std::vector<std::thread> io_threads;
  for (int t = 0; t < 3; ++t) io_threads.emplace_back([&] { io.run_for(kHangLimit * 5); });
  auto give_up = std::chrono::steady_clock::now() + kHangLimit * 5;
  while (finished < kAttempts && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(10ms);
  // The clients stop while connections are still accepted (none blocks in
  // connect); the acceptor closes on its strand, as it is used there.
  churning = false;
  for (std::thread& t : clients) t.join();
  boost::asio::post(acceptor.get_executor(), [&] { acceptor.close(); });
  if (finished < kAttempts) io.stop();  // a hang: the check below says which attempts
  for (std::thread& t : io_threads) t.join();  // they run out of work once it is closed

  int signalled = 0;
  for (int i = 0; i < kAttempts; ++i) {
    INFO("attempt " << i);
    REQUIRE(results[i].has_value());
    if (results[i]->exit_code != 0) {
      ++signalled;
      UNSCOPED_INFO("attempt " << i << ": exit code " << results[i]->exit_code.value_or(-1)
                               << ", " << results[i]->error);
    }
  }
  CHECK(signalled == 0);
  REQUIRE(no_children_left());
}

namespace {

// One attempt on `runner`, which outlives it: what a runner remembers between
// attempts shows.
StepResult run_on(boost::asio::io_context& io, ProcessRunner& runner, const StepInvocation& step) {
  std::optional<StepResult> result;
  runner.start(step, [&](StepResult r) { result = std::move(r); });
  io.restart();
  io.run_for(kHangLimit);
  REQUIRE(result.has_value());
  return *result;
}

void install_probe(const std::string& path, const std::string& says) {
  std::ofstream(path) << "#!/bin/sh\necho " << says << "\n";
  fs::permissions(path, fs::perms::owner_all);
}

}  // namespace

TEST_CASE(
    "process runner: a run keeps what its first search of PATH found; a new run searches again") {
  TempDir dir;
  fs::create_directory(dir / "early");
  fs::create_directory(dir / "late");
  install_probe(dir / "late/nightshift-probe", "late");
  boost::asio::io_context io;
  ProcessRunner runner(io);
  auto probe = [&](std::int64_t run_id) {
    StepInvocation step = command({"nightshift-probe"}, dir);
    step.run_id = run_id;
    step.env = {{"PATH", (dir / "early") + ":" + (dir / "late")}};
    StepResult result = run_on(io, runner, step);
    return result.outcome == StepState::succeeded ? read_file(step.log_path) : result.error;
  };
  CHECK(probe(1) == "late\n");

  // Installed earlier on PATH mid-run: the run goes on with the file it found,
  // the next run finds the new one.
  install_probe(dir / "early/nightshift-probe", "early");
  CHECK(probe(1) == "late\n");
  CHECK(probe(2) == "early\n");

  // Removed mid-run: the failed exec searches once more and finds the other.
  fs::remove(dir / "early/nightshift-probe");
  CHECK(probe(2) == "late\n");

  // Made non-executable mid-run: searched again, and nothing runnable is left.
  fs::permissions(dir / "late/nightshift-probe", fs::perms::owner_read | fs::perms::owner_write);
  CHECK(probe(2) == "cannot start 'nightshift-probe': Permission denied");

  // Removed everywhere: as if it had never been found.
  fs::remove(dir / "late/nightshift-probe");
  CHECK(probe(2) == "cannot start 'nightshift-probe': No such file or directory");
  CHECK(probe(3) == "cannot start 'nightshift-probe': No such file or directory");
  REQUIRE(no_children_left());
}

TEST_CASE("process runner: a remembered program in a workdir that is gone names the workdir") {
  TempDir dir;
  fs::create_directory(dir / "work");
  boost::asio::io_context io;
  ProcessRunner runner(io);
  StepInvocation step = command({"pwd"}, dir);
  step.workdir = dir / "work";
  CHECK(run_on(io, runner, step).outcome == StepState::succeeded);
  fs::remove(dir / "work");
  step.log_path = fresh_log(dir);
  StepResult result = run_on(io, runner, step);
  CHECK(result.outcome == StepState::failed);
  CHECK(result.exit_code == 127);
  CHECK(result.error ==
        "cannot change to workdir '" + step.workdir + "': No such file or directory");
  REQUIRE(no_children_left());
}
