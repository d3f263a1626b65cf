// ChildRegistry: the children this process waits for by pid (the process
// runner's steps), and the reaping of every other child. A daemon that is a
// subreaper (PR_SET_CHILD_SUBREAPER) or PID 1 inherits what its steps leave
// behind (a background child whose parent has exited, a setsid escapee); those
// orphans would stay zombies forever unless someone reaps them. The reaper
// must never take the exit status of a step's own process: the registry knows
// which pids are owned, and every spawn happens under the same lock as a reap
// pass, so a child cannot be seen before it is registered.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace nightshift {

class ChildRegistry {
 public:
  // One per process: waitid(P_ALL) sees every child of the process.
  static ChildRegistry& instance();

  // Runs `spawn` under the registry's lock and registers the pid it returns
  // (none when it returns <= 0), so no reap pass can take it meanwhile.
  pid_t spawn(const std::function<pid_t()>& spawn);

  // The owner has reaped `pid` (or given up on it): it is no longer protected.
  // When the last reap pass stopped at `pid`, the pass goes on now: the daemon
  // reaps when SIGCHLD comes, and no signal would come for an orphan that
  // exited while the pass was stopped.
  void release(pid_t pid);

  // Reaps exited children that nobody registered and returns how many. Stops
  // early at an exited child that is registered (its owner is about to reap
  // it: the kernel would show it first again); its release goes on.
  std::size_t reap_orphans();

  bool owns(pid_t pid) const;

 private:
  ChildRegistry() = default;
  std::size_t reap_locked();

  mutable std::mutex mutex_;
  std::unordered_map<pid_t, int> owned_;  // pid -> registrations (a pid may be reused)
  pid_t stopped_at_ = 0;                  // the owned zombie the last pass stopped at
};

}  // namespace nightshift
