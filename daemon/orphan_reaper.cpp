#include "orphan_reaper.h"

#include "nightshift/runtime/child_registry.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>

namespace nightshift {
namespace {

// A zombie costs only a pid slot: a second is soon enough, and cheap (one waitid).
constexpr auto kReapInterval = std::chrono::seconds(1);

}  // namespace

OrphanReaper::OrphanReaper(boost::asio::io_context& io, Logger log)
    : timer_(boost::asio::make_strand(io)), log_(std::move(log)) {}

void OrphanReaper::start() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    log_("warn", std::string("cannot become a child subreaper (orphans of steps go to init): ") +
                     std::strerror(errno));
  boost::asio::post(timer_.get_executor(), [this] {
    if (!stopped_) pass();
  });
}

void OrphanReaper::stop() {
  boost::asio::post(timer_.get_executor(), [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

void OrphanReaper::pass() {
  ChildRegistry::instance().reap_orphans();
  timer_.expires_after(kReapInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) pass();
  });
}

}  // namespace nightshift
