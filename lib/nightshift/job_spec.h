// JobSpec and StepSpec: one job file as loaded and checked, immutable once built.
// Every value that can be wrong remembers where it was written, so that later
// checks (connections, pools) can still name FILE:LINE:COL.
#pragma once

#include "nightshift/boxed.h"
#include "nightshift/boxed_optional.h"
#include "nightshift/diagnostic.h"
#include "nightshift/duration.h"
#include "nightshift/schedule.h"
#include "nightshift/step_state.h"
#include "nightshift/template.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nightshift {

enum class StepKind { command, shell, sql };
enum class Catchup { none, latest, all };

std::string_view to_string(StepKind kind);
std::string_view to_string(Catchup catchup);

// A value with the place it was written.
template <class T>
struct Located {
  T value{};
  SourcePos pos;
};

// One entry of an `env:` map. The value stays raw: ${secret:NAME} and ${env:NAME}
// are resolved only when a step starts, so secrets never sit in a spec.
struct EnvVar {
  std::string name;
  Template value;
  SourcePos pos;
};

// A daemon keeps every step of every job, so a plain step is kept small: the
// settings most steps leave unset are BoxedOptionals (a null pointer when
// unset) or, for `env` and `description`, Boxed (a null pointer when empty),
// and the small fields sit together.
struct StepSpec {
  std::string name;
  SourcePos pos;  // where the step's name is written
  StepKind kind = StepKind::command;
  RunIf run_if = RunIf::all_succeeded;
  // Unset values fall back to the job's defaults, then to the built-in ones.
  std::optional<int> retries;
  std::vector<Template> command;     // kind == command: argv, no shell
  BoxedOptional<Template> script;    // kind == shell (for /bin/sh -c) or sql (statements)
  std::vector<Located<std::string>> depends_on;
  BoxedOptional<Located<std::string>> connection;  // sql steps
  BoxedOptional<Located<std::string>> pool;
  BoxedOptional<Duration> retry_delay;
  BoxedOptional<Duration> timeout;
  BoxedOptional<Duration> kill_grace;
  BoxedOptional<std::string> workdir;
  Boxed<std::vector<EnvVar>> env;
  Boxed<std::string> description;
};

// The job-wide fallbacks (`defaults:`) for step settings.
struct StepDefaults {
  std::optional<int> retries;
  std::optional<Duration> retry_delay;
  std::optional<Duration> timeout;
  std::optional<Duration> kill_grace;
};

struct JobSpec {
  std::string name;
  SourcePos pos;     // where `job:` is written
  std::string file;  // the job file, as given to the loader
  std::string description;
  std::optional<Schedule> schedule;  // none: a manual-only job
  std::string timezone = "UTC";
  const date::time_zone* zone = nullptr;  // never null in a loaded spec
  Catchup catchup = Catchup::latest;
  int max_active_runs = 1;
  std::optional<std::chrono::minutes> deadline;  // local time of day
  // The job's pause state the first time the store sees it; from then on the
  // store's state (pause, unpause) is the one in force.
  bool paused = false;
  StepDefaults defaults;
  Boxed<std::vector<EnvVar>> env;  // the same type as a step's: the executor reads both alike
  std::vector<StepSpec> steps;  // in file order; indices match the job's Dag
  // The config's webhooks this job's runs notify (`notify: [a, b]`), or every
  // one of them (`notify: all`).
  std::vector<Located<std::string>> notify;
  bool notify_all = false;

  const StepSpec* find_step(std::string_view step) const;

  // A step's effective settings: the step's own, else the job's defaults, else
  // DESIGN.md's built-in values (retries 0, retry_delay 10s, no timeout, kill_grace 10s).
  int retries(const StepSpec& step) const;
  Duration retry_delay(const StepSpec& step) const;
  std::optional<Duration> timeout(const StepSpec& step) const;
  Duration kill_grace(const StepSpec& step) const;
};

}  // namespace nightshift
