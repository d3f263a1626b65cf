// The SELECTs the two SQL run stores read runs and attempts with: one schema,
// one spelling, so the row readers of both agree on the column order.
#pragma once

namespace nightshift::run_store_sql {

inline constexpr char kRunColumns[] =
    "SELECT run_id, job, triggered_by, scheduled_at, scheduled_at_text, date, status, "
    "created_at, started_at, finished_at FROM runs ";

inline constexpr char kAttemptColumns[] =
    "SELECT a.run_id, a.step, a.attempt, a.state, a.started_at, a.finished_at, a.exit_code, "
    "a.counts_as_retry, a.message FROM attempts a "
    "JOIN run_steps s ON s.run_id = a.run_id AND s.step = a.step ";

}  // namespace nightshift::run_store_sql
