// The SELECTs the two SQL run stores read runs and attempts with: one schema,
// one spelling, so the row readers of both agree on the column order.
#pragma once

#include <string>

namespace nightshift::run_store_sql {

// owner_id (the last column of each) is NULL for a run or an attempt without an owner.
inline constexpr char kRunColumns[] =
    "SELECT run_id, job, triggered_by, scheduled_at, scheduled_at_text, date, status, "
    "created_at, started_at, finished_at, owner_id FROM runs ";

inline constexpr char kAttemptColumns[] =
    "SELECT a.run_id, a.step, a.attempt, a.state, a.started_at, a.finished_at, a.exit_code, "
    "a.counts_as_retry, a.message, a.owner_id FROM attempts a "
    "JOIN run_steps s ON s.run_id = a.run_id AND s.step = a.step ";

// The highest run_id of every job, read from the index runs_by_job (job, run_id).
// MySQL/MariaDB do it with a loose index scan: one probe per job ("Using index
// for group-by").
inline constexpr char kLatestRunIdsGrouped[] = "SELECT MAX(run_id) FROM runs GROUP BY job";
// SQLite has no loose index scan: GROUP BY job would read every entry of
// runs_by_job, one per run ever made. This skips from job to job in the index
// instead (two index seeks per job), so it costs the same whatever the history.
inline constexpr char kLatestRunIdsSkipScan[] =
    "WITH RECURSIVE jobs (job) AS (SELECT MIN(job) FROM runs UNION ALL "
    "SELECT (SELECT MIN(job) FROM runs WHERE job > jobs.job) FROM jobs "
    "WHERE jobs.job IS NOT NULL) "
    "SELECT (SELECT MAX(run_id) FROM runs WHERE runs.job = jobs.job) FROM jobs "
    "WHERE jobs.job IS NOT NULL";

// The latest run of every job (its run_id one of `latest_run_ids`, above) with
// its steps counted by state, in one query: a row per run and state, the
// columns of kRunColumns then the state and its count, ordered by job. A run
// without steps has one row, with a NULL state and a count of 0. Only the
// latest runs' steps are read (by the run_steps primary key). The state is
// column kLatestRunsState, its count the next one.
inline constexpr int kLatestRunsState = 11;
inline std::string latest_runs_query(const char* latest_run_ids) {
  return std::string("SELECT r.*, s.state, COUNT(s.step) FROM (") + kRunColumns +
         "WHERE run_id IN (" + latest_run_ids + ")) r "
         "LEFT JOIN run_steps s ON s.run_id = r.run_id "
         "GROUP BY r.run_id, s.state ORDER BY r.job, s.state";
}

}  // namespace nightshift::run_store_sql
