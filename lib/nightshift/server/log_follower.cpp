#include "nightshift/server/log_follower.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "nightshift/server/log_reader.h"

#include <mutex>

namespace nightshift {
namespace {

namespace asio = boost::asio;

constexpr auto kPollInterval = std::chrono::milliseconds(200);

class LogFollower : public BodyStream, public std::enable_shared_from_this<LogFollower> {
 public:
  LogFollower(asio::any_io_executor executor, RunReader& store, std::string path,
              std::int64_t run_id, std::string step, int attempt, std::size_t offset)
      : executor_(executor),
        timer_(executor),
        store_(store),
        reader_(std::move(path), offset),
        run_id_(run_id),
        step_(std::move(step)),
        attempt_(attempt) {}

  void next(Deliver deliver) override {
    asio::post(executor_, [self = shared_from_this(), deliver = std::move(deliver)]() mutable {
      self->poll(std::move(deliver));
    });
  }

  void cancel() override {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    timer_.cancel();
  }

 private:
  // Delivers new bytes if there are any; otherwise the end once the attempt has
  // ended (after one last read), or waits a moment and looks again.
  void poll(Deliver deliver) {
    {
      std::lock_guard lock(mutex_);
      if (cancelled_ || done_) return deliver(std::nullopt);
    }
    // One piece at a time, asked for once the last one is sent: a client that
    // does not read holds this stream at one piece.
    std::string piece = reader_.read();
    if (!piece.empty()) return deliver(std::move(piece));
    // Only with nothing new to send is the store asked; then the file once more,
    // so no byte written before the end was stored is missed.
    bool ended = attempt_ended();
    piece = reader_.read();
    if (!piece.empty()) return deliver(std::move(piece));
    if (ended) {
      std::lock_guard lock(mutex_);
      done_ = true;
      return deliver(std::nullopt);
    }
    std::lock_guard lock(mutex_);
    timer_.expires_after(kPollInterval);
    timer_.async_wait([self = shared_from_this(), deliver = std::move(deliver)](auto) mutable {
      self->poll(std::move(deliver));
    });
  }

  bool attempt_ended() {
    try {
      for (const AttemptRecord& a : store_.attempts(run_id_))
        if (a.step == step_ && a.attempt == attempt_) return a.state != StepState::running;
      return false;  // not started yet
    } catch (const StoreError&) {
      return false;  // the store is away: keep following
    }
  }

  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  RunReader& store_;
  LogReader reader_;
  std::int64_t run_id_;
  std::string step_;
  int attempt_;
  std::mutex mutex_;
  bool cancelled_ = false;
  bool done_ = false;
};

}  // namespace

std::shared_ptr<BodyStream> make_log_follower(asio::any_io_executor executor, RunReader& store,
                                              std::string path, std::int64_t run_id,
                                              std::string step, int attempt, std::size_t offset) {
  return std::make_shared<LogFollower>(executor, store, std::move(path), run_id, std::move(step), attempt,
                                       offset);
}

}  // namespace nightshift
