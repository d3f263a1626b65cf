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

TEST_CASE("loader: paused is the job's initial pause state, true or false") {
  CHECK_FALSE(parse_ok("job: a\nsteps:\n  s: { shell: x }\n").spec.paused);
  CHECK(parse_ok("job: a\npaused: true\nsteps:\n  s: { shell: x }\n").spec.paused);
  CHECK_FALSE(parse_ok("job: a\npaused: false\nsteps:\n  s: { shell: x }\n").spec.paused);
  CHECK(errors_of("job: a\npaused: maybe\nsteps:\n  s: { shell: x }\n") ==
        Lines{"jobs.d/t.yaml:2:9: bad paused 'maybe': expected true or false"});
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

TEST_CASE(
    "loader: dependencies are checked after the file's other faults, cycles only without any") {
  // The reader is gone before the dependencies are checked and the graph is
  // built (the load's peak memory): the order and the set of faults stay.
  auto errors = errors_of(R"(job: a
steps:
  a: { shell: x, depends_on: [missing, b], timeout: soon }
  b: { shell: x, depends_on: [a] }
)");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].starts_with("jobs.d/t.yaml:3:"));
  CHECK(errors[0].find("bad duration for 'timeout'") != std::string::npos);
  CHECK(errors[1] == "jobs.d/t.yaml:3:31: step 'a' depends on unknown step 'missing'");
  // A cycle in a file with another fault is not reported: the graph is not built.
  CHECK(errors_of(R"(job: a
steps:
  a: { shell: x, depends_on: [b], timeout: soon }
  b: { shell: x, depends_on: [a] }
)")
            .size() == 1);
}

namespace {

// Places in a job file where any text can sit: '@' marks it, with its line and
// column (bytes, as yaml-cpp counts them) when the job is written as below.
const char* const kPlaces = R"(# comment @
job: a
description: "d @"
env: { K: v@ }
steps:
  s:
    description: plain @ text
    shell: |
      echo @
)";

struct Place {
  int index;  // which '@' of kPlaces
  int line;
  int column;
};
const Place kPlaceList[] = {{0, 1, 11}, {1, 3, 17}, {2, 4, 12}, {3, 7, 24}, {4, 9, 12}};

// kPlaces with the `index`-th '@' replaced by `bytes` and the others by 'x'.
std::string with_bytes_at(int index, const std::string& bytes) {
  std::string out;
  int at = 0;
  for (const char* c = kPlaces; *c; ++c) {
    if (*c != '@') {
      out += *c;
    } else {
      out += at++ == index ? bytes : "x";
    }
  }
  return out;
}

std::string at(const Place& place) {
  return "jobs.d/t.yaml:" + std::to_string(place.line) + ":" + std::to_string(place.column) + ": ";
}

}  // namespace

TEST_CASE("loader: the places of the byte tests hold any valid UTF-8") {
  for (const Place& place : kPlaceList) {
    INFO("place " << place.index);
    Job job = parse_ok(with_bytes_at(place.index, "caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x8C\x99"));
    CHECK(job.spec.name == "a");
  }
  // A mistake after multi-byte text is located in bytes, as yaml-cpp does.
  CHECK(errors_of("job: a\ndescription: \xE6\x97\xA5\xE6\x97\xA5\nsteps: { s: { shel: x } }\n") ==
        Lines{"jobs.d/t.yaml:3:15: unknown key 'shel' in step 's' (did you mean 'shell'?)",
              "jobs.d/t.yaml:3:13: step 's' needs exactly one of 'command', 'shell' or 'sql' (it "
              "has 0)"});
}

