#include "nightshift/job_loader.h"

#include "nightshift/edit_distance.h"
#include "nightshift/source_file.h"
#include "nightshift/yaml_reader.h"

#include <algorithm>
#include <unordered_set>

namespace nightshift {
namespace {

const std::vector<std::string_view> kJobKeys = {
    "job",      "description", "schedule", "timezone", "catchup", "max_active_runs",
    "deadline", "defaults",    "env",      "steps",    "paused",  "notify"};
const std::vector<std::string_view> kDefaultsKeys = {"retries", "retry_delay", "timeout",
                                                     "kill_grace"};
const std::vector<std::string_view> kStepKeys = {
    "description", "command", "shell",      "sql", "connection", "depends_on", "retries",
    "retry_delay", "timeout", "kill_grace", "env", "workdir",    "pool",       "run_if"};

constexpr int kMaxRetries = 100;
constexpr int kMaxActiveRuns = 1000;

bool is_name(std::string_view name, bool capitals) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [capitals](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           (capitals && c >= 'A' && c <= 'Z');
  });
}

bool is_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Reads one job file; each read_* reports its own faults through the reader.
class JobFileReader {
 public:
  explicit JobFileReader(YamlReader& reader) : r_(reader) {}

  // The job's spec as far as it could be read (the reader counts its faults),
  // or nullopt when the file is no job at all. Its dependencies are checked
  // and its graph built apart (check_dependencies, build_dag), once the
  // reader and its tree are gone.
  std::optional<JobSpec> read(const YamlNode& root);

 private:
  void read_schedule(const YamlNode& root, JobSpec& job);
  void read_defaults(const YamlNode& node, StepDefaults& defaults);
  void read_notify(const YamlNode& node, JobSpec& job);
  std::vector<EnvVar> read_env(const YamlNode& node);
  std::optional<StepSpec> read_step(const YamlNode& key, const YamlNode& node);
  void read_action(const YamlNode& node, StepSpec& step);
  std::optional<Duration> read_timeout(const YamlNode& node);
  std::optional<std::chrono::minutes> read_time_of_day(const YamlNode& node);

  YamlReader& r_;
};

std::optional<JobSpec> JobFileReader::read(const YamlNode& root) {
  if (!r_.has_document()) {
    r_.error(SourcePos{r_.file(), 1, 1}, r_.is_blank()
                                             ? "job file is empty (expected 'job:' and 'steps:')"
                                             : "job file holds only comments (expected 'job:' "
                                               "and 'steps:')");
    return std::nullopt;
  }
  if (!r_.check_map(root, "a job file", kJobKeys)) return std::nullopt;

  JobSpec job;
  job.file = r_.file();
  job.pos = r_.pos(root);
  if (const YamlNode name = root["job"]) {
    job.pos = r_.pos(name);
    if (auto text = r_.string(name, "job")) {
      job.name = *text;
      if (!is_valid_job_name(job.name))
        r_.error(name, "bad job name '" + job.name + "': use a-z, 0-9, '_' and '-' (at most 64)");
    }
  } else {
    r_.error(root, "missing key 'job' (the job's name)");
  }
  if (const YamlNode n = root["description"])
    job.description = r_.string(n, "description").value_or("");
  read_schedule(root, job);
  if (const YamlNode n = root["catchup"]) {
    auto c = r_.choice(n, "catchup", {"none", "latest", "all"});
    if (c == "none") job.catchup = Catchup::none;
    if (c == "all") job.catchup = Catchup::all;
  }
  if (const YamlNode n = root["max_active_runs"])
    job.max_active_runs = r_.integer(n, "max_active_runs", 1, kMaxActiveRuns).value_or(1);
  if (const YamlNode n = root["deadline"]) job.deadline = read_time_of_day(n);
  if (const YamlNode n = root["paused"])
    job.paused = r_.choice(n, "paused", {"true", "false"}) == "true";
  if (const YamlNode n = root["defaults"]) read_defaults(n, job.defaults);
  if (const YamlNode n = root["env"]) job.env = read_env(n);
  if (const YamlNode n = root["notify"]) read_notify(n, job);

  const YamlNode steps = root["steps"];
  if (!steps) {
    r_.error(root, "missing key 'steps' (the job's steps)");
  } else if (r_.check_map(steps, "'steps'", {})) {
    if (steps.size() == 0) r_.error(steps, "a job needs at least one step");
    // Exact sizes: a loaded job keeps these vectors for as long as the daemon
    // runs, and a StepSpec is ~0.5 KB (doubling left up to half of it unused).
    job.steps.reserve(steps.size());
    for (const YamlEntry& entry : steps.entries())
      if (auto step = read_step(entry.key, entry.value)) job.steps.push_back(std::move(*step));
  }
  return job;
}

