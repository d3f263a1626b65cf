#include "nightshift/server/webhook_notifier.h"

#include "nightshift/runtime/secret_resolver.h"
#include "nightshift/schedule.h"
#include "nightshift/webhook_url.h"

#include <httplib.h>

namespace nightshift {
namespace {

// Whether another try may help: no answer, a server error, 408 or 429. Any
// other 4xx says the request itself is wrong (a revoked Slack hook is a 404).
bool worth_retrying(int status) {
  return status == 0 || status >= 500 || status == 408 || status == 429;
}

}  // namespace

WebhookNotifier::WebhookNotifier(WebhookNotifierOptions options, RunReader& reader)
    : options_(std::move(options)), reader_(reader) {
  thread_ = std::thread([this] { loop(); });
}

WebhookNotifier::~WebhookNotifier() {
  stop(std::chrono::milliseconds(0));
}

std::vector<std::string> WebhookNotifier::webhooks_of(const JobSpec& job) const {
  std::vector<std::string> names;
  if (job.notify_all) {
    for (const auto& [name, hook] : options_.webhooks) names.push_back(name);
  } else {
    for (const auto& hook : job.notify)
      if (options_.webhooks.contains(hook.value)) names.push_back(hook.value);
  }
  return names;
}

void WebhookNotifier::run_finished(const JobSpec& job, std::int64_t run_id, RunStatus status,
                                   bool deadline_was_missed) {
  // A cancelled run is no event: somebody chose to stop it.
  if (status != RunStatus::succeeded && status != RunStatus::failed) return;
  Task task;
  task.event = status == RunStatus::succeeded ? NotifyEvent::run_succeeded : NotifyEvent::run_failed;
  task.job = job.name;
  task.run_id = run_id;
  task.deadline_was_missed = deadline_was_missed;
  task.webhooks = webhooks_of(job);
  enqueue(std::move(task));
}

void WebhookNotifier::deadline_missed(const JobSpec& job, std::int64_t run_id, Instant deadline) {
  Task task;
  task.event = NotifyEvent::deadline_missed;
  task.job = job.name;
  task.run_id = run_id;
  task.deadline = format_iso8601(deadline, job.zone ? job.zone : find_time_zone("UTC"));
  task.webhooks = webhooks_of(job);
  enqueue(std::move(task));
}

void WebhookNotifier::enqueue(Task task) {
  if (task.webhooks.empty()) return;
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    if (!stopping && queue_.size() < options_.max_queued) {
      queue_.push_back(std::move(task));
      wake_.notify_all();
      return;
    }
  }
  log("warn", std::string(to_string(task.event)) + " of run " + std::to_string(task.run_id) +
                  " (job " + task.job + ") not sent: " +
                  (stopping ? "the daemon is stopping" : "too many notifications are waiting"));
  for (const std::string& name : task.webhooks) count(name, "dropped");
}

void WebhookNotifier::stop(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake_.notify_all();
  if (!wake_.wait_for(lock, wait, [this] { return queue_.empty() && !cancel_in_flight_; })) {
    abandon_ = true;
    if (cancel_in_flight_) cancel_in_flight_();
    wake_.notify_all();
  }
  lock.unlock();
  thread_.join();
}

void WebhookNotifier::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and all is sent
    if (abandon_) {
      for (const Task& task : queue_)
        for (const std::string& name : task.webhooks) count(name, "dropped");
      queue_.clear();
      return;
    }
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    handle(task);
    lock.lock();
    wake_.notify_all();  // stop() waits for an empty queue
  }
}

// A success after a failed run, or after its deadline was missed, recovers the
// job: the previous run that ended (cancelled ones aside) failed.
bool WebhookNotifier::recovers(const Task& task) {
  if (task.deadline_was_missed) return true;
  for (const RunRecord& run : reader_.list_runs(task.job, 20, task.run_id)) {
    if (run.status == RunStatus::failed) return true;
    if (run.status == RunStatus::succeeded) return false;
  }
  return false;
}

