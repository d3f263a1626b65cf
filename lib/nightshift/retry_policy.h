// How long to wait before retrying a step: exponential backoff (x2 per retry)
// with jitter, capped at 10 minutes (DESIGN.md).
#pragma once

#include "nightshift/duration.h"

namespace nightshift {

inline constexpr Duration kMaxRetryDelay = std::chrono::minutes(10);

// `retry` counts from 1 (the first retry waits `base`); `jitter` in [0, 1)
// stretches the delay by up to 20% so that steps failing together do not all
// retry in the same instant.
Duration retry_delay(Duration base, int retry, double jitter);

}  // namespace nightshift
