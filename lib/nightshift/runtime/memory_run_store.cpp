#include "nightshift/runtime/memory_run_store.h"

#include <algorithm>

namespace nightshift {
namespace {

[[noreturn]] void fail(std::string_view doing, const std::string& what) {
  throw StoreError("memory run store: " + std::string(doing) + ": " + what);
}

bool is_run_end(RunStatus status) {
  return status == RunStatus::succeeded || status == RunStatus::failed ||
         status == RunStatus::cancelled;
}

}  // namespace

std::optional<std::int64_t> MemoryRunStore::create_run(const NewRun& run) {
  std::lock_guard lock(mutex_);
  const bool deduplicated = made_by_schedule(run.trigger);
  if (deduplicated && fire_keys_.contains({run.job, run.scheduled_at})) return std::nullopt;
  for (std::size_t i = 0; i < run.steps.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (run.steps[i].name == run.steps[j].name)
        fail("creating run of " + run.job, "step '" + run.steps[i].name + "' is listed twice");

  StoredRun stored;
  RunRecord& record = stored.run;
  record.run_id = next_run_id_++;
  record.job = run.job;
  record.trigger = run.trigger;
  record.scheduled_at = run.scheduled_at;
  record.scheduled_at_text = run.scheduled_at_text;
  record.date = run.date;
  record.status = run.status;
  record.created_at = run.created_at;
  record.owner = owner_;
  for (const NewRun::Step& step : run.steps) {
    StepRecord step_record;
    step_record.step = step.name;
    step_record.carried_over = step.carried_over;
    step_record.state = step.carried_over ? StepState::succeeded : StepState::pending;
    record.steps.push_back(std::move(step_record));
  }
  if (deduplicated) fire_keys_.insert({run.job, run.scheduled_at});
  const std::int64_t run_id = record.run_id;
  runs_.emplace(run_id, std::move(stored));
  return run_id;
}

void MemoryRunStore::set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) {
  std::lock_guard lock(mutex_);
  RunRecord& run = find_run(run_id, "setting run status").run;
  run.status = status;
  if (status == RunStatus::running && !run.started_at) run.started_at = at;
  if (is_run_end(status)) run.finished_at = at;
}

void MemoryRunStore::set_step_state(std::int64_t run_id, const std::string& step, StepState state) {
  std::lock_guard lock(mutex_);
  find_step(find_run(run_id, "setting step state"), step, "setting step state").state = state;
}

void MemoryRunStore::set_step_states(std::int64_t run_id,
                                     const std::vector<std::pair<std::string, StepState>>& states) {
  std::lock_guard lock(mutex_);
  StoredRun& stored = find_run(run_id, "setting step states");
  // Every step is found before any changes: all of them or none, as in one transaction.
  std::vector<StepRecord*> steps;
  for (const auto& [step, state] : states)
    steps.push_back(&find_step(stored, step, "setting step states"));
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i]->state = states[i].second;
}

void MemoryRunStore::start_attempt(const AttemptRecord& attempt) {
  std::lock_guard lock(mutex_);
  StoredRun& stored = find_run(attempt.run_id, "starting attempt");
  StepRecord& step = find_step(stored, attempt.step, "starting attempt");
  for (const AttemptRecord& existing : stored.attempts)
    if (existing.step == attempt.step && existing.attempt == attempt.attempt)
      fail("starting attempt", "attempt " + std::to_string(attempt.attempt) + " of step '" +
                                   attempt.step + "' exists already");
  AttemptRecord started = attempt;
  started.state = StepState::running;
  started.finished_at.reset();
  started.exit_code.reset();
  started.owner = owner_;
  stored.attempts.push_back(std::move(started));
  step.state = StepState::running;
}