void WebhookNotifier::handle(const Task& task) {
  Notification n;
  n.event = task.event;
  std::optional<RunRecord> run;
  bool recovered = false;
  try {
    run = reader_.get_run(task.run_id);
    if (task.event == NotifyEvent::run_succeeded) recovered = recovers(task);
  } catch (const StoreError& e) {
    log("warn", std::string(to_string(task.event)) + " of run " + std::to_string(task.run_id) +
                    " (job " + task.job + ") not sent: cannot read the run: " + e.what());
  }
  if (!run) {
    for (const std::string& name : task.webhooks) count(name, "failed");
    return;
  }
  n.run = std::move(*run);
  n.url = options_.dashboard_url + "#/runs/" + std::to_string(task.run_id);
  n.deadline = task.deadline;
  for (const std::string& name : task.webhooks) {
    const WebhookSpec& hook = options_.webhooks.at(name);
    // A recovering success is run_recovered to a webhook that asks for it,
    // else run_succeeded: one message for one success.
    n.event = task.event;
    if (recovered && hook.wants("run_recovered")) n.event = NotifyEvent::run_recovered;
    if (!hook.wants(to_string(n.event))) continue;
    const std::string what = std::string(to_string(n.event)) + " of run " +
                             std::to_string(task.run_id) + " (job " + task.job + ")";
    count(name, send(hook, webhook_body(n, hook.format), what) ? "sent" : "failed");
  }
}

bool WebhookNotifier::send(const WebhookSpec& hook, const std::string& body,
                           const std::string& what) {
  const std::string prefix = "webhook " + hook.name + ": " + what;
  // Resolved now, so a rotated secret file counts without a restart. The
  // resolver's errors name the reference, never a value.
  SecretResolver resolver(options_.secrets_dir);
  auto url = resolver.resolve(hook.url);
  if (!url) {
    log("warn", prefix + " not sent: url: " + url.error().message);
    return false;
  }
  auto target = split_webhook_url(*url);
  if (!target) {
    log("warn", prefix + " not sent: its url is not an http:// or https:// URL with a host");
    return false;
  }
  httplib::Headers headers;
  for (const auto& [name, value] : hook.headers) {
    auto resolved = resolver.resolve(value);
    if (!resolved) {
      log("warn", prefix + " not sent: header " + name + ": " + resolved.error().message);
      return false;
    }
    headers.emplace(name, *resolved);
  }
  headers.emplace("User-Agent", "nightshift");

  auto backoff = options_.first_backoff;
  for (int attempt = 1; attempt <= options_.tries; ++attempt) {
    httplib::Client client(target->origin);
    client.set_connection_timeout(options_.timeout);
    client.set_read_timeout(options_.timeout);
    client.set_write_timeout(options_.timeout);
    {
      std::lock_guard lock(mutex_);
      if (abandon_) return false;
      cancel_in_flight_ = [&client] { client.stop(); };
    }
    auto result = client.Post(target->path, headers, body, "application/json");
    {
      std::lock_guard lock(mutex_);
      cancel_in_flight_ = nullptr;
    }
    const int status = result ? result->status : 0;
    if (status >= 200 && status < 300) return true;
    // httplib's error texts are generic ("Could not establish connection"):
    // no URL, so no secret, reaches the log.
    std::string why = result ? "HTTP " + std::to_string(status) : httplib::to_string(result.error());
    const bool again = attempt < options_.tries && worth_retrying(status);
    log("warn", prefix + ": try " + std::to_string(attempt) + " of " +
                    std::to_string(options_.tries) + " failed: " + why +
                    (again ? "; trying again in " + format_duration(backoff)
                           : attempt < options_.tries ? "; not retried" : ""));
    if (!again || !pause(backoff)) return false;
    backoff *= 2;
  }
  return false;
}

bool WebhookNotifier::pause(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, how_long, [this] { return abandon_; });
}

void WebhookNotifier::count(const std::string& webhook, const std::string& outcome) {
  if (options_.counted) options_.counted(webhook, outcome);
}

void WebhookNotifier::log(const std::string& level, const std::string& message) {
  if (options_.log) options_.log(level, message);
}

}  // namespace nightshift
