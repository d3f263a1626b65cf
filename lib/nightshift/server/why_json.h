// The answer of GET /jobs/{job}/why (DESIGN.md): what the job or its active
// runs wait for, as reasons a person can act on. Pure: it reads the facts the
// Api gathers (the store's unfinished runs, the daemon's status, the next fire
// time) and says what they mean; the executor is never asked, so a busy or
// stuck executor cannot hold the answer up.
//
// {"job", "state": "idle|paused|queued|running", "reasons": [{"reason", "text", ...}]}
// reason codes: draining, store_unavailable, paused, no_schedule, next_fire,
// max_active_runs, running, retry, upstream, pool_full, workers_full, starting.
#pragma once

#include "nightshift/job.h"
#include "nightshift/job_set.h"
#include "nightshift/runtime/run_store.h"
#include "nightshift/schedule.h"
#include "nightshift/server/daemon_control.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace nightshift {

struct WhyFacts {
  const Job* job = nullptr;
  const JobSet* jobs = nullptr;          // the pools of other jobs' steps
  std::vector<RunRecord> unfinished;     // every job's queued and running runs, with steps
  // The attempts of this job's running runs (a waiting retry's failures).
  std::map<std::int64_t, std::vector<AttemptRecord>> attempts;
  DaemonStatus status;
  std::optional<Instant> next_run;
  bool paused = false;
};

boost::json::object why_json(const WhyFacts& facts);

}  // namespace nightshift
