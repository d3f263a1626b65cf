// ProcessRunner: spawning, exit detection through a pidfd, the copy of the
// output into the log, and the SIGTERM-then-SIGKILL stop of a process group.
// All of the runtime's POSIX process code lives in this file.
#include "nightshift/runtime/process_runner.h"

#include "nightshift/runtime/child_registry.h"
#include "nightshift/runtime/step_log.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace nightshift {
namespace {

namespace asio = boost::asio;

// Large enough to copy quickly, small enough that many parallel steps cost little.
constexpr std::size_t kReadChunk = 64 * 1024;

// How often the exit is polled when waiting on the pidfd fails.
constexpr Duration kExitPollInterval = std::chrono::milliseconds(100);

// Longer than any step may take; keeps steady_timer's nanoseconds from overflowing.
constexpr Duration kLongestWait = std::chrono::hours(24 * 365);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

std::string cannot_start(const std::string& program, int err) {
  return "cannot start '" + program + "': " + errno_text(err);
}

Duration clamp_wait(Duration d) {
  return std::clamp(d, Duration::zero(), kLongestWait);
}

// Kills whatever is left of the group and reaps its leader, blocking briefly.
void kill_group_and_reap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  ChildRegistry::instance().release(pid);
}

// Takes a descriptor out of the reactor (EPOLL_CTL_DEL), then closes it, so no
// registration outlives it even while a posix_spawn child's copy of the fd
// table keeps the open file alive until it execs. (Asio's close() deletes the
// registration of an assigned descriptor too, but a socket's it leaves to
// close(2); here it does not depend on how the descriptor came to be.)
void close_watched(asio::posix::stream_descriptor& descriptor) {
  int fd = descriptor.release();
  if (fd >= 0) ::close(fd);
}

// Whether `pid`, our child, has exited (it stays a zombie: WNOWAIT), or an errno.
struct ExitCheck {
  bool exited = false;
  int error = 0;
};
ExitCheck check_exited(pid_t pid) {
  siginfo_t info{};
  int rc = 0;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return {false, errno};
  return {info.si_pid == pid, 0};
}

std::string signal_name(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal);
}

// The posix_spawn attribute objects, destroyed on every path.
class SpawnOptions {
 public:
  SpawnOptions() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnOptions() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnOptions(const SpawnOptions&) = delete;
  SpawnOptions& operator=(const SpawnOptions&) = delete;

