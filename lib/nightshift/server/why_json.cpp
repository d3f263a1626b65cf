#include "nightshift/server/why_json.h"

#include "nightshift/retry_policy.h"
#include "nightshift/server/run_json.h"

#include <boost/json/array.hpp>

#include <cstddef>
#include <string>
#include <utility>

namespace nightshift {
namespace json = boost::json;

namespace {

// A reason lists at most this many steps by name; "count" says how many there are.
constexpr std::size_t kNamesShown = 20;

json::object reason(const char* code, std::string text) {
  return json::object{{"reason", code}, {"text", std::move(text)}};
}

std::string run_text(std::int64_t run_id) {
  return "run " + std::to_string(run_id);
}

// "a, b, c" and "and 5 more" past kNamesShown; the names as a JSON array too.
std::pair<std::string, json::array> name_list(const std::vector<std::string>& names) {
  std::string text;
  json::array array;
  for (std::size_t i = 0; i < names.size() && i < kNamesShown; ++i) {
    text += (i ? ", " : "") + names[i];
    array.emplace_back(names[i]);
  }
  if (names.size() > kNamesShown)
    text += " and " + std::to_string(names.size() - kNamesShown) + " more";
  return {text, array};
}

bool is_failure(StepState s) {
  return s == StepState::failed || s == StepState::timed_out;
}

// Who holds a pool's slots: every running step in the pool, any job's.
std::vector<std::string> pool_holders(const WhyFacts& facts, const std::string& pool) {
  std::vector<std::string> holders;
  for (const RunRecord& run : facts.unfinished) {
    auto job = facts.jobs ? facts.jobs->find(run.job) : nullptr;
    if (!job) continue;
    for (const StepRecord& step : run.steps) {
      if (step.state != StepState::running || step.finished_at) continue;  // a retry holds none
      auto index = job->dag.find(step.step);
      if (!index) continue;
      const auto& spec_pool = job->spec.steps[*index].pool;
      if (spec_pool && spec_pool->value == pool)
        holders.push_back(run.job + "." + step.step + " (" + run_text(run.run_id) + ")");
    }
  }
  return holders;
}

// The reasons of one running run: its running steps, its retries, what its
// ready steps wait for, and what its pending steps wait on.
void explain_running(const WhyFacts& facts, const RunRecord& run, json::array& out) {
  const Job& job = *facts.job;
  const std::string of_run = " of " + run_text(run.run_id);
  std::map<std::string, StepState> state;
  for (const StepRecord& s : run.steps) state[s.step] = s.state;
  std::vector<std::string> ready;
  std::vector<std::string> waiting_on;  // the unfinished steps the pending ones wait for
  std::size_t pending = 0;
  std::map<std::string, bool> named;

  for (const StepRecord& s : run.steps) {
    if (s.state == StepState::running && !s.finished_at) {
      json::object r = reason("running", "step " + s.step + of_run + " is running (attempt " +
                                             std::to_string(s.attempt) + ")");
      r["run_id"] = run.run_id;
      r["step"] = s.step;
      if (s.started_at) r["since"] = format_timestamp(*s.started_at);
      out.push_back(std::move(r));
    } else if (s.state == StepState::running) {
      // Its latest attempt ended and the step is not final: a retry is due.
      auto index = job.dag.find(s.step);
      int failures = 0;
      auto found = facts.attempts.find(run.run_id);
      if (found != facts.attempts.end())
        for (const AttemptRecord& a : found->second)
          if (a.step == s.step && is_failure(a.state)) ++failures;
      json::object r;
      if (index && s.finished_at && failures > 0) {
        Duration base = job.spec.retry_delay(job.spec.steps[*index]);
        Timestamp from = *s.finished_at + retry_delay(base, failures, 0.0);
        Timestamp until = *s.finished_at + retry_delay(base, failures, 1.0);
        r = reason("retry", "step " + s.step + of_run + " failed attempt " +
                                std::to_string(s.attempt) + " and retries between " +
                                format_timestamp(from) + " and " + format_timestamp(until));
        r["from"] = format_timestamp(from);
        r["until"] = format_timestamp(until);
      } else {
        r = reason("retry", "step " + s.step + of_run + " is about to start attempt " +
                                std::to_string(s.attempt + 1));
      }
      r["run_id"] = run.run_id;
      r["step"] = s.step;
      out.push_back(std::move(r));
    } else if (s.state == StepState::ready) {
      ready.push_back(s.step);
    } else if (s.state == StepState::pending) {
      ++pending;
      auto index = job.dag.find(s.step);
      if (!index) continue;
      for (std::size_t up : job.dag.upstream(*index)) {
        const std::string name(job.dag.name(up));
        auto st = state.find(name);
        // Only the frontier: an upstream step that is itself pending is explained by its own.
        if (st != state.end() && !is_final(st->second) && st->second != StepState::pending &&
            !named[name]) {
          named[name] = true;
          waiting_on.push_back(name);
        }
      }
    }
  }

  // Ready steps: a full pool first (it would hold them even with free workers).
  std::map<std::string, std::vector<std::string>> by_full_pool;
  std::vector<std::string> want_workers;
  for (const std::string& step : ready) {
    auto index = job.dag.find(step);
    const auto& pool = index ? job.spec.steps[*index].pool : std::nullopt;
    if (pool) {
      auto size = facts.status.pool_sizes.find(pool->value);
      auto used = facts.status.pool_slots_in_use.find(pool->value);
      if (size != facts.status.pool_sizes.end() && used != facts.status.pool_slots_in_use.end() &&
          used->second >= size->second) {
        by_full_pool[pool->value].push_back(step);
        continue;
      }
    }
    want_workers.push_back(step);
  }
  for (const auto& [pool, steps] : by_full_pool) {
    auto [names, array] = name_list(steps);
    auto [holders, holder_array] = name_list(pool_holders(facts, pool));
    json::object r = reason("pool_full", "ready" + of_run + ": " + names + "; pool " + pool + " (" +
                                             std::to_string(facts.status.pool_sizes.at(pool)) +
                                             ") is full, held by " + holders);
    r["run_id"] = run.run_id;
    r["pool"] = pool;
    r["steps"] = std::move(array);
    r["count"] = steps.size();
    r["held_by"] = std::move(holder_array);
    out.push_back(std::move(r));
  }
  if (!want_workers.empty()) {
    auto [names, array] = name_list(want_workers);
    const bool full = facts.status.workers > 0 &&
                      facts.status.steps_running >= static_cast<std::size_t>(facts.status.workers);
    json::object r =
        full ? reason("workers_full", "ready" + of_run + ": " + names + "; all " +
                                          std::to_string(facts.status.workers) +
                                          " workers are busy")
             : reason("starting", "ready" + of_run + " and starting: " + names);
    r["run_id"] = run.run_id;
    r["steps"] = std::move(array);
    r["count"] = want_workers.size();
    out.push_back(std::move(r));
  }
  if (pending > 0) {
    auto [names, array] = name_list(waiting_on);
    std::string count = pending == 1 ? "1 step" + of_run + " waits"
                                     : std::to_string(pending) + " steps" + of_run + " wait";
    json::object r = reason("upstream", count + " on upstream steps" +
                                            (names.empty() ? std::string() : ": " + names));
    r["run_id"] = run.run_id;
    r["count"] = pending;
    r["waiting_on"] = std::move(array);
    out.push_back(std::move(r));
  }
}

}  // namespace

json::object why_json(const WhyFacts& facts) {
  const Job& job = *facts.job;
  const std::string& name = job.spec.name;
  std::vector<const RunRecord*> running;
  std::vector<const RunRecord*> queued;
  for (const RunRecord& run : facts.unfinished) {
    if (run.job != name) continue;
    (run.status == RunStatus::running ? running : queued).push_back(&run);
  }
  json::array reasons;
  if (facts.status.draining)
    reasons.push_back(reason("draining", "the daemon is shutting down: no run or step starts"));
  if (!facts.status.store_ok) {
    reasons.push_back(reason("store_unavailable",
                             "the store cannot be written (" + facts.status.store_error +
                                 "): no run or step starts until it can"));
  }
  if (facts.paused)
    reasons.push_back(reason("paused",
                             "the job is paused: it does not fire until it is unpaused "
                             "(nightshift unpause " +
                                 name +
                                 "); runs asked for "
                                 "(rerun, backfill) still run"));
  for (const RunRecord* run : running) explain_running(facts, *run, reasons);
  for (const RunRecord* run : queued) {
    std::vector<std::string> holders;
    json::array held_by;
    for (const RunRecord* r : running) {
      holders.push_back(run_text(r->run_id));
      held_by.emplace_back(r->run_id);
    }
    json::object r;
    if (running.size() >= static_cast<std::size_t>(job.spec.max_active_runs)) {
      r = reason("max_active_runs", run_text(run->run_id) + " is queued: max_active_runs (" +
                                        std::to_string(job.spec.max_active_runs) +
                                        ") is reached by " + name_list(holders).first);
    } else {
      r = reason("starting", run_text(run->run_id) + " is queued and about to start");
    }
    r["run_id"] = run->run_id;
    r["held_by"] = std::move(held_by);
    reasons.push_back(std::move(r));
  }
  if (running.empty() && queued.empty() && !facts.paused) {
    if (!job.spec.schedule) {
      reasons.push_back(reason("no_schedule", "it has no schedule: it runs when asked (rerun)"));
    } else if (facts.next_run) {
      std::string at = format_iso8601(*facts.next_run, job.spec.zone);
      json::object r = reason("next_fire", "it waits for its next fire time, " + at);
      r["until"] = at;
      reasons.push_back(std::move(r));
    } else {
      reasons.push_back(reason("next_fire", "its schedule fires no more"));
    }
  }
  const char* state = !running.empty()  ? "running"
                      : !queued.empty() ? "queued"
                      : facts.paused    ? "paused"
                                        : "idle";
  return json::object{{"job", name}, {"state", state}, {"reasons", std::move(reasons)}};
}

}  // namespace nightshift
