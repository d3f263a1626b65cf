#include "systemd_notifier.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <systemd/sd-daemon.h>

#include <ctime>

namespace nightshift {

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io)
    : timer_(boost::asio::make_strand(io)) {}

void SystemdNotifier::ready(const std::string& status) {
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

void SystemdNotifier::reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                                  static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

void SystemdNotifier::stopping() {
  sd_notify(0, "STOPPING=1");
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_interval() {
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

void SystemdNotifier::start_watchdog() {
  auto interval = watchdog_interval();
  if (!interval) return;
  // Half the interval, as sd_watchdog_enabled(3) advises: one late ping is not a kill.
  period_ = *interval / 2;
  boost::asio::post(timer_.get_executor(), [this] {
    if (!stopped_) ping();
  });
}

void SystemdNotifier::stop_watchdog() {
  boost::asio::post(timer_.get_executor(), [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

void SystemdNotifier::ping() {
  sd_notify(0, "WATCHDOG=1");
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) ping();
  });
}

}  // namespace nightshift
