#include "orphan_reaper.h"

#include "nightshift/runtime/child_registry.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <sys/prctl.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace nightshift {
namespace {

// Asio installs its handler without SA_RESTART. SIGCHLD comes with every
// step's end, on any thread: with SA_RESTART a blocking read, write or wait on
// another thread (SQLite, the MySQL client) goes on instead of failing with
// EINTR. SA_NOCLDSTOP: a stopped or continued child is no reason to look.
bool restart_after_sigchld() {
  struct sigaction action {};
  if (::sigaction(SIGCHLD, nullptr, &action) != 0) return false;
  action.sa_flags |= SA_RESTART | SA_NOCLDSTOP;
  return ::sigaction(SIGCHLD, &action, nullptr) == 0;
}

}  // namespace

OrphanReaper::OrphanReaper(boost::asio::io_context& io, Logger log)
    : sigchld_(boost::asio::make_strand(io)), log_(std::move(log)) {}

void OrphanReaper::start() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    log_("warn", std::string("cannot become a child subreaper (orphans of steps go to init): ") +
                     std::strerror(errno));
  boost::system::error_code ec;
  sigchld_.add(SIGCHLD, ec);
  if (ec || !restart_after_sigchld())
    log_("warn", "cannot handle SIGCHLD (orphans of steps stay zombies): " +
                     (ec ? ec.message() : std::string(std::strerror(errno))));
  boost::asio::post(sigchld_.get_executor(), [this] {
    if (!stopped_) pass();
  });
}

void OrphanReaper::stop() {
  boost::asio::post(sigchld_.get_executor(), [this] {
    stopped_ = true;
    sigchld_.cancel();
  });
}

// Reaps first, then waits: a SIGCHLD that comes meanwhile is queued by Asio
// and completes the next wait at once.
void OrphanReaper::pass() {
  ChildRegistry::instance().reap_orphans();
  sigchld_.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec && !stopped_) pass();
  });
}

}  // namespace nightshift