  // Returns 0 or an errno.
  int prepare(int output_fd, const std::string& workdir) {
    sigset_t empty;
    sigset_t all;
    sigemptyset(&empty);
    sigfillset(&all);
    const short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    int rc = 0;
    // The child leads a new group, so one kill(-pid) reaches everything it starts.
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr_, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr_, &empty);
    // Dispositions the daemon ignores (SIGPIPE, SIGHUP...) must not leak into steps.
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr_, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr_, flags);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, output_fd, STDOUT_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, output_fd, STDERR_FILENO);
    if (rc == 0) {
      rc = posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    // Our fds are all O_CLOEXEC; this also covers libraries that forget to be.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions_, STDERR_FILENO + 1);
    if (rc == 0 && !workdir.empty()) {
      rc = posix_spawn_file_actions_addchdir_np(&actions_, workdir.c_str());
    }
    return rc;
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

struct Child {
  pid_t pid = -1;       // also its process group id
  UniqueFd output;      // read end of the pipe holding its stdout and stderr
  UniqueFd exit_watch;  // pidfd, readable once it has exited
  std::string error;    // why nothing runs; then the rest is empty
};

// Why the step cannot enter its workdir, or "". posix_spawn would report a
// bad workdir as if the program were missing, so a failed start asks this
// first; a start that works needs no stat of it.
std::string workdir_error(const StepInvocation& step) {
  if (step.workdir.empty()) return {};
  struct stat st {};
  int err = ::stat(step.workdir.c_str(), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  if (err == 0) return {};
  return "cannot change to workdir '" + step.workdir + "': " + errno_text(err);
}

// Why `program` does not start: the workdir, if that is what failed, else `err`.
std::string start_error(const StepInvocation& step, int err) {
  if (std::string workdir = workdir_error(step); !workdir.empty()) return workdir;
  return cannot_start(step.argv.front(), err);
}

Child spawn_child(const StepInvocation& step, ProgramSearch& programs) {
  Child child;
  if (step.argv.empty()) {
    child.error = "cannot start: the command is empty";
    return child;
  }
  const std::string& program = step.argv.front();
  ProgramSearch::Found resolved = programs.find(step);
  if (resolved.error != 0) {
    child.error = start_error(step, resolved.error);
    return child;
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    child.error = cannot_start(program, errno);
    return child;
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  SpawnOptions options;
  if (int rc = options.prepare(write_end.get(), step.workdir); rc != 0) {
    child.error = cannot_start(program, rc);
    return child;
  }
  std::vector<char*> argv;
  for (const std::string& arg : step.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_entries;
  env_entries.reserve(step.env.size());
  for (const auto& [key, value] : step.env) env_entries.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : env_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = 0;
  // glibc reaps the child itself when the exec fails, so an error leaves no
  // zombie. Spawned under the registry's lock: an orphan reaper cannot take
  // the child's exit status before it is known to be ours.
  auto spawn = [&] {
    ChildRegistry::instance().spawn([&] {
      rc = ::posix_spawn(&pid, resolved.path.c_str(), options.actions(), options.attr(),
                         argv.data(), envp.data());
      return rc == 0 ? pid : -1;
    });
  };
  spawn();
  // A file remembered from earlier in the run may be gone or changed since:
  // search once more, as a shell does when a hashed program vanished. (A bad
  // workdir fails the same way; it is no reason to search.)
  if (resolved.remembered && (rc == ENOENT || rc == EACCES) && workdir_error(step).empty()) {
    programs.forget(step);
    resolved = programs.find(step);
    if (resolved.error != 0) {
      child.error = cannot_start(program, resolved.error);
      return child;
    }
    spawn();
  }
  if (rc != 0) {
    child.error = start_error(step, rc);
    return child;
  }
  // Only the child's copies may keep the pipe open, so EOF means they are all gone.
  write_end.reset();

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // always O_CLOEXEC
  if (pidfd < 0) {
    int err = errno;
    kill_group_and_reap(pid);
    child.error = "cannot watch '" + program + "': pidfd_open: " + errno_text(err);
    return child;
  }
  child.pid = pid;
  child.output = std::move(read_end);
  child.exit_watch = UniqueFd(pidfd);
  return child;
}

// One attempt. It keeps itself alive through its pending handlers until `done`
// has been called. After start(), its state is touched only on strand_.
class Attempt : public std::enable_shared_from_this<Attempt> {
 public:
  Attempt(asio::io_context& io, const StepInvocation& step, Duration output_drain,
          const StepLog::WriteFunction& write_log, StepRunner::Done done)
      : strand_(asio::make_strand(io)),
        output_(strand_),
        exit_watch_(strand_),
        timeout_timer_(strand_),
        kill_timer_(strand_),
        drain_timer_(strand_),
        exit_poll_timer_(strand_),
        timeout_(step.timeout),
        kill_grace_(clamp_wait(step.kill_grace)),
        output_drain_(clamp_wait(output_drain)),
        done_(std::move(done)),
        log_(step.secrets, write_log) {}

  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  // Reached only when the io_context is destroyed mid-attempt: still no orphan, no zombie.
  ~Attempt() {
    if (child_alive_) kill_group_and_reap(pid_);
  }

  void start(const StepInvocation& step, ProgramSearch& programs) {
    if (std::string error; !log_.open(step.log_path, error))
      return fail_to_start(std::move(error), std::nullopt);
    if (step.kind == StepKind::sql) {
      return fail_to_start("the process runner cannot run sql steps", std::nullopt);
    }
    Child child = spawn_child(step, programs);
    if (!child.error.empty()) return fail_to_start(std::move(child.error), 127);
    pid_ = child.pid;
    child_alive_ = true;

    boost::system::error_code ec;
    output_.assign(child.output.get(), ec);
    if (!ec) {
      child.output.release();
      exit_watch_.assign(child.exit_watch.get(), ec);
      if (!ec) child.exit_watch.release();
    }
    if (ec) {
      kill_group_and_reap(pid_);
      child_alive_ = false;
      return fail_to_start("cannot watch '" + step.argv.front() + "': " + ec.message(),
                           std::nullopt);
    }
    asio::post(strand_, [self = shared_from_this()] { self->begin(); });
  }

  // Any thread; queued behind begin(), so it always finds the child started.
  void cancel() {
    asio::post(strand_, [self = shared_from_this()] { self->stop(StepState::cancelled); });
  }

 private:
  enum class Phase { starting, running, draining, finished };

  void begin() {
    phase_ = Phase::running;
    output_open_ = true;
    if (timeout_) {
      timeout_timer_.expires_after(clamp_wait(*timeout_));
      timeout_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->stop(StepState::timed_out);
      });
    }
    read_output();
    watch_exit();
  }

  void watch_exit() {
    exit_watch_.async_wait(
        asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this()](const boost::system::error_code& ec) { self->on_exit(ec); });
  }

  void read_output() {
    output_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t size) {
          self->on_output(ec, size);
        });
  }

  void on_output(const boost::system::error_code& ec, std::size_t size) {
    // The log is a regular file: a blocking write is short and never waits on
    // the step. One that fails drops the rest, and the pipe is still drained,
    // so the step never blocks on it.
    if (size > 0) log_.write(std::string_view(buffer_.data(), size));
    if (!ec && !output_abandoned_) return read_output();
    if (ec && ec != asio::error::eof && ec != asio::error::operation_aborted) {
      note_error("cannot read the step's output: " + ec.message());
    }
    output_open_ = false;
    close_watched(output_);
    drain_timer_.cancel();
    finish_when_complete();
  }

  void on_exit(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    // A readiness event is a hint, never a fact. Asio's reactor keeps one state
    // object per watched descriptor and reuses freed ones at once; an event
    // collected for a descriptor that is closed before the event is handled
    // (an HTTP connection, in the daemon) can complete the wait of whichever
    // descriptor took over its state. Acting on it killed running steps
    // (issue #15), so the kernel is asked first.
    ExitCheck check = check_exited(pid_);
    if (!check.exited && check.error == 0) {
      if (!ec) return watch_exit();
      // The wait itself failed and would fail again at once: poll instead.
      exit_poll_timer_.expires_after(kExitPollInterval);
      exit_poll_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
        if (!e) self->on_exit(e);
      });
      return;
    }
    // The leader is a zombie now, so its pid cannot have been reused for
    // another group: killing the group cannot hit a stranger.
    ::kill(-pid_, SIGKILL);
    int status = 0;
    pid_t reaped = -1;
    do {
      reaped = ::waitpid(pid_, &status, 0);
    } while (reaped < 0 && errno == EINTR);
    child_alive_ = false;
    ChildRegistry::instance().release(pid_);
    if (reaped == pid_) {
      exit_code_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      if (WIFSIGNALED(status)) note_signal(WTERMSIG(status));
    } else {
      note_error("lost track of process " + std::to_string(pid_) + ": " + errno_text(errno));
    }
    close_watched(exit_watch_);
    exit_poll_timer_.cancel();
    timeout_timer_.cancel();
    kill_timer_.cancel();
    phase_ = Phase::draining;
    if (output_open_) {
      drain_timer_.expires_after(output_drain_);
      drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->abandon_output();
      });
    }
    finish_when_complete();
  }

  void stop(StepState reason) {
    if (phase_ != Phase::running || stop_reason_) return;
    stop_reason_ = reason;
    timeout_timer_.cancel();
    note_error(std::string(reason == StepState::timed_out ? "timed out" : "cancelled") +
               ": nightshift sent SIGTERM to the process group");
    sent_term_ = true;
    ::kill(-pid_, SIGTERM);
    ::kill(-pid_, SIGCONT);  // a stopped process could not act on SIGTERM (as systemd does)
    kill_timer_.expires_after(kill_grace_);
    kill_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->on_kill_grace();
    });
  }

  void on_kill_grace() {
    if (phase_ != Phase::running) return;
    note_error("still running kill_grace after SIGTERM: nightshift sent SIGKILL");
    sent_kill_ = true;
    ::kill(-pid_, SIGKILL);
  }

  // Says who ended the leader by `signal`: nightshift, or someone outside it
  // (the OOM killer, an operator, a bug of ours), so a kill nobody asked for is
  // visible on the attempt.
  void note_signal(int signal) {
    bool ours = (signal == SIGTERM && sent_term_) || (signal == SIGKILL && sent_kill_);
    if (ours) return;  // stop() and on_kill_grace() said so already
    note_error("killed by signal " + std::to_string(signal) + " (" + signal_name(signal) +
               ") from outside nightshift");
  }

  // Someone outside the group (setsid) still holds the pipe; stop waiting for it.
  void abandon_output() {
    if (!output_open_) return;
    output_abandoned_ = true;
    note_error("the output was still held open by a process outside the step's group");
    close_watched(output_);  // the pending read ends with operation_aborted
  }

  void finish_when_complete() {
    if (phase_ != Phase::draining || output_open_) return;
    StepResult result;
    log_.close();  // what the mask held back, now that no more output comes
    if (!log_.error().empty()) {
      note_error(log_.error());
      result.log_incomplete = true;
    }
    result.exit_code = exit_code_;
    if (stop_reason_) {
      result.outcome = *stop_reason_;
    } else {
      result.outcome = exit_code_ == 0 ? StepState::succeeded : StepState::failed;
    }
    result.error = error_;
    report(std::move(result));
  }

  // Before anything runs the error also goes to the log, the step's only record.
  void fail_to_start(std::string error, std::optional<int> exit_code) {
    StepResult result{StepState::failed, exit_code, std::move(error)};
    if (log_.is_open()) {
      log_.write(result.error + "\n");
      log_.close();
      if (!log_.error().empty()) {
        result.error += "; " + log_.error();
        result.log_incomplete = true;
      }
    }
    asio::post(strand_, [self = shared_from_this(), result = std::move(result)]() mutable {
      self->report(std::move(result));
    });
  }

  void report(StepResult result) {
    phase_ = Phase::finished;
    drain_timer_.cancel();
    log_.close();
    // A message may quote what the step was given; never a secret of it.
    result.error = log_.mask(result.error);
    // Moved out first so a `done` that holds our handle breaks the cycle.
    StepRunner::Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result));
  }

  void note_error(const std::string& text) {
    if (!error_.empty()) error_ += "; ";
    error_ += text;
  }

  asio::strand<asio::io_context::executor_type> strand_;
  asio::posix::stream_descriptor output_;
  asio::posix::stream_descriptor exit_watch_;
  asio::steady_timer timeout_timer_;
  asio::steady_timer kill_timer_;
  asio::steady_timer drain_timer_;
  asio::steady_timer exit_poll_timer_;
  const std::optional<Duration> timeout_;
  const Duration kill_grace_;
  const Duration output_drain_;
  StepRunner::Done done_;
  StepLog log_;

  Phase phase_ = Phase::starting;
  pid_t pid_ = -1;
  bool child_alive_ = false;  // spawned and not yet reaped
  bool sent_term_ = false;    // signals nightshift sent the group
  bool sent_kill_ = false;
  bool output_open_ = false;
  bool output_abandoned_ = false;
  std::optional<StepState> stop_reason_;
  std::optional<int> exit_code_;
  std::string error_;
  std::array<char, kReadChunk> buffer_{};
};

// Holds the attempt weakly: an attempt outliving its io_context would be unsafe.
class AttemptHandle : public StepHandle {
 public:
  explicit AttemptHandle(const std::shared_ptr<Attempt>& attempt) : attempt_(attempt) {}
  void cancel() override {
    if (std::shared_ptr<Attempt> attempt = attempt_.lock()) attempt->cancel();
  }

 private:
  std::weak_ptr<Attempt> attempt_;
};

}  // namespace

ProcessRunner::ProcessRunner(boost::asio::io_context& io, Duration output_drain,
                             StepLog::WriteFunction write_log)
    : io_(io), output_drain_(output_drain), write_log_(std::move(write_log)) {}

std::shared_ptr<StepHandle> ProcessRunner::start(const StepInvocation& step, Done done) {
  auto attempt = std::make_shared<Attempt>(io_, step, output_drain_, write_log_, std::move(done));
  attempt->start(step, programs_);
  return std::make_shared<AttemptHandle>(attempt);
}

}  // namespace nightshift
