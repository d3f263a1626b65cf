// test_job: a job parsed from YAML text for a unit test, which fails (saying
// why) when the text is not a valid job.
#pragma once

#include "nightshift/job.h"
#include "nightshift/job_loader.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>

namespace nightshift::test {

inline Job test_job(const std::string& yaml) {
  Diagnostics errors;
  auto job = parse_job(yaml, "t.yaml", errors);
  for (const auto& e : errors) UNSCOPED_INFO(e.str());
  REQUIRE(job);
  return std::move(*job);
}

}  // namespace nightshift::test
