#include "nightshift/server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace nightshift {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Batch jobs and their steps take from seconds to hours.
const Histogram::BucketBoundaries kDurationBuckets{1,   5,    15,   30,   60,   120,   300,
                                                   600, 1200, 1800, 3600, 7200, 14400, 21600};
// A timer that fires late by more than a minute is a problem in itself.
const Histogram::BucketBoundaries kDelayBuckets{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                1,     5,     10,   30,   60};

// Created at 0 so that increase() sees the first failure of a job or step.
constexpr std::array kRunStatuses{RunStatus::succeeded, RunStatus::failed, RunStatus::cancelled};
constexpr std::array kAttemptOutcomes{StepState::succeeded, StepState::failed, StepState::timed_out,
                                      StepState::cancelled, StepState::lost};

// A negative or NaN duration (the wall clock stepped back) must not corrupt a histogram's sum.
double non_negative(double seconds) {
  return std::max(0.0, seconds);
}

void remove_if_present(Family<Gauge>& family, const Labels& labels) {
  if (family.Has(labels)) family.Remove(&family.Add(labels));
}

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

MetricFamily single_value(std::string name, std::string help, MetricType type, double value) {
  MetricFamily family{std::move(name), std::move(help), type, {}};
  prometheus::ClientMetric metric;
  if (type == MetricType::Counter)
    metric.counter.value = value;
  else
    metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
  return family;
}

