#include "nightshift/server/event_data.h"
#include "nightshift/server/event_hub.h"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;

namespace {

// A client of one subscription, as HttpSession drives it: asks for the next
// piece, and (here) keeps what arrives instead of writing it to a socket.
struct Client {
  std::shared_ptr<BodyStream> stream;
  std::string received;
  bool ended = false;
  bool waiting = false;  // a next() is pending

  explicit Client(std::shared_ptr<BodyStream> s) : stream(std::move(s)) { REQUIRE(stream); }
  // A pending next() holds `this`: the client leaves, as a closed connection does.
  ~Client() { stream->cancel(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Asks once; true when something (a piece or the end) came at once.
  bool ask() {
    REQUIRE_FALSE(waiting);
    REQUIRE_FALSE(ended);
    waiting = true;
    stream->next([this](std::optional<std::string> piece) {
      REQUIRE(waiting);  // exactly one call per next()
      waiting = false;
      if (piece) {
        received += *piece;
      } else {
        ended = true;
      }
    });
    return !waiting;
  }

  // Reads until nothing more is there right now (or the end): a fast client.
  void read_all() {
    while (!ended && !waiting) ask();
  }
};

std::vector<std::string> ids(const std::string& text) {
  std::vector<std::string> out;
  static const std::regex id("^id: ([0-9]+)$", std::regex::multiline);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != text.npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("event hub: frames are `id`, `event`, `data`, a blank line; ids increase by one") {
  EventHub hub;
  Client c(hub.subscribe());
  REQUIRE_FALSE(c.ask());  // nothing yet: the next() waits
  hub.publish("run", R"({"run_id": 1})");
  CHECK(c.received == "id: 1\nevent: run\ndata: {\"run_id\": 1}\n\n");
  hub.publish("step", R"({"a": 1})");
  hub.publish("step", R"({"a": 2})");
  c.read_all();
  CHECK(c.received ==
        "id: 1\nevent: run\ndata: {\"run_id\": 1}\n\n"
        "id: 2\nevent: step\ndata: {\"a\": 1}\n\n"
        "id: 3\nevent: step\ndata: {\"a\": 2}\n\n");
  CHECK(c.waiting);
}

TEST_CASE("event hub: events queued while a client is busy arrive together, in order") {
  EventHub hub;
  Client c(hub.subscribe());
  for (int i = 0; i < 100; ++i) hub.publish("step", "{\"i\": " + std::to_string(i) + "}");
  REQUIRE(c.ask());  // one piece with all of them
  auto got = ids(c.received);
  REQUIRE(got.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(got[static_cast<std::size_t>(i)] == std::to_string(i + 1));
  CHECK(count(c.received, "\n\n") == 100);
}

TEST_CASE("event hub: without subscribers nothing is queued; a subscriber starts at the next event") {
  EventHub hub;
  CHECK_FALSE(hub.has_subscribers());
  hub.publish("run", "{}");  // nobody listens: dropped, no id used
  Client c(hub.subscribe());
  CHECK(hub.has_subscribers());
  hub.publish("run", "{}");
  c.read_all();
  CHECK(ids(c.received) == std::vector<std::string>{"1"});
}

TEST_CASE("event hub: every subscriber gets every event, with the same ids") {
  EventHub hub;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<Client>(hub.subscribe()));
  CHECK(hub.subscriber_count() == 50);
  // Half of them wait for an event, the other half are busy (ask later).
  for (std::size_t i = 0; i < clients.size(); i += 2) clients[i]->ask();
  for (int i = 0; i < 10; ++i) hub.publish("step", "{}");
  std::vector<std::string> expected;
  for (int i = 1; i <= 10; ++i) expected.push_back(std::to_string(i));
  for (auto& c : clients) {
    c->read_all();
    CHECK(ids(c->received) == expected);
  }
}

TEST_CASE("event hub: a cancelled subscription leaves the hub and ends its pending next()") {
  EventHub hub;
  Client a(hub.subscribe());
  Client b(hub.subscribe());
  a.ask();
  a.stream->cancel();
  CHECK(a.ended);  // the pending next() was answered with the end
  CHECK(hub.subscriber_count() == 1);
  hub.publish("run", "{}");
  CHECK(a.received.empty());
  b.read_all();
  CHECK(ids(b.received) == std::vector<std::string>{"1"});
  b.stream->cancel();
  CHECK_FALSE(hub.has_subscribers());
  // A cancelled stream answers next() with the end.
  Client after(b.stream);
  after.ask();
  CHECK(after.ended);
}

TEST_CASE("event hub: a slow client's queue is bounded; it gets its queue, `lost`, then the end") {
  EventHub hub(5);
  Client slow(hub.subscribe());
  Client fast(hub.subscribe());
  fast.ask();
  for (int i = 0; i < 8; ++i) {
    hub.publish("step", "{}");
    fast.read_all();
  }
  // The fast client saw all 8; the slow one (never asking) overflowed at the 6th.
  CHECK(ids(fast.received).size() == 8);
  CHECK_FALSE(fast.ended);
  CHECK(hub.subscriber_count() == 1);  // the slow one no longer takes events
  slow.read_all();
  CHECK(ids(slow.received) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(slow.received.find("event: lost\ndata: {\"last_id\": 5, ") != std::string::npos);
  CHECK(slow.received.substr(slow.received.size() - 2) == "\n\n");
  CHECK(slow.ended);
}

TEST_CASE("event hub: a heartbeat goes only to idle subscribers, without an id") {
  EventHub hub;
  Client idle(hub.subscribe());
  Client busy(hub.subscribe());
  idle.ask();
  hub.heartbeat();
  CHECK(idle.received == ": keepalive\n\n");
  CHECK(busy.received.empty());
  busy.read_all();  // nothing was queued for it
  CHECK(busy.received.empty());
  hub.publish("run", "{}");
  idle.read_all();
  CHECK(ids(idle.received) == std::vector<std::string>{"1"});  // heartbeats use no id
}

TEST_CASE("event hub: close ends every stream after what is queued, and refuses new ones") {
  EventHub hub;
  Client waiting(hub.subscribe());
  Client behind(hub.subscribe());
  waiting.ask();
  hub.publish("run", "{}");
  waiting.ask();
  hub.publish("run", "{}");  // `behind` has 2 queued, `waiting` has 1 delivered and waits again
  hub.close();
  CHECK(hub.closed());
  CHECK_FALSE(hub.has_subscribers());
  hub.publish("run", "{}");  // after close: for nobody
  waiting.read_all();
  behind.read_all();
  CHECK(ids(waiting.received) == std::vector<std::string>{"1", "2"});
  CHECK(ids(behind.received) == std::vector<std::string>{"1", "2"});
  CHECK(waiting.ended);
  CHECK(behind.ended);
  CHECK(hub.subscribe() == nullptr);
  hub.close();  // idempotent
}

TEST_CASE("event hub: a stream outliving its hub ends") {
  std::shared_ptr<BodyStream> stream;
  {
    EventHub hub;
    stream = hub.subscribe();
    hub.publish("run", "{}");
  }
  Client c(stream);
  c.read_all();
  CHECK(c.ended);
}

TEST_CASE("event hub: publishers on several threads; each client sees ids 1..N once, in order") {
  EventHub hub(1'000'000);
  Client c(hub.subscribe());
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&hub] {
      for (int i = 0; i < kEach; ++i) hub.publish("step", "{}");
    });
  for (auto& t : threads) t.join();
  c.read_all();
  auto got = ids(c.received);
  REQUIRE(got.size() == kThreads * kEach);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == std::to_string(i + 1));
}

TEST_CASE("event data: one line of JSON with the fields DESIGN.md names") {
  Timestamp at{std::chrono::milliseconds(1714521600123)};
  auto run = boost::json::parse(run_event_data("kpi", 7, RunStatus::failed, at)).as_object();
  CHECK(run.at("run_id").as_int64() == 7);
  CHECK(run.at("job").as_string() == "kpi");
  CHECK(run.at("status").as_string() == "failed");
  CHECK(run.at("at").as_string() == "2024-05-01T00:00:00.123Z");

  StepEventData e{"kpi", 7, "load", StepState::failed, 2, 3, false, at};
  std::string text = step_event_data(e);
  CHECK(text.find('\n') == std::string::npos);
  auto step = boost::json::parse(text).as_object();
  CHECK(step.at("step").as_string() == "load");
  CHECK(step.at("status").as_string() == "failed");
  CHECK(step.at("attempt").as_int64() == 2);
  CHECK(step.at("exit_code").as_int64() == 3);
  CHECK(step.at("will_retry").as_bool() == false);
  StepEventData derived{"kpi", 7, "notify", StepState::upstream_failed, 0, {}, {}, at};
  auto d = boost::json::parse(step_event_data(derived)).as_object();
  CHECK_FALSE(d.contains("exit_code"));
  CHECK_FALSE(d.contains("will_retry"));
  CHECK(d.at("status").as_string() == "upstream_failed");

  auto job = boost::json::parse(job_event_data("kpi", "loaded", at)).as_object();
  CHECK(job.at("job").as_string() == "kpi");
  CHECK(job.at("status").as_string() == "loaded");
}