TEST_CASE("loader: invalid UTF-8 anywhere is refused at its first bad byte") {
  // One of each way to break UTF-8, as bytes and the byte the message names.
  const std::pair<std::string, std::string> sequences[] = {
      {"\x80", "0x80"},              // a continuation byte alone
      {"\xC0\xAF", "0xC0"},          // overlong '/'
      {"\xE0\x80\xAF", "0xE0"},      // overlong, 3 bytes
      {"\xED\xA0\x80", "0xED"},      // a surrogate, U+D800
      {"\xF4\x90\x80\x80", "0xF4"},  // past U+10FFFF
      {"\xFF", "0xFF"},              // never in UTF-8
      {"\xE6\x97", "0xE6"},          // cut short
      {"\xE9t\xE9", "0xE9"},         // Latin-1 "été"
  };
  for (const Place& place : kPlaceList) {
    for (const auto& [bytes, name] : sequences) {
      INFO("place " << place.index << ", byte " << name);
      // Valid multi-byte text before it on the same line does not shift the column
      // by characters: columns count bytes.
      CHECK(errors_of(with_bytes_at(place.index, bytes)) ==
            Lines{at(place) + "invalid UTF-8 (byte " + name + "): the file must be UTF-8 text"});
    }
  }
  // Only the first bad byte is reported, wherever the next ones are.
  CHECK(errors_of("job: a\xFF\nsteps: { s: { shell: \"\xFF\" } }\n") ==
        Lines{"jobs.d/t.yaml:1:7: invalid UTF-8 (byte 0xFF): the file must be UTF-8 text"});
  CHECK(errors_of("\xFF\xFEj\0o\0b\0") ==
        Lines{"jobs.d/t.yaml:1:1: the file is UTF-16 or UTF-32 (it starts with a byte order mark): "
              "it must be UTF-8"});
}

TEST_CASE("loader: a NUL byte is an error where it is, never the end of the file") {
  for (const Place& place : kPlaceList) {
    INFO("place " << place.index);
    CHECK(errors_of(with_bytes_at(place.index, std::string("a\0b", 3))) ==
          Lines{"jobs.d/t.yaml:" + std::to_string(place.line) + ":" +
                std::to_string(place.column + 1) + ": NUL byte: the file must be UTF-8 text"});
  }
  // A valid job, then a NUL: reading up to the NUL would accept a job that is
  // not what the file says.
  CHECK(errors_of(std::string("job: a\nsteps: { s: { shell: x } }\n\0job: b\n", 40)) ==
        Lines{"jobs.d/t.yaml:3:1: NUL byte: the file must be UTF-8 text"});
  // Which comes first, a NUL or invalid UTF-8, is the one named.
  CHECK(errors_of(std::string("job: a\xFF\0", 8)) ==
        Lines{"jobs.d/t.yaml:1:7: invalid UTF-8 (byte 0xFF): the file must be UTF-8 text"});
  CHECK(errors_of(std::string("job: a\0\xFF", 8)) ==
        Lines{"jobs.d/t.yaml:1:7: NUL byte: the file must be UTF-8 text"});

  // The escapes of double-quoted YAML make a NUL from text: refused at the value.
  for (const char* escape : {"\\0", "\\x00", "\\u0000", "\\U00000000"}) {
    INFO(escape);
    const std::string message =
        "a NUL character (from an escape such as \"\\0\") or invalid UTF-8 in a value";
    CHECK(errors_of("job: a\nsteps:\n  s: { shell: \"ab" + std::string(escape) + "cd\" }\n") ==
          Lines{"jobs.d/t.yaml:3:15: " + message});
    CHECK(errors_of("job: a\nenv: { K: \"" + std::string(escape) + "\" }\nsteps:\n  s: { shell: x }\n") ==
          Lines{"jobs.d/t.yaml:2:11: " + message});
    CHECK(errors_of("job: a\nsteps:\n  \"s" + std::string(escape) + "\": { shell: x }\n") ==
          Lines{"jobs.d/t.yaml:3:3: " + message});
    CHECK(errors_of("job: a\nsteps:\n  s: { command: [echo, \"" + std::string(escape) + "\"] }\n") ==
          Lines{"jobs.d/t.yaml:3:24: " + message});
  }
  // Other escapes stay text.
  Job job = parse_ok("job: a\nsteps:\n  s: { shell: \"tab\\there \\x41 \\u00e9\" }\n");
  CHECK(job.spec.steps[0].script->source() == "tab\there A \xC3\xA9");
}

