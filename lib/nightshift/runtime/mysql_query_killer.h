// MysqlQueryKiller: the thread of a MySQL runner that stops its attempts on
// the server. A blocking client call cannot be interrupted from another
// thread, so a stop (cancel, or the deadline this thread also watches) is sent
// as `KILL QUERY <connection id>` from a second connection, and sent again
// every kKillRetry until the attempt's worker reports its end: a KILL QUERY that
// lands between two statements finds nothing to kill, and the worker may be
// sending the next one already. A worker still not back kill_grace after the
// stop (a server that does not answer) gets its socket shut down, which ends
// the client call it is blocked in. The thread sleeps while nothing is due.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/duration.h"
#include "nightshift/runtime/sql_attempt.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace nightshift {

class MysqlConnection;

class MysqlQueryKiller {
 public:
  using Clock = std::chrono::steady_clock;
  // Often enough that a lost KILL QUERY costs little; rare enough to be no load.
  static constexpr auto kKillRetry = std::chrono::milliseconds(200);

  class Target;

  MysqlQueryKiller();
  // Ends the thread. Every target must have ended (the runner joins its
  // workers first).
  ~MysqlQueryKiller();
  MysqlQueryKiller(const MysqlQueryKiller&) = delete;
  MysqlQueryKiller& operator=(const MysqlQueryKiller&) = delete;

  // Watches one attempt from its start to its end. `server` is what the kill
  // connection is opened with (its password is held in memory only); the
  // attempt times out at `deadline`.
  std::shared_ptr<Target> watch(const ConnectionSpec& server,
                                std::optional<Clock::time_point> deadline, Duration kill_grace);

 private:
  struct Shared;
  void run();
  void kill(Target& target, unsigned long connection_id);

  std::shared_ptr<Shared> shared_;
  std::thread thread_;  // last: started once the rest is in place
};

// One attempt as the killer sees it. Thread-safe; its state is guarded by the
// killer's mutex, so a stop and the worker's reports are never reordered.
class MysqlQueryKiller::Target {
 public:
  Target(std::shared_ptr<Shared> shared, const ConnectionSpec& server,
         std::optional<Clock::time_point> deadline, Duration kill_grace);
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  // Any thread: the first reason wins; once the attempt has ended, a no-op.
  void request_stop(StopReason reason);
  // Worker thread: the attempt's connection is up; from now on a stop kills
  // its query and, after kill_grace, shuts `socket` down.
  void attach(unsigned long connection_id, int socket);
  // Worker thread: whether a stop has been requested.
  bool stopped() const;
  // Worker thread, before it closes its connection (so the socket is never
  // touched once closed): no stop lands after this, the reason returned is
  // final. Idempotent.
  StopReason end();
  // What the killer could not do, for the log; empty when all went well.
  std::string trouble() const;

 private:
  friend class MysqlQueryKiller;
  void stop_locked(StopReason reason, Clock::time_point now);

  const std::shared_ptr<Shared> shared_;
  const ConnectionSpec server_;
  const std::optional<Clock::time_point> deadline_;
  const Duration kill_grace_;

  // Guarded by the killer's mutex.
  StopReason stop_ = StopReason::none;
  bool ended_ = false;
  unsigned long connection_id_ = 0;  // 0: not connected (yet, or any more)
  int socket_ = -1;
  Clock::time_point stopped_at_;
  Clock::time_point next_kill_;
  bool shut_down_ = false;
  std::string kill_error_;  // the last KILL QUERY that failed

  // The killer thread's alone.
  std::unique_ptr<MysqlConnection> kill_connection_;
};

}  // namespace nightshift
