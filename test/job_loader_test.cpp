#include "nightshift/job_loader.h"

#include <catch2/catch.hpp>

using namespace nightshift;

namespace {

// Parses `yaml` as job file "jobs.d/t.yaml" and returns every fault as text.
std::vector<std::string> errors_of(const std::string& yaml) {
  Diagnostics errors;
  auto job = parse_job(yaml, "jobs.d/t.yaml", errors);
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.str());
  if (!job) REQUIRE_FALSE(out.empty());  // a refused file always says why
  return out;
}

Job parse_ok(const std::string& yaml) {
  Diagnostics errors;
  auto job = parse_job(yaml, "jobs.d/t.yaml", errors);
  for (const auto& e : errors) UNSCOPED_INFO(e.str());
  REQUIRE(job);
  REQUIRE(errors.empty());
  return std::move(*job);
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("loader: reads the example job of DESIGN.md") {
  Job job = parse_ok(R"(job: kpi
description: Daily KPIs for the DMP
schedule: "10 0 * * *"
timezone: Asia/Tokyo
catchup: latest
max_active_runs: 1
deadline: "06:00"
defaults: { retries: 2, retry_delay: 30s, timeout: 1h }
env: { ENV: prd, DB_PASSWORD: "${secret:DB_PASSWORD}" }
steps:
  extract_registration:
    connection: dmp_source
    pool: source_db
    sql: |
      DELETE FROM registration_recent;
      INSERT INTO registration_recent SELECT * FROM registration
       WHERE lesson_date > '{{ date | add_days(-30) }}';
  extract_lessons:
    command: [/opt/dmp/bin/extract, lessons]
  aggregate_kpi:
    depends_on: [extract_registration, extract_lessons]
    command: [/opt/dmp/bin/aggregate, --date, "{{ date }}"]   # argv, no shell
    timeout: 30m
  load_warehouse:
    depends_on: [aggregate_kpi]
    shell: ./load.sh "{{ date_nodash }}"
  notify:
    depends_on: [load_warehouse]
    run_if: all_done
    shell: ./notify.sh
)");
  const JobSpec& spec = job.spec;
  CHECK(spec.name == "kpi");
  CHECK(spec.pos == SourcePos{"jobs.d/t.yaml", 1, 6});
  CHECK(spec.description == "Daily KPIs for the DMP");
  REQUIRE(spec.schedule);
  CHECK(spec.schedule->expr().text() == "10 0 * * *");
  CHECK(spec.timezone == "Asia/Tokyo");
  CHECK(spec.catchup == Catchup::latest);
  CHECK(spec.deadline == std::chrono::minutes(6 * 60));
  CHECK(spec.defaults.retries == 2);
  CHECK(spec.defaults.retry_delay == std::chrono::seconds(30));
  REQUIRE(spec.env.size() == 2);
  CHECK(spec.env[1].name == "DB_PASSWORD");
  CHECK(spec.env[1].value.source() == "${secret:DB_PASSWORD}");
  REQUIRE(spec.steps.size() == 5);
  CHECK(spec.steps[0].name == "extract_registration");
  CHECK(spec.steps[0].kind == StepKind::sql);
  CHECK(spec.steps[0].connection->value == "dmp_source");
  CHECK(spec.steps[0].pool->value == "source_db");
  CHECK(spec.steps[2].kind == StepKind::command);
  CHECK(spec.steps[2].command.size() == 3);
  CHECK(spec.steps[3].kind == StepKind::shell);
  CHECK(spec.steps[4].run_if == RunIf::all_done);
  // Effective settings: the step's own, else the job's defaults, else built-in.
  CHECK(spec.timeout(spec.steps[2]) == std::chrono::minutes(30));
  CHECK(spec.timeout(spec.steps[3]) == std::chrono::hours(1));
  CHECK(spec.retries(spec.steps[3]) == 2);
  CHECK(spec.kill_grace(spec.steps[3]) == std::chrono::seconds(10));
  CHECK(job.dag.depth(job.dag.find("notify").value()) == 3);
}

TEST_CASE("loader: a job without schedule is manual-only and defaults to UTC") {
  Job job = parse_ok("job: adhoc\nsteps:\n  only: { shell: 'true' }\n");
  CHECK_FALSE(job.spec.schedule);
  CHECK(job.spec.timezone == "UTC");
  CHECK(job.spec.zone != nullptr);
  CHECK(job.spec.max_active_runs == 1);
  CHECK(job.spec.retries(job.spec.steps[0]) == 0);
  CHECK(job.spec.retry_delay(job.spec.steps[0]) == std::chrono::seconds(10));
  CHECK_FALSE(job.spec.timeout(job.spec.steps[0]));
}

TEST_CASE("loader: YAML syntax errors name the line and column") {
  CHECK(errors_of("job: a\nsteps:\n  x: [unclosed\n") ==
        Lines{"jobs.d/t.yaml:4:1: YAML syntax: end of sequence flow not found"});
  CHECK(errors_of("job: a\n  bad: indent\n") ==
        Lines{"jobs.d/t.yaml:2:6: YAML syntax: illegal map value"});
}

TEST_CASE("loader: empty files and wrong shapes") {
  CHECK(errors_of("") ==
        Lines{"jobs.d/t.yaml:1:1: job file is empty (expected 'job:' and 'steps:')"});
  CHECK(errors_of("- a\n- b\n") ==
        Lines{"jobs.d/t.yaml:1:1: a job file must be a mapping of keys to values, not a list"});
  CHECK(errors_of("description: x\n") ==
        Lines{"jobs.d/t.yaml:1:1: missing key 'job' (the job's name)",
              "jobs.d/t.yaml:1:1: missing key 'steps' (the job's steps)"});
  CHECK(errors_of("job: a\nsteps: {}\n") ==
        Lines{"jobs.d/t.yaml:2:8: a job needs at least one step"});
  CHECK(errors_of("job: a\nsteps:\n  s: [true]\n") ==
        Lines{"jobs.d/t.yaml:3:6: step 's' must be a mapping of keys to values, not a list"});
}

TEST_CASE("loader: unknown keys suggest the nearest known key") {
  CHECK(errors_of("job: a\nsteps:\n  s:\n    comand: [x]\n") ==
        Lines{"jobs.d/t.yaml:4:5: unknown key 'comand' in step 's' (did you mean 'command'?)",
              "jobs.d/t.yaml:4:5: step 's' needs exactly one of 'command', 'shell' or 'sql' (it "
              "has 0)"});
  CHECK(errors_of("job: a\nschedul: '@daily'\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:1: unknown key 'schedul' in a job file (did you mean 'schedule'?)"});
  CHECK(errors_of("job: a\nfrobnicate: 1\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:1: unknown key 'frobnicate' in a job file"});
  CHECK(errors_of("job: a\ndefaults: { retrys: 1 }\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:13: unknown key 'retrys' in 'defaults' (did you mean 'retries'?)"});
}

TEST_CASE("loader: duplicate keys are faults, not silently merged") {
  CHECK(errors_of("job: a\njob: b\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:1: duplicate key 'job' (first at 1:1)"});
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x }\n  s: { shell: y }\n") ==
        Lines{"jobs.d/t.yaml:4:3: duplicate key 's' (first at 3:3)"});
}

