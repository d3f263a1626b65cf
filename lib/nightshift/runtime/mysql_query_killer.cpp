#include "nightshift/runtime/mysql_query_killer.h"

#include "nightshift/runtime/mysql_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace nightshift {
namespace {

// The kill connection's longest wait for a server: one that does not answer
// must not hold up for long the stops of attempts on other servers.
constexpr Duration kKillConnectionTimeout = std::chrono::seconds(5);

// Longer than any grace; keeps the time arithmetic from overflowing.
constexpr Duration kLongestGrace = std::chrono::hours(24 * 365);

constexpr unsigned kNoSuchThread = 1094;  // ER_NO_SUCH_THREAD: the connection has ended

ConnectionSpec kill_connection_spec(const ConnectionSpec& server) {
  ConnectionSpec spec = server;
  spec.connect_timeout =
      std::min(spec.connect_timeout.value_or(kKillConnectionTimeout), kKillConnectionTimeout);
  spec.read_timeout = kKillConnectionTimeout;
  return spec;
}

}  // namespace

struct MysqlQueryKiller::Shared {
  std::mutex mutex;
  std::condition_variable wake;
  bool quit = false;
  bool changed = false;  // since the thread last looked
  std::vector<std::shared_ptr<Target>> targets;

  void notify_locked() {
    changed = true;
    wake.notify_one();
  }
};

MysqlQueryKiller::Target::Target(std::shared_ptr<Shared> shared, const ConnectionSpec& server,
                                 std::optional<Clock::time_point> deadline, Duration kill_grace)
    : shared_(std::move(shared)),
      server_(kill_connection_spec(server)),
      deadline_(deadline),
      kill_grace_(std::clamp(kill_grace, Duration::zero(), kLongestGrace)) {}

MysqlQueryKiller::Target::~Target() = default;

void MysqlQueryKiller::Target::request_stop(StopReason reason) {
  std::lock_guard lock(shared_->mutex);
  if (ended_ || stop_ != StopReason::none || reason == StopReason::none) return;
  stop_locked(reason, Clock::now());
}

void MysqlQueryKiller::Target::stop_locked(StopReason reason, Clock::time_point now) {
  stop_ = reason;
  stopped_at_ = now;
  next_kill_ = now;
  shared_->notify_locked();
}

void MysqlQueryKiller::Target::attach(unsigned long connection_id, int socket) {
  std::lock_guard lock(shared_->mutex);
  if (ended_) return;
  connection_id_ = connection_id;
  socket_ = socket;
  if (stop_ != StopReason::none) shared_->notify_locked();
}

bool MysqlQueryKiller::Target::stopped() const {
  std::lock_guard lock(shared_->mutex);
  return stop_ != StopReason::none;
}

StopReason MysqlQueryKiller::Target::end() {
  std::lock_guard lock(shared_->mutex);
  if (!ended_) {
    ended_ = true;
    connection_id_ = 0;
    socket_ = -1;
    shared_->notify_locked();  // the thread drops the target and its kill connection
  }
  return stop_;
}

std::string MysqlQueryKiller::Target::trouble() const {
  std::lock_guard lock(shared_->mutex);
  std::string trouble = kill_error_;
  if (shut_down_) {
    trouble += (trouble.empty() ? "" : "; ") + std::string("the query was still running ") +
               format_duration(kill_grace_) +
               " (kill_grace) after the stop: its connection was shut down";
  }
  return trouble;
}

MysqlQueryKiller::MysqlQueryKiller()
    : shared_(std::make_shared<Shared>()), thread_([this] { run(); }) {}

MysqlQueryKiller::~MysqlQueryKiller() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->quit = true;
    shared_->notify_locked();
  }
  thread_.join();
  std::vector<std::shared_ptr<Target>> targets;
  {
    std::lock_guard lock(shared_->mutex);
    targets.swap(shared_->targets);
  }
  for (const auto& target : targets) target->kill_connection_.reset();
}

std::shared_ptr<MysqlQueryKiller::Target> MysqlQueryKiller::watch(
    const ConnectionSpec& server, std::optional<Clock::time_point> deadline, Duration kill_grace) {
  auto target = std::make_shared<Target>(shared_, server, deadline, kill_grace);
  std::lock_guard lock(shared_->mutex);
  shared_->targets.push_back(target);
  if (deadline) shared_->notify_locked();
  return target;
}

void MysqlQueryKiller::run() {
  std::unique_lock lock(shared_->mutex);
  while (!shared_->quit) {
    shared_->changed = false;
    const Clock::time_point now = Clock::now();
    std::optional<Clock::time_point> next;  // when something is due again
    auto due = [&next](Clock::time_point at) {
      if (!next || at < *next) next = at;
    };
    std::vector<std::pair<std::shared_ptr<Target>, unsigned long>> kills;
    std::vector<std::shared_ptr<Target>> ended;

    auto& targets = shared_->targets;
    for (auto it = targets.begin(); it != targets.end();) {
      Target& target = **it;
      if (target.ended_) {
        ended.push_back(std::move(*it));
        it = targets.erase(it);
        continue;
      }
      if (target.stop_ == StopReason::none && target.deadline_) {
        if (now >= *target.deadline_) {
          target.stop_locked(StopReason::timed_out, now);
        } else {
          due(*target.deadline_);
        }
      }
      if (target.stop_ != StopReason::none && target.connection_id_ != 0) {
        if (now >= target.next_kill_) {
          kills.emplace_back(*it, target.connection_id_);
          target.next_kill_ = now + kKillRetry;
        }
        due(target.next_kill_);
        if (!target.shut_down_) {
          const Clock::time_point limit = target.stopped_at_ + target.kill_grace_;
          if (now >= limit) {
            // Under the mutex: the worker closes the socket only after end().
            ::shutdown(target.socket_, SHUT_RDWR);
            target.shut_down_ = true;
          } else {
            due(limit);
          }
        }
      }
      ++it;
    }

    // Network calls wait outside the mutex, so stops and reports never queue behind them.
    lock.unlock();
    for (const auto& target : ended) target->kill_connection_.reset();
    ended.clear();
    for (const auto& [target, connection_id] : kills) kill(*target, connection_id);
    kills.clear();
    lock.lock();

    auto woken = [this] { return shared_->changed || shared_->quit; };
    if (next) {
      shared_->wake.wait_until(lock, *next, woken);
    } else {
      shared_->wake.wait(lock, woken);
    }
  }
}

void MysqlQueryKiller::kill(Target& target, unsigned long connection_id) {
  const std::string statement = "KILL QUERY " + std::to_string(connection_id);
  std::string trouble;
  try {
    if (!target.kill_connection_) {
      target.kill_connection_ = std::make_unique<MysqlConnection>(target.server_);
    }
    target.kill_connection_->execute(statement);
    return;
  } catch (const MysqlError& e) {
    if (e.code() == kNoSuchThread) return;  // the attempt's connection is gone: nothing to stop
    trouble = e.what();
  } catch (const std::exception& e) {
    trouble = e.what();
  }
  target.kill_connection_.reset();  // a fresh one next time
  std::lock_guard lock(shared_->mutex);
  target.kill_error_ = "could not stop the query (" + statement + "): " + trouble;
}

}  // namespace nightshift
