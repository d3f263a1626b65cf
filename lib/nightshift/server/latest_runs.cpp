#include "nightshift/server/latest_runs.h"

#include <set>

namespace nightshift {
namespace {

// Whether two summaries of the same job answer the same: then a revalidation
// keeps the held step states instead of dropping them for counts alone.
bool same_summary(const RunSummary& a, const RunSummary& b) {
  const RunRecord& x = a.run;
  const RunRecord& y = b.run;
  return x.run_id == y.run_id && x.job == y.job && x.trigger == y.trigger &&
         x.scheduled_at == y.scheduled_at && x.scheduled_at_text == y.scheduled_at_text &&
         x.date == y.date && x.status == y.status && x.created_at == y.created_at &&
         x.started_at == y.started_at && x.finished_at == y.finished_at && x.owner == y.owner &&
         a.step_counts == b.step_counts;
}

}  // namespace

LatestRuns::LatestRuns(RunReader& store, std::optional<Clock::duration> revalidate_every)
    : store_(store), revalidate_every_(revalidate_every) {}

void LatestRuns::run_changed(const std::string& job, std::int64_t run_id) {
  std::lock_guard lock(mutex_);
  Entry& e = entries_[job];
  ++e.changes;
  // An older run ending (max_active_runs > 1) is not what /jobs shows.
  if (e.summary && !e.stale && run_id < e.summary->run.run_id) return;
  ++e.run_changes;
  e.stale = true;
}

void LatestRuns::step_changed(const std::string& job, std::int64_t run_id,
                              const std::string& step, StepState state) {
  std::lock_guard lock(mutex_);
  Entry& e = entries_[job];
  ++e.changes;
  if (e.recording) e.recorded.emplace_back(run_id, step, state);
  if (!e.summary || run_id > e.summary->run.run_id ||
      (run_id == e.summary->run.run_id && !e.steps_known)) {
    e.stale = true;  // a run whose steps are not held: read it
    return;
  }
  if (run_id == e.summary->run.run_id) set_step(e, step, state);
}

void LatestRuns::runs_deleted(const std::vector<std::int64_t>& run_ids) {
  const std::set<std::int64_t> deleted(run_ids.begin(), run_ids.end());
  std::lock_guard lock(mutex_);
  for (auto& [job, e] : entries_) {
    if (!e.summary || !deleted.contains(e.summary->run.run_id)) continue;
    ++e.changes;
    ++e.run_changes;
    e.stale = true;  // its latest run is now an older one, or none
  }
}

// The one place a count moves: from the step's held state to its new one.
void LatestRuns::set_step(Entry& e, const std::string& step, StepState state) {
  auto it = e.steps.find(step);
  if (it == e.steps.end()) {
    e.stale = true;  // a step the held run lacks: the store knows better
    return;
  }
  if (it->second == state) return;
  auto& counts = e.summary->step_counts;
  if (auto old = counts.find(it->second); old != counts.end() && --old->second <= 0)
    counts.erase(old);
  ++counts[state];
  it->second = state;
}

std::vector<RunSummary> LatestRuns::summaries() {
  auto due = [this](Clock::time_point now) {
    return !revalidated_ || (revalidate_every_ && now - *revalidated_ >= *revalidate_every_);
  };
  bool read = false;
  {
    std::lock_guard lock(mutex_);
    read = due(Clock::now());
    for (auto it = entries_.begin(); !read && it != entries_.end(); ++it) read = it->second.stale;
  }
  if (read) {
    // One pass of reads, then the answer as it stands: a change told during
    // the pass is a few milliseconds old, and waiting for a quiet moment
    // could wait for ever while a big run goes.
    std::lock_guard reading(refresh_mutex_);
    bool revalidate_now = false;
    std::vector<std::string> stale;
    {
      std::lock_guard lock(mutex_);
      revalidate_now = due(Clock::now());  // another thread may have done it meanwhile
    }
    if (revalidate_now) revalidate();
    {
      std::lock_guard lock(mutex_);
      for (const auto& [job, e] : entries_)
        if (e.stale) stale.push_back(job);
    }
    for (const std::string& job : stale) refresh(job);
  }
  std::vector<RunSummary> out;
  std::lock_guard lock(mutex_);
  out.reserve(entries_.size());
  for (const auto& [job, e] : entries_)
    if (e.summary) out.push_back(*e.summary);
  return out;
}

// Reads the job's latest run with its steps: its fields and step states
// become the held ones, and the step changes told meanwhile go on top.
void LatestRuns::refresh(const std::string& job) {
  std::uint64_t run_changes = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(job);
    if (it == entries_.end() || !it->second.stale) return;
    it->second.recording = true;
    it->second.recorded.clear();
    run_changes = it->second.run_changes;
  }
  std::vector<RunRecord> runs;
  try {
    runs = store_.list_runs(job, 1);
  } catch (...) {
    std::lock_guard lock(mutex_);
    Entry& e = entries_[job];
    e.recording = false;
    e.recorded.clear();
    throw;
  }
  std::lock_guard lock(mutex_);
  Entry& e = entries_[job];
  e.recording = false;
  auto recorded = std::move(e.recorded);
  e.recorded.clear();
  if (runs.empty()) {
    // No run of the job is left (retention): none to show, as the store says.
    if (e.run_changes == run_changes) entries_.erase(job);
    return;
  }
  RunRecord run = std::move(runs.front());
  RunSummary summary;
  e.steps.clear();
  for (const StepRecord& s : run.steps) {
    e.steps.emplace(s.step, s.state);
    ++summary.step_counts[s.state];
  }
  run.steps.clear();
  summary.run = std::move(run);
  const std::int64_t id = summary.run.run_id;
  e.summary = std::move(summary);
  e.steps_known = true;
  // Changes of the run told after its read may have come before it: a step
  // set again to the state it had is unchanged, and the order is kept.
  e.stale = e.run_changes != run_changes;
  for (const auto& [run_id, step, state] : recorded) {
    if (run_id == id) set_step(e, step, state);
    if (run_id > id) e.stale = true;
  }
}

// Every job's latest run from the store, taken for each job that saw no
// change during the read (one that did keeps its own, more recent, state).
void LatestRuns::revalidate() {
  std::map<std::string, std::uint64_t> before;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [job, e] : entries_) before.emplace(job, e.changes);
  }
  std::vector<RunSummary> read = store_.latest_runs();
  std::lock_guard lock(mutex_);
  revalidated_ = Clock::now();
  std::set<std::string> seen;
  for (RunSummary& summary : read) {
    const std::string job = summary.run.job;
    seen.insert(job);
    auto it = entries_.find(job);
    if (it == entries_.end()) {
      entries_[job].summary = std::move(summary);
      continue;
    }
    Entry& e = it->second;
    auto b = before.find(job);
    if (b == before.end() || b->second != e.changes) {
      // Changed meanwhile: its own state is newer, unless the store has a
      // newer run still (another process's), which a re-read of the job finds.
      if (e.summary && summary.run.run_id > e.summary->run.run_id) e.stale = true;
      continue;
    }
    if (!e.summary || !same_summary(*e.summary, summary)) {
      e.summary = std::move(summary);
      e.steps.clear();
      e.steps_known = false;
    }
    e.stale = false;
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto b = before.find(it->first);
    const bool unchanged = b != before.end() && b->second == it->second.changes;
    if (!seen.contains(it->first) && unchanged)
      it = entries_.erase(it);  // the store has no run of it
    else
      ++it;
  }
}

}  // namespace nightshift