void MemoryRunStore::finish_attempt(std::int64_t run_id, const std::string& step, int attempt,
                                    StepState outcome, std::optional<int> exit_code, Timestamp at,
                                    std::optional<StepState> step_state,
                                    const std::string& message) {
  std::lock_guard lock(mutex_);
  StoredRun& stored = find_run(run_id, "finishing attempt");
  auto record = std::find_if(stored.attempts.begin(), stored.attempts.end(),
                             [&](const auto& a) { return a.step == step && a.attempt == attempt; });
  if (record == stored.attempts.end())
    fail("finishing attempt", "no attempt " + std::to_string(attempt) + " of step '" + step +
                                  "' in run " + std::to_string(run_id));
  // Found before anything changes: the attempt and the step change together or not at all.
  StepRecord* step_record = step_state ? &find_step(stored, step, "finishing attempt") : nullptr;
  record->state = outcome;
  record->exit_code = exit_code;
  record->finished_at = at;
  record->message = message;
  if (step_record) step_record->state = *step_state;
}

std::int64_t MemoryRunStore::register_owner(OwnerKind) {
  std::lock_guard lock(mutex_);
  owner_ = 1;
  return *owner_;
}

std::optional<std::int64_t> MemoryRunStore::owner() const {
  std::lock_guard lock(mutex_);
  return owner_;
}

TakenOver MemoryRunStore::take_over_dead_owners(Timestamp now) {
  std::lock_guard lock(mutex_);
  TakenOver taken;
  std::vector<AttemptRecord>& lost = taken.lost;
  for (auto& [run_id, stored] : runs_) {
    const bool unfinished =
        stored.run.status == RunStatus::queued || stored.run.status == RunStatus::running;
    if (unfinished && !(owner_ && stored.run.owner == owner_)) {
      stored.run.owner = owner_;
      taken.runs.push_back(run_id);
    }
    // The SQLite store's order: by run, then by the step's position.
    for (StepRecord& step : stored.run.steps) {
      bool step_lost = false;
      for (AttemptRecord& attempt : stored.attempts) {
        if (attempt.step != step.step || attempt.state != StepState::running) continue;
        if (owner_ && attempt.owner == owner_) continue;  // this process's: alive
        attempt.state = StepState::lost;
        attempt.finished_at = now;
        lost.push_back(attempt);
        step_lost = true;
      }
      if (step_lost && step.state == StepState::running) step.state = StepState::lost;
    }
  }
  return taken;
}

std::optional<RunRecord> MemoryRunStore::get_run(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return std::nullopt;
  return read(it->second);
}

std::vector<AttemptRecord> MemoryRunStore::attempts(std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return {};
  const StoredRun& stored = it->second;
  // The SQLite store's order: by the step's position, then by attempt number.
  auto position = [&](const std::string& step) {
    const auto& steps = stored.run.steps;
    return std::find_if(steps.begin(), steps.end(),
                        [&](const StepRecord& s) { return s.step == step; }) -
           steps.begin();
  };
  std::vector<AttemptRecord> result = stored.attempts;
  std::stable_sort(result.begin(), result.end(),
                   [&](const AttemptRecord& a, const AttemptRecord& b) {
                     auto pa = position(a.step), pb = position(b.step);
                     return pa != pb ? pa < pb : a.attempt < b.attempt;
                   });
  return result;
}

std::vector<RunRecord> MemoryRunStore::list_runs(const std::string& job, int limit,
                                                 std::optional<std::int64_t> before) {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> result;
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    if (static_cast<int>(result.size()) >= limit) break;
    if (before && it->first >= *before) continue;
    if (it->second.run.job == job) result.push_back(read(it->second));
  }
  return result;
}