// The standard process_* metrics of Prometheus client libraries, which prometheus-cpp core lacks.
// A value that cannot be read is left out rather than reported as 0.
std::vector<MetricFamily> process_families() {
  std::vector<MetricFamily> out;
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));

  if (auto statm = read_file("/proc/self/statm")) {
    std::istringstream fields(*statm);
    double size_pages = 0;
    double resident_pages = 0;
    if (fields >> size_pages >> resident_pages) {
      out.push_back(single_value("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                 MetricType::Gauge, size_pages * page_bytes));
      out.push_back(single_value("process_resident_memory_bytes", "Resident memory size in bytes.",
                                 MetricType::Gauge, resident_pages * page_bytes));
    }
  }

  auto stat = read_file("/proc/self/stat");
  // The command name (field 2) may hold spaces and parentheses, so fields are counted from its end.
  const auto name_end = stat ? stat->rfind(')') : std::string::npos;
  if (name_end != std::string::npos && ticks_per_second > 0) {
    std::istringstream fields(stat->substr(name_end + 1));
    std::vector<std::string> tokens{std::istream_iterator<std::string>(fields),
                                    std::istream_iterator<std::string>()};
    // tokens[0] is field 3 (state): utime is field 14, stime 15, starttime 22, in clock ticks.
    if (tokens.size() > 19) {
      const double cpu_ticks = std::stod(tokens[11]) + std::stod(tokens[12]);
      out.push_back(single_value("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.",
                                 MetricType::Counter, cpu_ticks / ticks_per_second));
      std::optional<double> boot_time;
      if (auto proc_stat = read_file("/proc/stat")) {
        std::istringstream lines(*proc_stat);
        for (std::string line; std::getline(lines, line);)
          if (line.starts_with("btime ")) boot_time = std::stod(line.substr(6));
      }
      if (boot_time)
        out.push_back(single_value(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            MetricType::Gauge, *boot_time + std::stod(tokens[19]) / ticks_per_second));
    }
  }

  std::error_code error;
  std::filesystem::directory_iterator fds("/proc/self/fd", error);
  if (!error) {
    const auto count = std::distance(fds, std::filesystem::directory_iterator());
    out.push_back(single_value("process_open_fds", "Number of open file descriptors.",
                               MetricType::Gauge, static_cast<double>(count)));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    out.push_back(single_value("process_max_fds", "Maximum number of open file descriptors.",
                               MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  return out;
}

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  Family<Gauge>& build_info = prometheus::BuildGauge()
                                  .Name("nightshift_build_info")
                                  .Help("Always 1; the version label names the running build.")
                                  .Register(registry);
  Family<Gauge>& jobs_loaded = prometheus::BuildGauge()
                                   .Name("nightshift_jobs_loaded")
                                   .Help("Number of jobs in the configuration in force.")
                                   .Register(registry);
  Family<Counter>& job_runs = prometheus::BuildCounter()
                                  .Name("nightshift_job_runs_total")
                                  .Help("Runs finished, by job and final status.")
                                  .Register(registry);
  Family<Histogram>& job_run_duration = prometheus::BuildHistogram()
                                            .Name("nightshift_job_run_duration_seconds")
                                            .Help("Duration of finished runs in seconds, by job.")
                                            .Register(registry);
  Family<Gauge>& job_last_success_time =
      prometheus::BuildGauge()
          .Name("nightshift_job_last_success_timestamp_seconds")
          .Help("Unix time at which the job's latest successful run finished.")
          .Register(registry);
  Family<Gauge>& job_last_run_success =
      prometheus::BuildGauge()
          .Name("nightshift_job_last_run_success")
          .Help("1 if the job's latest finished run succeeded, else 0 (cancelled counts as 0).")
          .Register(registry);
  Family<Gauge>& job_next_run = prometheus::BuildGauge()
                                    .Name("nightshift_job_next_run_timestamp_seconds")
                                    .Help("Unix time of the job's next scheduled run.")
                                    .Register(registry);
  Family<Gauge>& job_deadline_missed =
      prometheus::BuildGauge()
          .Name("nightshift_job_deadline_missed")
          .Help("1 if the job's run has not succeeded by its deadline, else 0.")
          .Register(registry);
  Family<Gauge>& job_paused = prometheus::BuildGauge()
                                  .Name("nightshift_job_paused")
                                  .Help("1 if the job is paused (it does not fire), else 0.")
                                  .Register(registry);
  Family<Gauge>& job_schedule_interval =
      prometheus::BuildGauge()
          .Name("nightshift_job_schedule_interval_seconds")
          .Help("Median gap between the job's next fire times, in seconds (scheduled jobs only).")
          .Register(registry);
  Family<Counter>& step_attempts = prometheus::BuildCounter()
                                       .Name("nightshift_step_attempts_total")
                                       .Help("Step attempts finished, by job, step and outcome.")
                                       .Register(registry);
  Family<Histogram>& step_duration =
      prometheus::BuildHistogram()
          .Name("nightshift_step_duration_seconds")
          .Help("Duration of finished step attempts in seconds, by job and step.")
          .Register(registry);
  Family<Gauge>& steps_running = prometheus::BuildGauge()
                                     .Name("nightshift_steps_running")
                                     .Help("Step attempts running now.")
                                     .Register(registry);
  Family<Gauge>& steps_ready = prometheus::BuildGauge()
                                   .Name("nightshift_steps_ready")
                                   .Help("Steps ready to start and waiting for a slot.")
                                   .Register(registry);
  Family<Gauge>& pool_slots_in_use = prometheus::BuildGauge()
                                         .Name("nightshift_pool_slots_in_use")
                                         .Help("Slots of each pool taken by running steps.")
                                         .Register(registry);
  Family<Histogram>& schedule_delay =
      prometheus::BuildHistogram()
          .Name("nightshift_schedule_delay_seconds")
          .Help("Delay from a run's scheduled fire time to its start, in seconds.")
          .Register(registry);
  Family<Gauge>& config_reload_success =
      prometheus::BuildGauge()
          .Name("nightshift_config_reload_success")
          .Help("1 if the latest configuration reload succeeded, else 0.")
          .Register(registry);
  Family<Counter>& store_errors = prometheus::BuildCounter()
                                      .Name("nightshift_store_errors_total")
                                      .Help("Operations on the run store that failed.")
                                      .Register(registry);
  Family<Counter>& log_write_errors =
      prometheus::BuildCounter()
          .Name("nightshift_log_write_errors_total")
          .Help("Step attempts whose log could not be written whole (disk full, I/O error).")
          .Register(registry);
  Family<Counter>& notifications =
      prometheus::BuildCounter()
          .Name("nightshift_notifications_total")
          .Help("Webhook notifications by webhook name and outcome (sent, failed after every "
                "try, dropped unsent).")
          .Register(registry);
  Family<Counter>& retention_pruned =
      prometheus::BuildCounter()
          .Name("nightshift_retention_pruned_total")
          .Help("What retention removed: finished runs (with their steps and attempts) and "
                "run log folders.")
          .Register(registry);
  Family<Gauge>& store_up =
      prometheus::BuildGauge()
          .Name("nightshift_store_up")
          .Help("1 while the run store takes writes, 0 while they fail and wait.")
          .Register(registry);

  // Held across each lookup and update, so forget_job cannot free a series in use,
  // and across collection, so a scrape sees each call whole.
  mutable std::mutex mutex;
  std::set<std::string> pools;
};

Metrics::Metrics(std::string version) : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", std::move(version)}}).Set(1);
  // Unlabelled series exist from the start: an absent series is not a zero to alerts.
  impl_->jobs_loaded.Add({});
  impl_->steps_running.Add({});
  impl_->steps_ready.Add({});
  impl_->config_reload_success.Add({}).Set(1);
  impl_->store_errors.Add({});
  impl_->log_write_errors.Add({});
  impl_->retention_pruned.Add({{"kind", "runs"}});
  impl_->retention_pruned.Add({{"kind", "log_folders"}});
  impl_->store_up.Add({}).Set(1);
  impl_->schedule_delay.Add({}, kDelayBuckets);
}

Metrics::~Metrics() = default;

void Metrics::set_jobs_loaded(std::size_t count) {
  std::lock_guard lock(impl_->mutex);
  impl_->jobs_loaded.Add({}).Set(static_cast<double>(count));
}

void Metrics::run_finished(const std::string& job, RunStatus status, double duration_seconds,
                           Timestamp finished_at) {
  std::lock_guard lock(impl_->mutex);
  for (RunStatus initial : kRunStatuses)
    impl_->job_runs.Add({{"job", job}, {"status", std::string(to_string(initial))}});
  impl_->job_runs.Add({{"job", job}, {"status", std::string(to_string(status))}}).Increment();
  impl_->job_run_duration.Add({{"job", job}}, kDurationBuckets)
      .Observe(non_negative(duration_seconds));
  const bool succeeded = status == RunStatus::succeeded;
  impl_->job_last_run_success.Add({{"job", job}}).Set(succeeded ? 1 : 0);
  if (succeeded) {
    const std::chrono::duration<double> since_epoch = finished_at.time_since_epoch();
    impl_->job_last_success_time.Add({{"job", job}}).Set(since_epoch.count());
  }
}

void Metrics::attempt_finished(const std::string& job, const std::string& step, StepState outcome,
                               std::optional<double> duration_seconds) {
  std::lock_guard lock(impl_->mutex);
  for (StepState initial : kAttemptOutcomes)
    impl_->step_attempts.Add(
        {{"job", job}, {"step", step}, {"outcome", std::string(to_string(initial))}});
  impl_->step_attempts
      .Add({{"job", job}, {"step", step}, {"outcome", std::string(to_string(outcome))}})
      .Increment();
  if (duration_seconds)
    impl_->step_duration.Add({{"job", job}, {"step", step}}, kDurationBuckets)
        .Observe(non_negative(*duration_seconds));
}

void Metrics::set_next_run(const std::string& job, std::optional<double> unix_seconds) {
  std::lock_guard lock(impl_->mutex);
  if (unix_seconds)
    impl_->job_next_run.Add({{"job", job}}).Set(*unix_seconds);
  else
    remove_if_present(impl_->job_next_run, {{"job", job}});
}

void Metrics::set_deadline_missed(const std::string& job, bool missed) {
  std::lock_guard lock(impl_->mutex);
  impl_->job_deadline_missed.Add({{"job", job}}).Set(missed ? 1 : 0);
}

void Metrics::set_paused(const std::string& job, bool paused) {
  std::lock_guard lock(impl_->mutex);
  impl_->job_paused.Add({{"job", job}}).Set(paused ? 1 : 0);
}

void Metrics::set_schedule_interval(const std::string& job, std::optional<double> seconds) {
  std::lock_guard lock(impl_->mutex);
  if (seconds)
    impl_->job_schedule_interval.Add({{"job", job}}).Set(*seconds);
  else
    remove_if_present(impl_->job_schedule_interval, {{"job", job}});
}

void Metrics::set_load(std::size_t steps_running, std::size_t steps_ready,
                       const std::map<std::string, int>& pool_slots_in_use) {
  std::lock_guard lock(impl_->mutex);
  impl_->steps_running.Add({}).Set(static_cast<double>(steps_running));
  impl_->steps_ready.Add({}).Set(static_cast<double>(steps_ready));
  for (const auto& pool : impl_->pools)
    if (!pool_slots_in_use.contains(pool))
      remove_if_present(impl_->pool_slots_in_use, {{"pool", pool}});
  impl_->pools.clear();
  for (const auto& [pool, in_use] : pool_slots_in_use) {
    impl_->pool_slots_in_use.Add({{"pool", pool}}).Set(in_use);
    impl_->pools.insert(pool);
  }
}

void Metrics::observe_schedule_delay(double seconds) {
  std::lock_guard lock(impl_->mutex);
  impl_->schedule_delay.Add({}, kDelayBuckets).Observe(non_negative(seconds));
}

void Metrics::set_config_reload_success(bool success) {
  std::lock_guard lock(impl_->mutex);
  impl_->config_reload_success.Add({}).Set(success ? 1 : 0);
}

void Metrics::store_error() {
  std::lock_guard lock(impl_->mutex);
  impl_->store_errors.Add({}).Increment();
}
void Metrics::log_write_error() {
  std::lock_guard lock(impl_->mutex);
  impl_->log_write_errors.Add({}).Increment();
}

void Metrics::add_webhook(const std::string& webhook) {
  std::lock_guard lock(impl_->mutex);
  for (const char* outcome : {"sent", "failed", "dropped"})
    impl_->notifications.Add({{"webhook", webhook}, {"outcome", outcome}});
}

void Metrics::notification(const std::string& webhook, const std::string& outcome) {
  std::lock_guard lock(impl_->mutex);
  impl_->notifications.Add({{"webhook", webhook}, {"outcome", outcome}}).Increment();
}

void Metrics::retention_pruned(const std::string& kind, std::size_t count) {
  std::lock_guard lock(impl_->mutex);
  impl_->retention_pruned.Add({{"kind", kind}}).Increment(static_cast<double>(count));
}

void Metrics::set_store_up(bool up) {
  std::lock_guard lock(impl_->mutex);
  impl_->store_up.Add({}).Set(up ? 1 : 0);
}

void Metrics::forget_job(const std::string& job) {
  std::lock_guard lock(impl_->mutex);
  const Labels labels{{"job", job}};
  remove_if_present(impl_->job_last_run_success, labels);
  remove_if_present(impl_->job_last_success_time, labels);
  remove_if_present(impl_->job_next_run, labels);
  remove_if_present(impl_->job_deadline_missed, labels);
  remove_if_present(impl_->job_paused, labels);
  remove_if_present(impl_->job_schedule_interval, labels);
}

std::string Metrics::serialize() const {
  std::vector<MetricFamily> families;
  {
    std::lock_guard lock(impl_->mutex);
    families = impl_->registry.Collect();
  }
  // Read outside the lock: /proc is slow next to a counter increment.
  for (auto& family : process_families()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace nightshift
