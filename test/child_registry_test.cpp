#include "nightshift/runtime/child_registry.h"
#include "nightshift/runtime/process_runner.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

using namespace nightshift;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// Only catches a hang.
constexpr auto kHangLimit = 60s;

pid_t spawn_true() {
  pid_t pid = -1;
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  REQUIRE(::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0);
  return pid;
}

// Waits until `pid`, our child, has exited, without reaping it.
void wait_until_exited(pid_t pid) {
  auto give_up = std::chrono::steady_clock::now() + kHangLimit;
  for (;;) {
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0);
    if (info.si_pid == pid) return;
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(5ms);
  }
}

bool still_waitable(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

bool no_children_left() {
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

// This process inherits the orphans of its children's children while it lives.
struct Subreaper {
  Subreaper() { REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0); }
  ~Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
};

}  // namespace

TEST_CASE("child registry: an exited child nobody owns is reaped, an owned one is left") {
  ChildRegistry& registry = ChildRegistry::instance();
  pid_t owned = registry.spawn(spawn_true);
  CHECK(registry.owns(owned));
  wait_until_exited(owned);
  // The owned zombie comes first in the kernel's list of children: the pass stops there.
  CHECK(registry.reap_orphans() == 0);
  CHECK(still_waitable(owned));

  pid_t orphan = spawn_true();
  CHECK_FALSE(registry.owns(orphan));
  wait_until_exited(orphan);

  int status = -1;
  REQUIRE(::waitpid(owned, &status, 0) == owned);  // the owner gets its exit status
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(still_waitable(orphan));  // no pass since the one that stopped
  // The pass had stopped at `owned`: releasing it goes on and reaps the orphan
  // (the daemon reaps on SIGCHLD, and none would come for it again).
  registry.release(owned);
  CHECK_FALSE(registry.owns(owned));
  CHECK_FALSE(still_waitable(orphan));
  CHECK(no_children_left());
  CHECK(registry.reap_orphans() == 0);  // nothing left: ECHILD is not an error
}

TEST_CASE("child registry: only the release of the zombie a pass stopped at goes on") {
  ChildRegistry& registry = ChildRegistry::instance();
  pid_t first = registry.spawn(spawn_true);  // the kernel lists children oldest first
  pid_t second = registry.spawn(spawn_true);
  pid_t orphan = spawn_true();
  wait_until_exited(first);
  wait_until_exited(second);
  wait_until_exited(orphan);
  CHECK(registry.reap_orphans() == 0);  // stopped at `first`
  REQUIRE(::waitpid(second, nullptr, 0) == second);
  registry.release(second);
  CHECK(still_waitable(orphan));
  REQUIRE(::waitpid(first, nullptr, 0) == first);
  registry.release(first);
  CHECK_FALSE(still_waitable(orphan));
  CHECK(no_children_left());
}

TEST_CASE("child registry: a pid registered twice stays owned until released twice") {
  ChildRegistry& registry = ChildRegistry::instance();
  pid_t pid = registry.spawn(spawn_true);
  registry.spawn([pid] { return pid; });  // as if the pid were reused before the release
  registry.release(pid);
  CHECK(registry.owns(pid));
  registry.release(pid);
  CHECK_FALSE(registry.owns(pid));
  REQUIRE(::waitpid(pid, nullptr, 0) == pid);
  CHECK(registry.spawn([] { return -1; }) == -1);  // a failed spawn registers nothing
}

// What the daemon does as a subreaper: steps leave background children that
// the runner kills with the step's group, which makes them our zombies, while
// a reaper reaps in a loop. No step may lose its exit status to the reaper,
// and at the end no zombie is left.
TEST_CASE("child registry: a reaper racing the process runner never takes a step's exit status") {
  Subreaper subreaper;
  test::TempDir dir("child_registry_test");
  constexpr int kAttempts = 120;
  boost::asio::io_context io;
  ProcessRunner runner(io);
  std::mutex mutex;
  std::vector<std::optional<StepResult>> results(kAttempts);
  std::vector<StepInvocation> steps;
  // The executor makes a run's log folder; the runner only creates the file.
  std::filesystem::create_directories(dir / "logs");
  for (int i = 0; i < kAttempts; ++i) {
    StepInvocation step;
    step.run_id = 1;
    step.job = "test";
    step.step = "step";
    step.attempt = i + 1;
    step.kind = StepKind::shell;
    step.argv = {"/bin/sh", "-c", "sleep 30 & exit " + std::to_string(i % 5)};
    step.env = {{"PATH", "/usr/bin:/bin"}};
    step.log_path = dir / ("logs/step." + std::to_string(i + 1) + ".log");
    steps.push_back(std::move(step));
  }
  for (int i = 0; i < kAttempts; ++i) {
    boost::asio::post(io, [&, i] {
      runner.start(steps[i], [&, i](StepResult r) {
        std::lock_guard lock(mutex);
        results[i] = std::move(r);
      });
    });
  }
  std::atomic<bool> running{true};
  std::atomic<std::size_t> reaped{0};
  std::thread reaper([&] {
    while (running) reaped += ChildRegistry::instance().reap_orphans();
  });
  std::thread second([&] { io.run_for(kHangLimit); });
  io.run_for(kHangLimit);
  second.join();
  running = false;
  reaper.join();

  for (int i = 0; i < kAttempts; ++i) {
    INFO("attempt " << i + 1);
    REQUIRE(results[i].has_value());
    CHECK(results[i]->error.empty());
    CHECK(results[i]->exit_code == i % 5);
  }
  // Every background sleep was killed with its group and became our zombie,
  // reaped by a pass (this loop's, or one a step's release went on with).
  auto give_up = std::chrono::steady_clock::now() + kHangLimit;
  while (!no_children_left() && std::chrono::steady_clock::now() < give_up) {
    reaped += ChildRegistry::instance().reap_orphans();
    std::this_thread::sleep_for(5ms);
  }
  CHECK(reaped <= static_cast<std::size_t>(kAttempts));
  CHECK(no_children_left());
}
