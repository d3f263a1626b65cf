#include "nightshift/runtime/run_store.h"

namespace nightshift {

std::string_view to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::schedule:
      return "schedule";
    case Trigger::catchup:
      return "catchup";
    case Trigger::manual:
      return "manual";
  }
  return "unknown";
}

std::optional<Trigger> parse_trigger(std::string_view text) {
  for (Trigger trigger : {Trigger::schedule, Trigger::catchup, Trigger::manual})
    if (to_string(trigger) == text) return trigger;
  return std::nullopt;
}

}  // namespace nightshift
