#include "nightshift/retry_policy.h"

#include <algorithm>

namespace nightshift {

Duration retry_delay(Duration base, int retry, double jitter) {
  // Doubling past the cap is pointless and would overflow: stop once over it.
  Duration delay = base;
  for (int i = 1; i < retry && delay < kMaxRetryDelay; ++i) delay *= 2;
  jitter = std::clamp(jitter, 0.0, 1.0);
  auto stretched = Duration(
      static_cast<Duration::rep>(static_cast<double>(delay.count()) * (1.0 + 0.2 * jitter)));
  return std::min(stretched, kMaxRetryDelay);
}

}  // namespace nightshift
