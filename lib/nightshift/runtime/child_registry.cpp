#include "nightshift/runtime/child_registry.h"

#include <sys/wait.h>

#include <cerrno>

namespace nightshift {

ChildRegistry& ChildRegistry::instance() {
  static ChildRegistry registry;
  return registry;
}

pid_t ChildRegistry::spawn(const std::function<pid_t()>& spawn) {
  std::lock_guard lock(mutex_);
  pid_t pid = spawn();
  if (pid > 0) ++owned_[pid];
  return pid;
}

void ChildRegistry::release(pid_t pid) {
  std::lock_guard lock(mutex_);
  auto it = owned_.find(pid);
  if (it != owned_.end() && --it->second == 0) owned_.erase(it);
  if (pid == stopped_at_ && !owned_.contains(pid)) reap_locked();
}

bool ChildRegistry::owns(pid_t pid) const {
  std::lock_guard lock(mutex_);
  return owned_.contains(pid);
}

std::size_t ChildRegistry::reap_orphans() {
  std::lock_guard lock(mutex_);
  return reap_locked();
}

std::size_t ChildRegistry::reap_locked() {
  stopped_at_ = 0;
  std::size_t reaped = 0;
  for (;;) {
    // WNOWAIT: look first; only a child nobody owns is reaped.
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
      if (errno == EINTR) continue;
      return reaped;  // ECHILD: no child at all
    }
    if (info.si_pid == 0) return reaped;
    if (owned_.contains(info.si_pid)) {
      stopped_at_ = info.si_pid;
      return reaped;
    }
    siginfo_t gone{};
    int rc = 0;
    do {
      rc = ::waitid(P_PID, static_cast<id_t>(info.si_pid), &gone, WEXITED | WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return reaped;
    ++reaped;
  }
}

}  // namespace nightshift
