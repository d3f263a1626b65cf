// LatestRuns: each job's latest run as GET /jobs shows it (the run's fields
// and its steps counted by state), kept in memory so that answering /jobs
// reads no store. Counting a 2,000-step run's steps on every request was
// three quarters of the daemon's CPU under load (bench/README.md, #9 (c)).
//
// It is moved by the changes the daemon already publishes on GET /events,
// each told once the store has committed it:
//   - a step's new state moves one count from the old state to the new one
//     (the latest run's step states are held, so the old state is known);
//   - a run created, started or ended marks its job for a re-read of that
//     run from the store (a few reads a run: its timestamps are the store's
//     own, which no event carries, and a new run's steps start as the store
//     made them, carried-over ones as succeeded);
//   - runs deleted by retention mark the jobs that held one the same way.
// What the daemon does not write (a `nightshift run` beside it on the same
// store) it never hears of: every `revalidate_every` a request also reads
// every job's latest run from the store (the query /jobs used to make on
// each request) and takes it for each job that saw no change meanwhile.
//
// A re-read races with the changes still arriving: those told while it
// reads are kept and applied again on top of what it read (setting a step
// to a state twice is harmless), and a run change told meanwhile leaves the
// job marked, so the next request reads again. Thread-safe.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace nightshift {

class LatestRuns {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kRevalidateEvery{10};

  // `store`: read connections that never wait behind the writer. With no
  // `revalidate_every`, every job's latest run is read once, at the first
  // request, and from then on only what the changes mark.
  explicit LatestRuns(RunReader& store,
                      std::optional<Clock::duration> revalidate_every = kRevalidateEvery);

  // Run `run_id` of `job` was created, started or ended (as committed).
  void run_changed(const std::string& job, std::int64_t run_id);
  // The step's state as committed. Not for an attempt that failed and will be
  // retried: its step stays running in the store.
  void step_changed(const std::string& job, std::int64_t run_id, const std::string& step,
                    StepState state);
  // Runs deleted from the store (retention).
  void runs_deleted(const std::vector<std::int64_t>& run_ids);

  // Every job's latest run, ordered by job name: what RunReader::latest_runs
  // answers for the same store. Reads the store only for what is marked (or
  // due to be revalidated); throws StoreError as the store does.
  std::vector<RunSummary> summaries();

 private:
  struct Entry {
    std::optional<RunSummary> summary;  // none until first read
    // The held run's step states, by name, when they were read (steps_known);
    // a run read with the others (revalidate) has its counts only.
    std::unordered_map<std::string, StepState> steps;
    bool steps_known = false;
    bool stale = false;        // re-read the job's latest run before answering
    std::uint64_t changes = 0;      // every change told, to see one during a read
    std::uint64_t run_changes = 0;  // the run-level ones
    bool recording = false;         // a re-read is under way: keep the step changes
    std::vector<std::tuple<std::int64_t, std::string, StepState>> recorded;
  };

  void refresh(const std::string& job);
  void revalidate();
  static void set_step(Entry& entry, const std::string& step, StepState state);

  RunReader& store_;
  std::optional<Clock::duration> revalidate_every_;
  std::mutex refresh_mutex_;  // one reader at a time; held across store reads, never mutex_
  std::mutex mutex_;          // the entries; never held across a store read
  std::map<std::string, Entry> entries_;
  std::optional<Clock::time_point> revalidated_;  // the last read of every job
};

}  // namespace nightshift
