// JobSet: every job of a jobs directory, checked as a whole. Immutable: a reload
// builds a new set and swaps the shared_ptr; runs keep the Job they started with.
#pragma once

#include "nightshift/config_spec.h"
#include "nightshift/diagnostic.h"
#include "nightshift/job.h"

#include <boost/system/result.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

class JobSet;
using JobSetResult = boost::system::result<std::shared_ptr<const JobSet>, Diagnostics>;

// Called by JobSetResult::value() on an error (found by ADL, as Boost.System asks).
[[noreturn]] void throw_exception_from_error(const Diagnostics& errors,
                                             const boost::source_location& where);

class JobSet {
 public:
  // Loads every *.yaml and *.yml file of `dir` (in name order) and checks the
  // set: every fault of every file, and job names used twice. With a config,
  // also the connection and pool names the steps use. All or nothing: one fault
  // and no set is returned.
  static JobSetResult load(const std::string& dir, const ConfigSpec* config = nullptr);

  // The same checks over jobs already parsed (for tests and the fuzzer).
  static JobSetResult from_jobs(std::vector<Job> jobs, const ConfigSpec* config = nullptr);

  const std::vector<std::shared_ptr<const Job>>& jobs() const { return jobs_; }
  std::shared_ptr<const Job> find(std::string_view name) const;

 private:
  std::vector<std::shared_ptr<const Job>> jobs_;  // in job-name order
};

}  // namespace nightshift
