// OrphanReaper: makes the daemon the reaper of what its steps leave behind.
// With PR_SET_CHILD_SUBREAPER (or as PID 1 in a container), a process whose
// parent exits becomes the daemon's child: a step's background child (the
// runner kills the step's group when its main process exits) or a setsid
// escapee that ends later. Each would stay a zombie forever; a pass reaps
// those the process runner does not own (ChildRegistry) whenever SIGCHLD
// comes, so an idle daemon is never woken to look for them. A pass that stops
// at a step's zombie goes on when the runner releases it (ChildRegistry).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <string>

namespace nightshift {

class OrphanReaper {
 public:
  using Logger = std::function<void(const std::string& level, const std::string& message)>;

  OrphanReaper(boost::asio::io_context& io, Logger log);

  // Becomes a subreaper (a warning when the kernel refuses), handles SIGCHLD
  // and reaps what exited before.
  void start();
  // Any thread; the wait is cancelled on its own strand.
  void stop();

 private:
  void pass();

  boost::asio::signal_set sigchld_;  // on a strand of its own
  bool stopped_ = false;             // on the signal set's strand: a wait that had completed stops too
  Logger log_;
};

}  // namespace nightshift
