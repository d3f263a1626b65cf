// EventHub: the fan-out behind GET /events (Server-Sent Events). Publishers
// (the executor's strand, the scheduler, reload) hand it an event once the
// store has it; each subscriber is a BodyStream with a bounded queue of its
// own, so a slow client costs a bounded amount of memory and never slows a
// publisher: publishing is a push under a short lock and a wake, nothing more.
// Pure (no Asio, no sockets): the daemon drives the heartbeat with a timer.
#pragma once

#include "nightshift/server/http_message.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nightshift {

class EventHub {
 public:
  // Events a subscriber may have waiting before it counts as too slow: about
  // 1 MB of frames, several seconds of a 2,000-step DAG going by at full speed.
  static constexpr std::size_t kDefaultQueueLimit = 4096;

  explicit EventHub(std::size_t queue_limit = kDefaultQueueLimit);
  // Ends every subscription, as close() does.
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A new subscriber: a stream of `id: N\nevent: TYPE\ndata: JSON\n\n` frames
  // from the next event on. When its queue is full as an event comes, it gets
  // what it had queued, then an `event: lost` frame, then its end: the client
  // reconnects and re-reads the state from the API (no event is replayed).
  // nullptr once the hub is closed. Thread-safe.
  std::shared_ptr<BodyStream> subscribe();

  // Queues the event for every subscriber and wakes those waiting for one.
  // `data` is one line (JSON). Ids increase by one per published event.
  // Cheap and never blocking on a client; a no-op without subscribers. Thread-safe.
  void publish(std::string_view type, std::string_view data);

  // Lets a publisher skip building an event nobody will read.
  bool has_subscribers() const;
  std::size_t subscriber_count() const;

  // Sends `: keepalive` to every subscriber that has nothing to send, so
  // proxies and clients do not take a quiet stream for a dead one. Thread-safe.
  void heartbeat();

  // The daemon is stopping: every subscriber gets what it has queued, then its
  // end, and subscribe() answers nullptr from now on. Idempotent, thread-safe.
  void close();
  bool closed() const;

  struct Shared;
  class Subscriber;

 private:
  // Subscribers keep it weakly: a stream that outlives the hub just ends.
  std::shared_ptr<Shared> shared_;
};

}  // namespace nightshift