TEST_CASE("loader: exactly one of command, shell and sql") {
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, command: [y] }\n") ==
        Lines{"jobs.d/t.yaml:3:6: step 's' needs exactly one of 'command', 'shell' or 'sql' (it "
              "has 2)"});
  CHECK(errors_of("job: a\nsteps:\n  s: { sql: SELECT 1 }\n") ==
        Lines{"jobs.d/t.yaml:3:6: sql step 's' needs a 'connection'"});
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, connection: db }\n") ==
        Lines{"jobs.d/t.yaml:3:30: 'connection' is only for sql steps"});
  CHECK(
      errors_of("job: a\nsteps:\n  s: { command: ./run.sh }\n") ==
      Lines{
          "jobs.d/t.yaml:3:17: 'command' must be a non-empty list of arguments (use 'shell' for a "
          "command line)"});
}

TEST_CASE("loader: missing dependencies, every one of them, with suggestions") {
  CHECK(errors_of(R"(job: a
steps:
  extract_lessons: { shell: x }
  aggregate:
    depends_on: [extract_lesons, nothing_like_it]
    shell: y
)") == Lines{
           "jobs.d/t.yaml:5:18: step 'aggregate' depends on unknown step 'extract_lesons' (did you "
           "mean 'extract_lessons'?)",
           "jobs.d/t.yaml:5:34: step 'aggregate' depends on unknown step 'nothing_like_it'"});
}

TEST_CASE("loader: a cycle is named step by step") {
  CHECK(errors_of(R"(job: a
steps:
  a: { shell: x, depends_on: [c] }
  b: { shell: x, depends_on: [a] }
  c: { shell: x, depends_on: [b] }
)") == Lines{"jobs.d/t.yaml:3:3: dependency cycle: a -> c -> b -> a"});
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, depends_on: [s] }\n") ==
        Lines{"jobs.d/t.yaml:3:3: dependency cycle: s -> s"});
}

