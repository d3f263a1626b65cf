// MemoryRunStore: a RunStore kept in memory, with the same semantics as the
// SQLite store, for unit tests of the executor and the HTTP layer. Thread-safe.
#pragma once

#include "nightshift/runtime/run_store.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nightshift {

class MemoryRunStore : public RunStore {
 public:
  std::optional<std::int64_t> create_run(const NewRun& run) override;
  void set_run_status(std::int64_t run_id, RunStatus status, Timestamp at) override;
  void set_step_state(std::int64_t run_id, const std::string& step, StepState state) override;
  void set_step_states(std::int64_t run_id,
                       const std::vector<std::pair<std::string, StepState>>& states) override;
  void start_attempt(const AttemptRecord& attempt) override;
  void finish_attempt(std::int64_t run_id, const std::string& step, int attempt, StepState outcome,
                      std::optional<int> exit_code, Timestamp at,
                      std::optional<StepState> step_state = std::nullopt,
                      const std::string& message = {}) override;
  // A memory store lives in one process: the owner is this process (id 1), and
  // every attempt not its own is taken for dead.
  std::int64_t register_owner(OwnerKind kind) override;
  std::optional<std::int64_t> owner() const override;
  TakenOver take_over_dead_owners(Timestamp now) override;
  std::optional<RunRecord> get_run(std::int64_t run_id) override;
  std::vector<AttemptRecord> attempts(std::int64_t run_id) override;
  std::vector<RunRecord> list_runs(const std::string& job, int limit,
                                   std::optional<std::int64_t> before = std::nullopt) override;
  std::vector<RunSummary> latest_runs() override;
  std::vector<RunRecord> unfinished_runs() override;
  std::vector<RunRecord> unfinished_runs_of(const std::string& job) override;
  std::optional<Instant> scheduled_through(const std::string& job) override;
  void set_scheduled_through(const std::string& job, Instant t) override;
  void skip_run_ids_through(std::int64_t run_id) override {
    next_run_id_ = std::max(next_run_id_, run_id + 1);
  }
  std::map<std::string, bool> paused_jobs() override;
  bool set_job_paused(const std::string& job, bool paused, Timestamp at,
                      bool if_unseen = false) override;
  std::vector<RunRecord> runs_scheduled_between(const std::string& job, Instant from,
                                                Instant to) override;
  std::vector<std::int64_t> prune_finished_runs(Timestamp finished_before, int limit) override;
  void claim_for_daemon() override {}  // one process, one store

 private:
  // A run as stored: its steps keep only state and carried_over; the fields of
  // the latest attempt are filled in when the run is read.
  struct StoredRun {
    RunRecord run;
    std::vector<AttemptRecord> attempts;  // in the order they started
  };

  StoredRun& find_run(std::int64_t run_id, std::string_view doing);
  StepRecord& find_step(StoredRun& stored, const std::string& step, std::string_view doing);
  RunRecord read(const StoredRun& stored) const;

  mutable std::mutex mutex_;
  std::optional<std::int64_t> owner_;
  std::int64_t next_run_id_ = 1;
  std::map<std::int64_t, StoredRun> runs_;
  std::set<std::pair<std::string, Instant>> fire_keys_;  // (job, scheduled_at), schedule/catchup
  std::map<std::string, Instant> scheduled_through_;
  std::map<std::string, bool> paused_;
};

}  // namespace nightshift