void JobFileReader::read_notify(const YamlNode& node, JobSpec& job) {
  if (node.is_scalar() && node.scalar() == "all") {
    job.notify_all = true;
    return;
  }
  if (!node.is_sequence()) {
    r_.error(node, "'notify' must be a list of webhook names, as in [ops_slack], or all");
    return;
  }
  for (YamlNode entry : node.items())
    if (auto name = r_.string(entry, "notify")) job.notify.push_back({*name, r_.pos(entry)});
}

void JobFileReader::read_schedule(const YamlNode& root, JobSpec& job) {
  const YamlNode tz = root["timezone"];
  if (tz) {
    if (auto name = r_.string(tz, "timezone")) {
      job.timezone = *name;
      job.zone = find_time_zone(*name);
      if (!job.zone) r_.error(tz, "unknown time zone '" + *name + "'");
    }
  } else {
    job.zone = find_time_zone("UTC");
  }
  const YamlNode expr = root["schedule"];
  if (!expr) return;
  auto text = r_.string(expr, "schedule");
  if (!text) return;
  // The expression is checked even when the time zone is bad: report both.
  auto cron = CronExpr::parse(*text);
  if (!cron) {
    r_.error(r_.pos_in_scalar(expr, cron.error().offset),
             "bad schedule '" + *text + "': " + cron.error().message);
    return;
  }
  if (!job.zone) return;
  auto schedule = Schedule::parse(*text, job.timezone);
  if (schedule) job.schedule = std::move(*schedule);
}

void JobFileReader::read_defaults(const YamlNode& node, StepDefaults& defaults) {
  if (!r_.check_map(node, "'defaults'", kDefaultsKeys)) return;
  if (const YamlNode n = node["retries"])
    defaults.retries = r_.integer(n, "retries", 0, kMaxRetries);
  if (const YamlNode n = node["retry_delay"])
    defaults.retry_delay = r_.duration(n, "retry_delay");
  if (const YamlNode n = node["timeout"]) defaults.timeout = read_timeout(n);
  if (const YamlNode n = node["kill_grace"]) defaults.kill_grace = r_.duration(n, "kill_grace");
}

std::vector<EnvVar> JobFileReader::read_env(const YamlNode& node) {
  std::vector<EnvVar> env;
  if (!r_.check_map(node, "'env'", {})) return env;
  for (const YamlEntry& entry : node.entries()) {
    const std::string name(entry.key.scalar());
    if (!is_env_name(name)) {
      r_.error(entry.key, "bad environment variable name '" + name + "'");
      continue;
    }
    if (name.rfind("NIGHTSHIFT_", 0) == 0) {
      r_.error(entry.key, "environment variable '" + name + "' is reserved (NIGHTSHIFT_*)");
      continue;
    }
    if (auto value = r_.template_text(entry.value, name))
      env.push_back(EnvVar{name, std::move(*value), r_.pos(entry.key)});
  }
  return env;
}

