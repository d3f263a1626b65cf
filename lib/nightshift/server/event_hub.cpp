#include "nightshift/server/event_hub.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace nightshift {
namespace {

// A piece joins queued frames up to about this size: fewer, larger writes
// when a burst has piled up, without one piece holding the whole queue.
constexpr std::size_t kPieceSize = 64 * 1024;

constexpr std::string_view kKeepalive = ": keepalive\n\n";

using Frame = std::shared_ptr<const std::string>;  // formatted once, shared by every subscriber

}  // namespace

// One lock for the hub and every subscriber's queue: a publish touches them
// all anyway, and a single lock has no order to get wrong.
struct EventHub::Shared {
  explicit Shared(std::size_t limit) : queue_limit(limit) {}
  const std::size_t queue_limit;
  std::mutex mutex;
  std::vector<std::shared_ptr<Subscriber>> subscribers;  // those still taking events
  std::atomic<std::size_t> count{0};                      // subscribers.size(), read without the lock
  std::uint64_t last_id = 0;
  bool closed = false;
};

class EventHub::Subscriber final : public BodyStream,
                                   public std::enable_shared_from_this<Subscriber> {
 public:
  explicit Subscriber(std::weak_ptr<Shared> shared) : shared_(std::move(shared)) {}

  void next(Deliver deliver) override {
    auto shared = shared_.lock();
    std::optional<std::string> piece;
    if (shared) {
      std::lock_guard lock(shared->mutex);
      if (!cancelled_ && queue_.empty() && !ending_) {
        waiting_ = std::move(deliver);  // the next publish, heartbeat or close delivers
        return;
      }
      if (!cancelled_ && !queue_.empty()) piece = take_piece();
    }
    deliver(std::move(piece));  // the end: the hub is gone, the stream cancelled or ended
  }

  void cancel() override {
    Deliver waiting;
    if (auto shared = shared_.lock()) {
      std::lock_guard lock(shared->mutex);
      cancelled_ = true;
      queue_.clear();
      waiting = std::move(waiting_);
      waiting_ = nullptr;
      leave(*shared);
    }
    if (waiting) waiting(std::nullopt);  // `next` promises one call
  }

  // --- the hub's side; each under Shared::mutex ---

  // Queues a frame; a full queue ends the subscription instead (see the
  // header). Returns the delivery to make once the lock is released, if any.
  Deliver push(Shared& shared, const Frame& frame, std::uint64_t id, std::string& piece) {
    if (queue_.size() >= shared.queue_limit) {
      // What is queued stays: the client gets a gap-free prefix, then the
      // marker saying where it stops, then the end.
      queue_.push_back(std::make_shared<const std::string>(
          "event: lost\ndata: {\"last_id\": " + std::to_string(id - 1) +
          ", \"reason\": \"this client read events too slowly; reconnect and read the state "
          "from the API\"}\n\n"));
      ending_ = true;
      leave(shared);
      return {};  // its queue was full: nobody waits for a piece
    }
    queue_.push_back(frame);
    return wake(piece);
  }

  Deliver heartbeat(std::string& piece) {
    if (!waiting_ || !queue_.empty()) return {};  // busy sending: that keeps the line alive
    piece = std::string(kKeepalive);
    return std::exchange(waiting_, nullptr);
  }

  // No more events; a waiting next() gets the end now (waiting means nothing is queued).
  Deliver end() {
    ending_ = true;
    return std::exchange(waiting_, nullptr);
  }

 private:
  Deliver wake(std::string& piece) {
    if (!waiting_) return {};
    piece = take_piece();
    return std::exchange(waiting_, nullptr);
  }

  std::string take_piece() {
    std::string piece;
    while (!queue_.empty() && (piece.empty() || piece.size() + queue_.front()->size() <= kPieceSize)) {
      piece += *queue_.front();
      queue_.pop_front();
    }
    return piece;
  }

  void leave(Shared& shared) {
    auto& list = shared.subscribers;
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->get() == this) {
        list.erase(it);
        shared.count = list.size();
        return;
      }
    }
  }

  std::weak_ptr<Shared> shared_;
  // Under Shared::mutex:
  std::deque<Frame> queue_;
  Deliver waiting_;       // a next() with nothing to deliver yet: set only while queue_ is empty
  bool ending_ = false;   // no more events: what is queued, then the end
  bool cancelled_ = false;
};

EventHub::EventHub(std::size_t queue_limit)
    : shared_(std::make_shared<Shared>(queue_limit < 1 ? 1 : queue_limit)) {}

EventHub::~EventHub() {
  close();
}

std::shared_ptr<BodyStream> EventHub::subscribe() {
  auto subscriber = std::make_shared<Subscriber>(shared_);
  std::lock_guard lock(shared_->mutex);
  if (shared_->closed) return nullptr;
  shared_->subscribers.push_back(subscriber);
  shared_->count = shared_->subscribers.size();
  return subscriber;
}

void EventHub::publish(std::string_view type, std::string_view data) {
  if (!has_subscribers()) return;
  std::vector<std::pair<BodyStream::Deliver, std::string>> deliveries;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->closed || shared_->subscribers.empty()) return;
    const std::uint64_t id = ++shared_->last_id;
    std::string text = "id: " + std::to_string(id) + "\nevent: ";
    text.append(type).append("\ndata: ").append(data).append("\n\n");
    auto frame = std::make_shared<const std::string>(std::move(text));
    // A copy: a subscriber whose queue overflows leaves the list meanwhile.
    auto subscribers = shared_->subscribers;
    for (const auto& s : subscribers) {
      std::string piece;
      if (auto deliver = s->push(*shared_, frame, id, piece))
        deliveries.emplace_back(std::move(deliver), std::move(piece));
    }
  }
  // Outside the lock: a delivery posts to the connection's strand, and may
  // call back into next() at once.
  for (auto& [deliver, piece] : deliveries) deliver(std::move(piece));
}

void EventHub::heartbeat() {
  std::vector<std::pair<BodyStream::Deliver, std::string>> deliveries;
  {
    std::lock_guard lock(shared_->mutex);
    for (const auto& s : shared_->subscribers) {
      std::string piece;
      if (auto deliver = s->heartbeat(piece))
        deliveries.emplace_back(std::move(deliver), std::move(piece));
    }
  }
  for (auto& [deliver, piece] : deliveries) deliver(std::move(piece));
}

void EventHub::close() {
  std::vector<BodyStream::Deliver> deliveries;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->closed = true;
    for (const auto& s : shared_->subscribers)
      if (auto deliver = s->end()) deliveries.push_back(std::move(deliver));
    shared_->subscribers.clear();
    shared_->count = 0;
  }
  for (auto& deliver : deliveries) deliver(std::nullopt);
}

bool EventHub::closed() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->closed;
}

bool EventHub::has_subscribers() const {
  return shared_->count.load(std::memory_order_relaxed) > 0;
}

std::size_t EventHub::subscriber_count() const {
  return shared_->count.load();
}

}  // namespace nightshift