TEST_CASE("loader: bad schedules point into the expression") {
  // Six fields: the sixth is the day of week, 13 characters into the quoted text.
  CHECK(
      errors_of("job: a\nschedule: \"10 0 * * *  61\"\nsteps:\n  s: { shell: x }\n") ==
      Lines{"jobs.d/t.yaml:2:24: bad schedule '10 0 * * *  61': day of week 61 out of range 0-7"});
  std::vector<std::string> errors;

  errors = errors_of("job: a\nschedule: \"70 0 * * *\"\nsteps:\n  s: { shell: x }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("jobs.d/t.yaml:2:12: bad schedule '70 0 * * *': ", 0) == 0);

  errors = errors_of("job: a\nschedule: 0 0 30 2 MON-\nsteps:\n  s: { shell: x }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("jobs.d/t.yaml:2:", 0) == 0);

  errors = errors_of("job: a\nschedule: '0 0 30 2 *'\nsteps:\n  s: { shell: x }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("never") != std::string::npos);
}

TEST_CASE("loader: an unknown time zone") {
  CHECK(
      errors_of("job: a\nschedule: '@daily'\ntimezone: Asia/Tokio\nsteps:\n  s: { shell: x }\n") ==
      Lines{"jobs.d/t.yaml:3:11: unknown time zone 'Asia/Tokio'"});
}

TEST_CASE("loader: bad durations, numbers and choices") {
  auto errors = errors_of("job: a\nsteps:\n  s: { shell: x, timeout: 30 }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("jobs.d/t.yaml:3:", 0) == 0);
  CHECK(errors[0].find("bad duration for 'timeout': ") != std::string::npos);

  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, retries: -1 }\n") ==
        Lines{"jobs.d/t.yaml:3:27: 'retries' must be a whole number from 0 to 100"});
  CHECK(errors_of("job: a\nmax_active_runs: 0\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:18: 'max_active_runs' must be a whole number from 1 to 1000"});
  CHECK(errors_of("job: a\ncatchup: sometimes\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:10: bad catchup 'sometimes': expected none, latest or all"});
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, run_if: always }\n") ==
        Lines{"jobs.d/t.yaml:3:26: bad run_if 'always': expected all_succeeded or all_done"});
  CHECK(errors_of("job: a\ndeadline: '6am'\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:11: bad deadline '6am': expected a local time of day HH:MM, as in "
              "\"06:00\""});
}

TEST_CASE("loader: illegal names") {
  CHECK(errors_of("job: KPI\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:1:6: bad job name 'KPI': use a-z, 0-9, '_' and '-' (at most 64)"});
  CHECK(errors_of("job: a\nsteps:\n  'load warehouse': { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:3:3: bad step name 'load warehouse': use letters, digits, '_' and '-' "
              "(at most 64)"});
  CHECK(
      errors_of("job: a\nenv: { 1BAD: x, NIGHTSHIFT_DATE: y }\nsteps:\n  s: { shell: x }\n") ==
      Lines{
          "jobs.d/t.yaml:2:8: bad environment variable name '1BAD'",
          "jobs.d/t.yaml:2:17: environment variable 'NIGHTSHIFT_DATE' is reserved (NIGHTSHIFT_*)"});
}

TEST_CASE("loader: unknown template variables point into the text") {
  auto errors = errors_of("job: a\nsteps:\n  s:\n    command: [echo, \"{{ dat }}\"]\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("jobs.d/t.yaml:4:", 0) == 0);
  CHECK(errors[0].find("unknown template variable 'dat'") != std::string::npos);

  // In a block scalar the position is the line and column inside the block.
  errors = errors_of(R"(job: a
steps:
  s:
    connection: db
    sql: |
      DELETE FROM t;
      INSERT INTO t SELECT * FROM u WHERE d > '{{ date | add_dayz(-30) }}';
)");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("jobs.d/t.yaml:7:", 0) == 0);
  CHECK(errors[0].find("add_dayz") != std::string::npos);
}

TEST_CASE("loader: every fault of a file is reported in one pass") {
  auto errors = errors_of(R"(job: Bad Name
schedule: "61 * * * *"
timezone: Nowhere/Land
steps:
  a: { shell: x, depends_on: [missing] }
  b: { comand: [x] }
  c: { shell: x, timeout: soon }
)");
  CHECK(errors.size() >= 5);
}
