#include "nightshift/server/metrics.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace nightshift;

namespace {

using LabelSet = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  LabelSet labels;
  double value = 0;
};

// Just enough of text format 0.0.4 to read back what Metrics writes.
std::vector<Sample> parse_samples(const std::string& text) {
  std::vector<Sample> samples;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    std::size_t pos = line.find_first_of("{ ");
    sample.name = line.substr(0, pos);
    if (line[pos] == '{') {
      ++pos;
      while (line[pos] != '}') {
        const std::size_t eq = line.find('=', pos);
        const std::string key = line.substr(pos, eq - pos);
        std::string value;
        for (pos = eq + 2; line[pos] != '"'; ++pos) {
          if (line[pos] == '\\') ++pos;
          value += line[pos];
        }
        sample.labels[key] = value;
        ++pos;
        if (line[pos] == ',') ++pos;
      }
      ++pos;
    }
    const std::string value = line.substr(pos + 1);
    sample.value = value == "+Inf" ? INFINITY : std::stod(value);
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::optional<double> value_of(const std::vector<Sample>& samples, const std::string& name,
                               const LabelSet& labels = {}) {
  for (const auto& sample : samples)
    if (sample.name == name && sample.labels == labels) return sample.value;
  return std::nullopt;
}

bool has_series(const std::vector<Sample>& samples, const std::string& name,
                const LabelSet& labels) {
  return value_of(samples, name, labels).has_value();
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// The "# TYPE" of a family, or "" when it has none.
std::string type_of(const std::string& text, const std::string& name) {
  const std::string prefix = "\n# TYPE " + name + " ";
  const std::size_t pos = ("\n" + text).find(prefix);
  if (pos == std::string::npos) return "";
  const std::size_t start = pos + prefix.size() - 1;
  return text.substr(start, text.find('\n', start) - start);
}

std::string help_of(const std::string& text, const std::string& name) {
  const std::string prefix = "\n# HELP " + name + " ";
  const std::size_t pos = ("\n" + text).find(prefix);
  if (pos == std::string::npos) return "";
  const std::size_t start = pos + prefix.size() - 1;
  return text.substr(start, text.find('\n', start) - start);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::filesystem::path> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

const Timestamp kFinishedAt{std::chrono::milliseconds(1'700'000'000'250)};

// One call of every method, as a daemon would make them.
void exercise(Metrics& metrics) {
  metrics.set_jobs_loaded(3);
  metrics.run_finished("kpi", RunStatus::failed, 42.5, kFinishedAt);
  metrics.run_finished("sales", RunStatus::succeeded, 700, kFinishedAt);
  metrics.attempt_finished("kpi", "extract", StepState::timed_out, 30);
  metrics.attempt_finished("kpi", "extract", StepState::succeeded, 2);
  metrics.set_next_run("kpi", 1'700'086'400.0);
  metrics.set_deadline_missed("kpi", true);
  metrics.set_paused("kpi", true);
  metrics.set_paused("sales", false);
  metrics.set_schedule_interval("kpi", 86400);
  metrics.set_load(2, 5, {{"source_db", 3}});
  metrics.observe_schedule_delay(0.02);
  metrics.set_config_reload_success(false);
  metrics.store_error();
}

}  // namespace

TEST_CASE("metrics: every DESIGN.md metric appears with its type, labels and value") {
  Metrics metrics("1.4.0");
  exercise(metrics);
  const std::string text = metrics.serialize();
  INFO(text);
  const auto samples = parse_samples(text);

  const std::map<std::string, std::string> types{
      {"nightshift_build_info", "gauge"},
      {"nightshift_jobs_loaded", "gauge"},
      {"nightshift_job_runs_total", "counter"},
      {"nightshift_job_run_duration_seconds", "histogram"},
      {"nightshift_job_last_success_timestamp_seconds", "gauge"},
      {"nightshift_job_last_run_success", "gauge"},
      {"nightshift_job_next_run_timestamp_seconds", "gauge"},
      {"nightshift_job_deadline_missed", "gauge"},
      {"nightshift_job_paused", "gauge"},
      {"nightshift_job_schedule_interval_seconds", "gauge"},
      {"nightshift_step_attempts_total", "counter"},
      {"nightshift_step_duration_seconds", "histogram"},
      {"nightshift_steps_running", "gauge"},
      {"nightshift_steps_ready", "gauge"},
      {"nightshift_pool_slots_in_use", "gauge"},
      {"nightshift_schedule_delay_seconds", "histogram"},
      {"nightshift_config_reload_success", "gauge"},
      {"nightshift_store_errors_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_cpu_seconds_total", "counter"},
      {"process_start_time_seconds", "gauge"},
  };
  for (const auto& [name, type] : types) {
    CAPTURE(name);
    CHECK(type_of(text, name) == type);
    CHECK_FALSE(help_of(text, name).empty());
  }

  CHECK(has_line(text, R"(nightshift_build_info{version="1.4.0"} 1)"));
  CHECK(has_line(text, "nightshift_jobs_loaded 3"));
  CHECK(has_line(text, R"(nightshift_job_runs_total{job="kpi",status="failed"} 1)"));
  CHECK(has_line(text, R"(nightshift_job_runs_total{job="sales",status="succeeded"} 1)"));
  // Created at zero, so that the first failure of a job is an increase.
  CHECK(has_line(text, R"(nightshift_job_runs_total{job="kpi",status="succeeded"} 0)"));
  CHECK(has_line(text, R"(nightshift_job_runs_total{job="kpi",status="cancelled"} 0)"));
  CHECK(value_of(samples, "nightshift_job_run_duration_seconds_sum", {{"job", "kpi"}}) == 42.5);
  CHECK(has_line(text, R"(nightshift_job_last_run_success{job="kpi"} 0)"));
  CHECK(has_line(text, R"(nightshift_job_last_run_success{job="sales"} 1)"));
  CHECK(value_of(samples, "nightshift_job_last_success_timestamp_seconds", {{"job", "sales"}}) ==
        Approx(1'700'000'000.25).margin(1e-6));
  CHECK_FALSE(
      has_series(samples, "nightshift_job_last_success_timestamp_seconds", {{"job", "kpi"}}));
  CHECK(has_line(text, R"(nightshift_job_next_run_timestamp_seconds{job="kpi"} 1700086400)"));
  CHECK(has_line(text, R"(nightshift_job_deadline_missed{job="kpi"} 1)"));
  CHECK(has_line(text, R"(nightshift_job_paused{job="kpi"} 1)"));
  CHECK(has_line(text, R"(nightshift_job_paused{job="sales"} 0)"));
  CHECK(has_line(text, R"(nightshift_job_schedule_interval_seconds{job="kpi"} 86400)"));
  CHECK(value_of(samples, "nightshift_step_attempts_total",
                 {{"job", "kpi"}, {"step", "extract"}, {"outcome", "timed_out"}}) == 1);
  CHECK(value_of(samples, "nightshift_step_attempts_total",
                 {{"job", "kpi"}, {"step", "extract"}, {"outcome", "succeeded"}}) == 1);
  for (const char* outcome : {"failed", "cancelled", "lost"})
    CHECK(value_of(samples, "nightshift_step_attempts_total",
                   {{"job", "kpi"}, {"step", "extract"}, {"outcome", outcome}}) == 0);
  CHECK(value_of(samples, "nightshift_step_duration_seconds_count",
                 {{"job", "kpi"}, {"step", "extract"}}) == 2);
  CHECK(value_of(samples, "nightshift_step_duration_seconds_sum",
                 {{"job", "kpi"}, {"step", "extract"}}) == 32);
  CHECK(has_line(text, "nightshift_steps_running 2"));
  CHECK(has_line(text, "nightshift_steps_ready 5"));
  CHECK(has_line(text, R"(nightshift_pool_slots_in_use{pool="source_db"} 3)"));
  CHECK(has_line(text, "nightshift_schedule_delay_seconds_count 1"));
  CHECK(has_line(text, "nightshift_config_reload_success 0"));
  CHECK(has_line(text, "nightshift_store_errors_total 1"));
}

TEST_CASE("metrics: a fresh instance shows unlabelled series at their starting values") {
  Metrics metrics("dev");
  const std::string text = metrics.serialize();
  INFO(text);
  CHECK(has_line(text, "nightshift_jobs_loaded 0"));
  CHECK(has_line(text, "nightshift_steps_running 0"));
  CHECK(has_line(text, "nightshift_steps_ready 0"));
  CHECK(has_line(text, "nightshift_config_reload_success 1"));
  CHECK(has_line(text, "nightshift_store_errors_total 0"));
  CHECK(has_line(text, "nightshift_schedule_delay_seconds_count 0"));
  CHECK(text.find("nightshift_job_runs_total{") == std::string::npos);
}

TEST_CASE("metrics: histograms have cumulative buckets, +Inf, sum and count") {
  Metrics metrics("dev");
  for (double seconds : {0.5, 3.0, 100.0, 50'000.0})
    metrics.run_finished("kpi", RunStatus::succeeded, seconds, kFinishedAt);
  metrics.observe_schedule_delay(0.0005);
  metrics.observe_schedule_delay(120);
  const auto samples = parse_samples(metrics.serialize());

  const std::string run = "nightshift_job_run_duration_seconds";
  const LabelSet kpi{{"job", "kpi"}};
  auto bucket = [&](const std::string& name, LabelSet labels, const std::string& le) {
    labels["le"] = le;
    return value_of(samples, name + "_bucket", labels);
  };
  CHECK(bucket(run, kpi, "1") == 1);
  CHECK(bucket(run, kpi, "5") == 2);
  CHECK(bucket(run, kpi, "120") == 3);
  CHECK(bucket(run, kpi, "21600") == 3);
  CHECK(bucket(run, kpi, "+Inf") == 4);
  CHECK(value_of(samples, run + "_count", kpi) == 4);
  CHECK(value_of(samples, run + "_sum", kpi) == Approx(50'103.5));

  const std::string delay = "nightshift_schedule_delay_seconds";
  CHECK(bucket(delay, {}, "0.001") == 1);
  CHECK(bucket(delay, {}, "60") == 1);
  CHECK(bucket(delay, {}, "+Inf") == 2);
  CHECK(value_of(samples, delay + "_sum") == Approx(120.0005));
  CHECK(value_of(samples, delay + "_count") == 2);

  // Bucket counts never decrease with le.
  double previous = 0;
  for (const auto& sample : samples) {
    if (sample.name != run + "_bucket") continue;
    CHECK(sample.value >= previous);
    previous = sample.value;
  }
}

TEST_CASE("metrics: a negative duration counts as zero") {
  Metrics metrics("dev");
  metrics.attempt_finished("kpi", "load", StepState::failed, -3);
  metrics.observe_schedule_delay(-0.5);
  const auto samples = parse_samples(metrics.serialize());
  CHECK(value_of(samples, "nightshift_step_duration_seconds_sum",
                 {{"job", "kpi"}, {"step", "load"}}) == 0);
  CHECK(value_of(samples, "nightshift_schedule_delay_seconds_sum") == 0);
}

TEST_CASE("metrics: last success keeps its time through later failures and cancels") {
  Metrics metrics("dev");
  metrics.run_finished("kpi", RunStatus::succeeded, 10, kFinishedAt);
  metrics.run_finished("kpi", RunStatus::cancelled, 10, kFinishedAt + std::chrono::hours(24));
  auto samples = parse_samples(metrics.serialize());
  CHECK(value_of(samples, "nightshift_job_last_run_success", {{"job", "kpi"}}) == 0);
  CHECK(value_of(samples, "nightshift_job_runs_total", {{"job", "kpi"}, {"status", "cancelled"}}) ==
        1);
  CHECK(value_of(samples, "nightshift_job_last_success_timestamp_seconds", {{"job", "kpi"}}) ==
        Approx(1'700'000'000.25).margin(1e-6));

  metrics.run_finished("kpi", RunStatus::succeeded, 10, kFinishedAt + std::chrono::hours(48));
  samples = parse_samples(metrics.serialize());
  CHECK(value_of(samples, "nightshift_job_last_run_success", {{"job", "kpi"}}) == 1);
  CHECK(value_of(samples, "nightshift_job_last_success_timestamp_seconds", {{"job", "kpi"}}) ==
        Approx(1'700'172'800.25).margin(1e-6));
}

TEST_CASE("metrics: a job without a next run has no next-run series") {
  Metrics metrics("dev");
  metrics.set_next_run("kpi", 1'700'000'000.0);
  metrics.set_next_run("kpi", std::nullopt);
  metrics.set_next_run("manual_only", std::nullopt);
  const std::string text = metrics.serialize();
  INFO(text);
  CHECK(text.find("nightshift_job_next_run_timestamp_seconds{") == std::string::npos);
}

TEST_CASE("metrics: a manual-only job has no schedule interval series") {
  Metrics metrics("dev");
  metrics.set_schedule_interval("kpi", 900);
  metrics.set_schedule_interval("manual_only", std::nullopt);
  auto samples = parse_samples(metrics.serialize());
  CHECK(value_of(samples, "nightshift_job_schedule_interval_seconds", {{"job", "kpi"}}) == 900);
  CHECK_FALSE(
      has_series(samples, "nightshift_job_schedule_interval_seconds", {{"job", "manual_only"}}));
  // A reload that makes the job manual-only removes its series.
  metrics.set_schedule_interval("kpi", std::nullopt);
  samples = parse_samples(metrics.serialize());
  CHECK_FALSE(has_series(samples, "nightshift_job_schedule_interval_seconds", {{"job", "kpi"}}));
}

TEST_CASE("metrics: forget_job removes the job's gauges and keeps its counters") {
  Metrics metrics("dev");
  for (const char* job : {"kpi", "sales"}) {
    metrics.run_finished(job, RunStatus::succeeded, 10, kFinishedAt);
    metrics.attempt_finished(job, "load", StepState::succeeded, 5);
    metrics.set_next_run(job, 1'700'086'400.0);
    metrics.set_deadline_missed(job, false);
    metrics.set_paused(job, false);
    metrics.set_schedule_interval(job, 3600);
  }
  metrics.forget_job("kpi");
  metrics.forget_job("never_loaded");
  const auto samples = parse_samples(metrics.serialize());

  for (const char* gauge :
       {"nightshift_job_last_run_success", "nightshift_job_last_success_timestamp_seconds",
        "nightshift_job_next_run_timestamp_seconds", "nightshift_job_deadline_missed",
        "nightshift_job_paused", "nightshift_job_schedule_interval_seconds"}) {
    CAPTURE(gauge);
    CHECK_FALSE(has_series(samples, gauge, {{"job", "kpi"}}));
    CHECK(has_series(samples, gauge, {{"job", "sales"}}));
  }
  CHECK(value_of(samples, "nightshift_job_runs_total", {{"job", "kpi"}, {"status", "succeeded"}}) ==
        1);
  CHECK(value_of(samples, "nightshift_job_run_duration_seconds_count", {{"job", "kpi"}}) == 1);
  CHECK(value_of(samples, "nightshift_step_attempts_total",
                 {{"job", "kpi"}, {"step", "load"}, {"outcome", "succeeded"}}) == 1);

  // A job that comes back continues its counters and gets gauges again.
  metrics.run_finished("kpi", RunStatus::failed, 10, kFinishedAt);
  const auto again = parse_samples(metrics.serialize());
  CHECK(value_of(again, "nightshift_job_runs_total", {{"job", "kpi"}, {"status", "succeeded"}}) ==
        1);
  CHECK(value_of(again, "nightshift_job_last_run_success", {{"job", "kpi"}}) == 0);
}

TEST_CASE("metrics: set_load drops pools it no longer reports") {
  Metrics metrics("dev");
  metrics.set_load(3, 0, {{"source_db", 2}, {"warehouse", 1}});
  metrics.set_load(1, 4, {{"warehouse", 0}});
  const auto samples = parse_samples(metrics.serialize());
  CHECK_FALSE(has_series(samples, "nightshift_pool_slots_in_use", {{"pool", "source_db"}}));
  CHECK(value_of(samples, "nightshift_pool_slots_in_use", {{"pool", "warehouse"}}) == 0);
  CHECK(value_of(samples, "nightshift_steps_running") == 1);
  CHECK(value_of(samples, "nightshift_steps_ready") == 4);
}

TEST_CASE("metrics: process metrics are sane") {
  Metrics metrics("dev");
  const auto samples = parse_samples(metrics.serialize());
  const auto rss = value_of(samples, "process_resident_memory_bytes");
  const auto cpu = value_of(samples, "process_cpu_seconds_total");
  const auto start = value_of(samples, "process_start_time_seconds");
  REQUIRE(rss);
  REQUIRE(cpu);
  REQUIRE(start);
  CHECK(*rss > 0);
  CHECK(*cpu >= 0);
  const double now = now_seconds();
  CHECK(*start <= now + 1);  // boot time and ticks are rounded
  CHECK(*start > now - 24 * 3600);
  if (const auto fds = value_of(samples, "process_open_fds")) CHECK(*fds >= 3);
}

TEST_CASE("metrics: concurrent updates while serializing lose nothing") {
  Metrics metrics("dev");
  constexpr int kThreads = 4;
  constexpr int kCalls = 500;
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::atomic<int> bad_scrapes{0};  // Catch2 assertions are not thread-safe
  std::thread scraper([&] {
    double previous_total = 0;
    while (!done) {
      double total = 0;
      for (const auto& sample : parse_samples(metrics.serialize()))
        if (sample.name == "nightshift_step_attempts_total") total += sample.value;
      ++scrapes;
      if (total < previous_total) ++bad_scrapes;  // a counter went backwards
      previous_total = total;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&metrics, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string step = "step" + std::to_string(i % 3);
        metrics.attempt_finished("kpi", step, i % 2 ? StepState::failed : StepState::succeeded,
                                 1.0);
        metrics.set_deadline_missed("kpi", i % 2 == 0);
        if (t == 0 && i % 50 == 0) metrics.forget_job("kpi");  // removal races with updates
      }
    });
  for (auto& worker : workers) worker.join();
  done = true;
  scraper.join();
  CHECK(scrapes > 0);
  CHECK(bad_scrapes == 0);

  const auto samples = parse_samples(metrics.serialize());
  double attempts = 0;
  double failed = 0;
  double observed = 0;
  for (const auto& sample : samples) {
    if (sample.name == "nightshift_step_attempts_total") {
      attempts += sample.value;
      if (sample.labels.at("outcome") == "failed") failed += sample.value;
    }
    if (sample.name == "nightshift_step_duration_seconds_count") observed += sample.value;
  }
  CHECK(attempts == kThreads * kCalls);
  CHECK(failed == kThreads * kCalls / 2);
  CHECK(observed == kThreads * kCalls);
}

TEST_CASE("metrics: promtool check metrics accepts the output") {
  const auto promtool = find_on_path("promtool");
  if (!promtool)
    FAIL("promtool is not on PATH: install Debian's `prometheus` package (scripts install it)");

  Metrics metrics("1.4.0");
  exercise(metrics);
  metrics.run_finished("kpi", RunStatus::cancelled, 1, kFinishedAt);
  metrics.set_next_run("sales", std::nullopt);

  char path[] = "/tmp/nightshift_metrics_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << metrics.serialize();

  const std::string command = promtool->string() + " check metrics < " + path + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove(path);

  INFO("promtool said: " << output);
  CHECK(status == 0);
  CHECK(output.empty());  // promtool prints its lint findings even where it exits 0
}