std::vector<RunSummary> MemoryRunStore::latest_runs() {
  std::lock_guard lock(mutex_);
  // runs_ goes up by run_id: the last run seen of a job is its latest.
  std::map<std::string, const RunRecord*> latest;
  for (const auto& [run_id, stored] : runs_) latest[stored.run.job] = &stored.run;
  std::vector<RunSummary> summaries;
  for (const auto& [job, run] : latest) {
    RunSummary summary;
    summary.run = *run;
    summary.run.steps.clear();
    for (const StepRecord& step : run->steps) ++summary.step_counts[step.state];
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

std::vector<RunRecord> MemoryRunStore::unfinished_runs() {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> result;
  for (const auto& [run_id, stored] : runs_)
    if (stored.run.status == RunStatus::queued || stored.run.status == RunStatus::running)
      result.push_back(read(stored));
  return result;
}

std::vector<RunRecord> MemoryRunStore::unfinished_runs_of(const std::string& job) {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> result;
  for (const auto& [run_id, stored] : runs_) {
    if (stored.run.job != job) continue;
    if (stored.run.status != RunStatus::queued && stored.run.status != RunStatus::running) continue;
    result.push_back(stored.run);
    result.back().steps.clear();
  }
  return result;
}

MemoryRunStore::StoredRun& MemoryRunStore::find_run(std::int64_t run_id, std::string_view doing) {
  auto it = runs_.find(run_id);
  if (it == runs_.end()) fail(doing, "no run " + std::to_string(run_id));
  return it->second;
}

StepRecord& MemoryRunStore::find_step(StoredRun& stored, const std::string& step,
                                      std::string_view doing) {
  for (StepRecord& record : stored.run.steps)
    if (record.step == step) return record;
  fail(doing, "no step '" + step + "' in run " + std::to_string(stored.run.run_id));
}

RunRecord MemoryRunStore::read(const StoredRun& stored) const {
  RunRecord run = stored.run;
  for (StepRecord& step : run.steps) {
    const AttemptRecord* latest = nullptr;
    for (const AttemptRecord& attempt : stored.attempts)
      if (attempt.step == step.step && (!latest || attempt.attempt > latest->attempt))
        latest = &attempt;
    if (!latest) continue;
    step.attempt = latest->attempt;
    step.started_at = latest->started_at;
    step.finished_at = latest->finished_at;
    step.exit_code = latest->exit_code;
  }
  return run;
}

std::optional<Instant> MemoryRunStore::scheduled_through(const std::string& job) {
  std::lock_guard lock(mutex_);
  auto it = scheduled_through_.find(job);
  if (it == scheduled_through_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::int64_t> MemoryRunStore::prune_finished_runs(Timestamp finished_before,
                                                             int limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> ids;
  for (auto it = runs_.begin(); it != runs_.end() && std::ssize(ids) < limit;) {
    const RunRecord& run = it->second.run;
    const bool finished = run.status == RunStatus::succeeded || run.status == RunStatus::failed ||
                          run.status == RunStatus::cancelled;
    if (finished && run.finished_at && *run.finished_at < finished_before) {
      ids.push_back(it->first);
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  return ids;
}

void MemoryRunStore::set_scheduled_through(const std::string& job, Instant t) {
  std::lock_guard lock(mutex_);
  scheduled_through_[job] = t;
}

std::map<std::string, bool> MemoryRunStore::paused_jobs() {
  std::lock_guard lock(mutex_);
  return paused_;
}

bool MemoryRunStore::set_job_paused(const std::string& job, bool paused, Timestamp,
                                    bool if_unseen) {
  std::lock_guard lock(mutex_);
  auto [it, added] = paused_.emplace(job, paused);
  if (!added && !if_unseen) it->second = paused;
  return it->second;
}

std::vector<RunRecord> MemoryRunStore::runs_scheduled_between(const std::string& job, Instant from,
                                                              Instant to) {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> result;
  for (const auto& [run_id, stored] : runs_) {
    const RunRecord& run = stored.run;
    if (run.job != job || run.scheduled_at < from || run.scheduled_at > to) continue;
    result.push_back(run);
    result.back().steps.clear();
  }
  std::stable_sort(result.begin(), result.end(), [](const RunRecord& a, const RunRecord& b) {
    return a.scheduled_at < b.scheduled_at;
  });
  return result;
}

}  // namespace nightshift