// Aliases share their anchor's node: a NUL written once under an anchor is
// found, and a file of nested aliases (each level ten times the one below:
// 10^9 scalars if expanded) is checked in time linear in its text.
TEST_CASE("loader: values reached through aliases are checked, without expanding them") {
  CHECK(errors_of("job: a\nenv: { K: &x \"a\\0b\" }\nsteps:\n  s: { shell: *x }\n") ==
        Lines{"jobs.d/t.yaml:2:11: a NUL character (from an escape such as \"\\0\") or invalid "
              "UTF-8 in a value"});
  std::string laughs = "job: a\nsteps:\n  s: { shell: x }\ndescription: &l0 lol\n";
  for (int level = 1; level <= 9; ++level) {
    laughs += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) laughs += (i ? ", *l" : "*l") + std::to_string(level - 1);
    laughs += "]\n";
  }
  auto errors = errors_of(laughs);
  REQUIRE(errors.size() == 9);
  CHECK(errors[0] == "jobs.d/t.yaml:5:1: unknown key 'l1' in a job file");
}

// An alias is its anchored node (as yaml-cpp's Load made it): a step can be
// another step's map, and a fault in an aliased value is reported at the
// anchor. yaml-cpp 0.7 knows no merge keys, so '<<' is an unknown key.
TEST_CASE("loader: aliases are their anchored node; '<<' is no merge key") {
  Job job = parse_ok(
      "job: a\nsteps:\n  a: &b { shell: echo b, timeout: &t 5s }\n"
      "  c: { shell: echo c, depends_on: [a], timeout: *t, retry_delay: *t }\n");
  REQUIRE(job.spec.steps.size() == 2);
  CHECK(job.spec.steps[1].timeout == std::chrono::seconds(5));
  CHECK(job.spec.steps[1].retry_delay == std::chrono::seconds(5));
  Job twin = parse_ok("job: a\nsteps:\n  a: &b { shell: echo b }\n  c: *b\n");
  REQUIRE(twin.spec.steps.size() == 2);
  CHECK(twin.spec.steps[1].script->source() == "echo b");
  CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, timeout: &t 0s }\n  u: { shell: y, timeout: *t }\n") ==
        Lines{"jobs.d/t.yaml:3:27: 'timeout' must be more than 0 (leave it out for no timeout)",
              "jobs.d/t.yaml:3:27: 'timeout' must be more than 0 (leave it out for no timeout)"});
  CHECK(errors_of("job: merge\ndefaults: &d\n  retries: 2\nsteps:\n  a:\n    <<: *d\n"
                  "    shell: echo a\n") ==
        Lines{"jobs.d/t.yaml:6:5: unknown key '<<' in step 'a'"});
  CHECK(errors_of("job: a\nsteps:\n  c: { command: [echo, ~] }\n") ==
        Lines{"jobs.d/t.yaml:3:24: 'command' must be a string"});
}