std::optional<StepSpec> JobFileReader::read_step(const YamlNode& key, const YamlNode& node) {
  StepSpec step;
  step.name = key.scalar();
  step.pos = r_.pos(key);
  if (!is_valid_step_name(step.name))
    r_.error(key,
             "bad step name '" + step.name + "': use letters, digits, '_' and '-' (at most 64)");
  if (!r_.check_map(node, "step '" + step.name + "'", kStepKeys)) return std::nullopt;

  if (const YamlNode n = node["description"])
    step.description = r_.string(n, "description").value_or("");
  read_action(node, step);
  if (const YamlNode n = node["depends_on"]) {
    if (!n.is_sequence()) {
      r_.error(n, "'depends_on' must be a list of step names, as in [extract, load]");
    } else {
      step.depends_on.reserve(n.size());
      for (YamlNode dep : n.items())
        if (auto name = r_.string(dep, "depends_on"))
          step.depends_on.push_back({*name, r_.pos(dep)});
    }
  }
  if (const YamlNode n = node["pool"])
    if (auto name = r_.string(n, "pool")) step.pool = Located<std::string>{*name, r_.pos(n)};
  if (const YamlNode n = node["run_if"]) {
    if (r_.choice(n, "run_if", {"all_succeeded", "all_done"}) == "all_done")
      step.run_if = RunIf::all_done;
  }
  if (const YamlNode n = node["retries"]) step.retries = r_.integer(n, "retries", 0, kMaxRetries);
  if (const YamlNode n = node["retry_delay"]) step.retry_delay = r_.duration(n, "retry_delay");
  if (const YamlNode n = node["timeout"]) step.timeout = read_timeout(n);
  if (const YamlNode n = node["kill_grace"]) step.kill_grace = r_.duration(n, "kill_grace");
  if (const YamlNode n = node["env"]) step.env = read_env(n);
  if (const YamlNode n = node["workdir"]) step.workdir = r_.string(n, "workdir");
  return step;
}

void JobFileReader::read_action(const YamlNode& node, StepSpec& step) {
  const YamlNode command = node["command"];
  const YamlNode shell = node["shell"];
  const YamlNode sql = node["sql"];
  int actions = (command ? 1 : 0) + (shell ? 1 : 0) + (sql ? 1 : 0);
  if (actions != 1) {
    r_.error(node, "step '" + step.name +
                       "' needs exactly one of 'command', 'shell' or 'sql' (it has " +
                       std::to_string(actions) + ")");
    return;
  }
  if (command) {
    step.kind = StepKind::command;
    if (!command.is_sequence() || command.size() == 0) {
      r_.error(command,
               "'command' must be a non-empty list of arguments (use 'shell' for a command line)");
      return;
    }
    step.command.reserve(command.size());
    for (YamlNode arg : command.items())
      if (auto t = r_.template_text(arg, "command")) step.command.push_back(std::move(*t));
  } else {
    step.kind = shell ? StepKind::shell : StepKind::sql;
    step.script = r_.template_text(shell ? shell : sql, shell ? "shell" : "sql");
  }
  const YamlNode connection = node["connection"];
  if (sql && !connection) {
    r_.error(node, "sql step '" + step.name + "' needs a 'connection'");
  } else if (!sql && connection) {
    r_.error(connection, "'connection' is only for sql steps");
  } else if (connection) {
    if (auto name = r_.string(connection, "connection"))
      step.connection = Located<std::string>{*name, r_.pos(connection)};
  }
}

// DESIGN.md: a timeout is > 0. "No timeout" is written by leaving it out; a
// zero would time every attempt out at once.
std::optional<Duration> JobFileReader::read_timeout(const YamlNode& node) {
  auto timeout = r_.duration(node, "timeout");
  if (timeout && timeout->count() == 0) {
    r_.error(node, "'timeout' must be more than 0 (leave it out for no timeout)");
    return std::nullopt;
  }
  return timeout;
}

