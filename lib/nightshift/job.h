// Job: a job that passed every check — its spec and its DAG — shared immutably
// by the scheduler and by the runs started from it (a reload never changes it).
#pragma once

#include "nightshift/dag.h"
#include "nightshift/job_spec.h"

namespace nightshift {

struct Job {
  JobSpec spec;
  Dag dag;  // one node per spec.steps entry, same indices
};

}  // namespace nightshift