// job_fuzz's find: on this broken flow collection yaml-cpp 0.7's LoadAll
// never returns (each call for a next document succeeds without reading on,
// and the empty documents pile up until memory runs out). The loader must
// refuse it, and return: if it hangs again, ctest's timeout fails this test.
TEST_CASE("loader: a broken flow collection yaml-cpp could loop on is refused") {
  auto errors = errors_of(",}jo\": hhhhhhhhhhhhhh{a\nsteps\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with("jobs.d/t.yaml:"));
}

TEST_CASE("loader: a second YAML document is an error where it starts") {
  const std::string job = "job: a\nsteps:\n  s: { shell: x }\n";
  const std::pair<std::string, std::string> cases[] = {
      {job + "---\njob: b\nsteps:\n  s: { shell: x }\n", "4:1"},
      {"---\n" + job + "---\njob: b\n", "5:1"},           // the first one explicit too
      {job + "--- second\n", "4:1"},                        // content on the marker line
      {job + "---\n", "4:1"},                               // an empty one
      {job + "---\n# only a comment\n", "4:1"},
      {job + "...\njob: b\n", "5:1"},                       // after an end marker, no '---'
      {job + "---\n- [unclosed\n", "4:1"},                  // even when it is broken
  };
  for (const auto& [text, position] : cases) {
    INFO(text);
    CHECK(errors_of(text) ==
          Lines{"jobs.d/t.yaml:" + position +
                ": a second YAML document starts here: a file holds exactly one"});
  }
  // Markers that end the one document, or that are text, are fine.
  CHECK(parse_ok("---\n" + job + "...\n").spec.name == "a");
  CHECK(parse_ok("---\n" + job + "...\n# trailing comment\n").spec.name == "a");
  CHECK(parse_ok("job: a\nsteps:\n  s:\n    shell: |\n      echo ---\n      --- x\n").spec.name ==
        "a");
}

TEST_CASE("loader: a file without a job says what it holds instead") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "1:1: job file is empty (expected 'job:' and 'steps:')"},
      {"\n\n  \n", "1:1: job file is empty (expected 'job:' and 'steps:')"},
      {"# a job, one day\n\n# or not\n",
       "1:1: job file holds only comments (expected 'job:' and 'steps:')"},
      {"---\n", "2:1: a job file must be a mapping of keys to values, not empty"},
      {"~\n", "1:1: a job file must be a mapping of keys to values, not empty"},
      {"job\n", "1:1: a job file must be a mapping of keys to values, not a string"},
      {"\"job: a\"\n", "1:1: a job file must be a mapping of keys to values, not a string"},
      {"- job: a\n", "1:1: a job file must be a mapping of keys to values, not a list"},
      {"[job, steps]\n", "1:1: a job file must be a mapping of keys to values, not a list"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    CHECK(errors_of(text) == Lines{"jobs.d/t.yaml:" + message});
  }
}

TEST_CASE("loader: a timeout is more than 0, in the defaults and in a step") {
  const std::string message = "'timeout' must be more than 0 (leave it out for no timeout)";
  for (const char* zero : {"0s", "0ms", "0m", "0h0m0s", "0d"}) {
    INFO(zero);
    CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, timeout: " + std::string(zero) + " }\n") ==
          Lines{"jobs.d/t.yaml:3:27: " + message});
    CHECK(errors_of("job: a\ndefaults: { timeout: " + std::string(zero) +
                    " }\nsteps:\n  s: { shell: x }\n") == Lines{"jobs.d/t.yaml:2:22: " + message});
  }
  CHECK(parse_ok("job: a\nsteps:\n  s: { shell: x, timeout: 1ms }\n").spec.steps[0].timeout ==
        std::chrono::milliseconds(1));
  // No duration can be negative: a sign is refused for each of them.
  for (const char* key : {"timeout", "retry_delay", "kill_grace"}) {
    INFO(key);
    CHECK(errors_of("job: a\nsteps:\n  s: { shell: x, " + std::string(key) + ": -1s }\n") ==
          Lines{"jobs.d/t.yaml:3:" + std::to_string(17 + std::string(key).size() + 3) +
                ": bad duration for '" + key + "': no sign allowed in duration '-1s'"});
  }
  // A zero retry_delay (retry at once) and kill_grace (SIGKILL at once) mean something.
  Job job = parse_ok("job: a\nsteps:\n  s: { shell: x, retry_delay: 0s, kill_grace: 0s }\n");
  CHECK(job.spec.steps[0].retry_delay == std::chrono::milliseconds(0));
}