std::optional<std::chrono::minutes> JobFileReader::read_time_of_day(const YamlNode& node) {
  auto text = r_.string(node, "deadline");
  if (!text) return std::nullopt;
  const std::string& t = *text;
  auto digit = [&](std::size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  if (t.size() == 5 && digit(0) && digit(1) && t[2] == ':' && digit(3) && digit(4)) {
    int h = (t[0] - '0') * 10 + (t[1] - '0');
    int m = (t[3] - '0') * 10 + (t[4] - '0');
    if (h < 24 && m < 60) return std::chrono::minutes(h * 60 + m);
  }
  r_.error(node, "bad deadline '" + t + "': expected a local time of day HH:MM, as in \"06:00\"");
  return std::nullopt;
}

// Reports every unknown dependency, even in a file with other faults.
bool check_dependencies(const JobSpec& job, Diagnostics& errors) {
  std::vector<std::string_view> names;
  names.reserve(job.steps.size());
  for (const auto& s : job.steps) names.push_back(s.name);
  // A set, not a search of `names` for every dependency: that was quadratic in
  // the steps (a 14,000-step job spent a quarter of its load in memcmp).
  const std::unordered_set<std::string_view> known(names.begin(), names.end());
  bool ok = true;
  for (const auto& s : job.steps) {
    for (const auto& dep : s.depends_on) {
      if (known.contains(dep.value)) continue;
      errors.push_back(Diagnostic{dep.pos, "step '" + s.name + "' depends on unknown step '" +
                                               dep.value + "'" + did_you_mean(dep.value, names)});
      ok = false;
    }
  }
  return ok;
}

// A cycle is reported at the first step on it.
std::optional<Dag> build_dag(const JobSpec& job, Diagnostics& errors) {
  std::vector<Dag::Node> nodes;
  for (const auto& s : job.steps) {
    Dag::Node node{s.name, {}};
    for (const auto& dep : s.depends_on) node.depends_on.push_back(dep.value);
    nodes.push_back(std::move(node));
  }
  auto built = Dag::build(std::move(nodes));
  if (auto* dag = std::get_if<Dag>(&built)) return std::move(*dag);
  if (auto* cycle = std::get_if<Dag::Cycle>(&std::get<Dag::BuildError>(built))) {
    const StepSpec* first = job.find_step(cycle->path.front());
    errors.push_back(Diagnostic{first->pos, "dependency cycle: " + cycle->str()});
  }
  return std::nullopt;
}

// The reader (the text, its tree) is gone before the graph is built: for a
// big job the tree is as large as the job itself, and the load's peak memory
// was the tree, the spec and the graph's making at once (a 100,000-step job).
std::optional<Job> parse_job_text(std::string text, const std::string& file, Diagnostics& errors) {
  std::optional<JobSpec> spec;
  bool read_ok = false;
  {
    YamlReader reader(file, std::move(text), errors);
    auto root = reader.parse();
    if (!root) return std::nullopt;
    spec = JobFileReader(reader).read(*root);
    read_ok = reader.error_count() == 0;
  }
  if (!spec) return std::nullopt;
  // Every unknown dependency is reported, even in a file with other faults.
  if (!check_dependencies(*spec, errors) || !read_ok) return std::nullopt;
  auto dag = build_dag(*spec, errors);
  if (!dag) return std::nullopt;
  return Job{std::move(*spec), std::move(*dag)};
}

}  // namespace

bool is_valid_job_name(std::string_view name) {
  return is_name(name, false);
}
bool is_valid_step_name(std::string_view name) {
  return is_name(name, true);
}

std::optional<Job> parse_job(std::string_view text, const std::string& file, Diagnostics& errors) {
  return parse_job_text(std::string(text), file, errors);
}

std::optional<Job> load_job_file(const std::string& path, Diagnostics& errors) {
  auto text = read_source_file(path, "job file");
  if (!text) {
    errors.push_back(text.error());
    return std::nullopt;
  }
  return parse_job_text(std::move(*text), path, errors);  // the file's text, not a copy
}

}  // namespace nightshift
