// SystemdNotifier: the daemon's sd_notify(3) messages to its service manager
// (a no-op without NOTIFY_SOCKET): READY=1 once serving, RELOADING=1 and
// READY=1 around a reload, STOPPING=1 for the drain, and the watchdog's
// WATCHDOG=1 pings when the unit sets WatchdogSec=.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace nightshift {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(boost::asio::io_context& io);

  void ready(const std::string& status);
  // Before a reload: with MONOTONIC_USEC, as Type=notify-reload (systemd 253)
  // wants it; older managers ignore the extra field.
  void reloading();
  void stopping();

  // The interval systemd expects a ping within (WATCHDOG_USEC, when
  // WATCHDOG_PID is ours or unset), or nullopt.
  static std::optional<std::chrono::microseconds> watchdog_interval();

  // Pings WATCHDOG=1 at half the interval from a timer on the io_context, so
  // the pings stop when the daemon's io threads are all stuck: systemd then
  // kills and restarts it. Does nothing without a watchdog.
  void start_watchdog();
  // Any thread; the timer is cancelled on its own strand.
  void stop_watchdog();

 private:
  void ping();

  boost::asio::steady_timer timer_;  // on a strand of its own
  bool stopped_ = false;             // on the timer's strand: a wait that had completed stops too
  std::chrono::microseconds period_{0};
};

}  // namespace nightshift
