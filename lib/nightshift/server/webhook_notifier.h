// WebhookNotifier: sends the config's webhooks (DESIGN.md `notify`) on a thread
// of its own, so neither the scheduler, the executor nor an HTTP handler ever
// waits on a receiver. Events are queued (bounded); the thread reads the run
// from the store, builds the body, resolves ${secret:}/${env:} in the URL and
// headers at that moment, and POSTs it: up to `tries` tries with a timeout
// each and a doubling backoff between them. A webhook is named by its name
// only, in log lines and metric labels: its URL and headers never leave it.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/job_spec.h"
#include "nightshift/runtime/run_store.h"
#include "nightshift/server/webhook_payload.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nightshift {

struct WebhookNotifierOptions {
  std::map<std::string, WebhookSpec> webhooks;
  std::string secrets_dir;
  std::string dashboard_url;  // "http://HOST:PORT/": a run's page is {dashboard_url}#/runs/{id}
  int tries = 3;
  std::chrono::milliseconds timeout{10'000};      // per try: connect, and each read or write
  std::chrono::milliseconds first_backoff{1'000};  // then twice as long before each next try
  std::size_t max_queued = 1'000;                  // more waiting events are dropped
  std::function<void(const std::string& level, const std::string& message)> log;
  // One notification's end: outcome "sent", "failed" (every try failed, or it
  // could not be sent at all) or "dropped" (the queue was full, or the daemon
  // stopped first).
  std::function<void(const std::string& webhook, const std::string& outcome)> counted;
};

class WebhookNotifier {
 public:
  // `reader` must be safe to use from another thread (RunReaders is).
  WebhookNotifier(WebhookNotifierOptions options, RunReader& reader);
  // stop(0) if not stopped before.
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  // A run of `job` ended as stored. `deadline_was_missed`: its job's deadline
  // had been missed (a success then recovers it). Returns at once.
  void run_finished(const JobSpec& job, std::int64_t run_id, RunStatus status,
                    bool deadline_was_missed);
  // The deadline for the run `run_id` of `job` passed before the run succeeded.
  void deadline_missed(const JobSpec& job, std::int64_t run_id, Instant deadline);

  // Takes no more events; waits up to `wait` for the queue to be sent, then
  // stops what is in flight and drops the rest (counted as dropped).
  void stop(std::chrono::milliseconds wait);

 private:
  struct Task {
    NotifyEvent event;  // run_succeeded stands for "a success", recovered or not
    std::string job;
    std::int64_t run_id = 0;
    bool deadline_was_missed = false;
    std::optional<std::string> deadline;  // deadline_missed: ISO 8601 in the job's zone
    std::vector<std::string> webhooks;  // the job's, for this event (decided when sent)
  };

  std::vector<std::string> webhooks_of(const JobSpec& job) const;
  void enqueue(Task task);
  void loop();
  void handle(const Task& task);
  bool recovers(const Task& task);
  // One notification: every try. True when a try got a 2xx answer.
  bool send(const WebhookSpec& hook, const std::string& body, const std::string& what);
  // Waits out a backoff; false when stop() cut it short.
  bool pause(std::chrono::milliseconds how_long);
  void count(const std::string& webhook, const std::string& outcome);
  void log(const std::string& level, const std::string& message);

  WebhookNotifierOptions options_;
  RunReader& reader_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool stopping_ = false;  // no more events
  bool abandon_ = false;   // stop sending: the drain's wait is over
  std::function<void()> cancel_in_flight_;  // set while a request is under way
  std::thread thread_;
};

}  // namespace nightshift
