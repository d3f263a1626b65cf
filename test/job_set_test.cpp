#include "nightshift/job_set.h"
#include "nightshift/config_loader.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <filesystem>
#include <fstream>

#include <sys/stat.h>

using namespace nightshift;
namespace fs = std::filesystem;

namespace {

// A scratch jobs directory, removed at the end of the test.
// A scratch jobs directory.
class JobsDir {
 public:
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_.path() / name) << text;
  }
  std::string path() const { return dir_.path().string(); }
  std::string file(const std::string& name) const { return dir_ / name; }

 private:
  test::TempDir dir_{"nightshift-jobs"};
};

std::vector<std::string> errors_of(const JobSetResult& set) {
  std::vector<std::string> out;
  if (!set)
    for (const auto& e : set.error()) out.push_back(e.str());
  return out;
}

}  // namespace

TEST_CASE("job set: loads every yaml file, sorted by job name") {
  JobsDir dir;
  dir.write("b.yaml", "job: zeta\nsteps:\n  s: { shell: x }\n");
  dir.write("a.yml", "job: alpha\nsteps:\n  s: { shell: x }\n");
  dir.write("README.md", "not a job");
  dir.write(".swap.yaml", "not: [a job");
  auto set = JobSet::load(dir.path());
  REQUIRE(set.has_value());
  REQUIRE((*set)->jobs().size() == 2);
  CHECK((*set)->jobs()[0]->spec.name == "alpha");
  CHECK((*set)->find("zeta") != nullptr);
  CHECK((*set)->find("nope") == nullptr);
}

TEST_CASE("job set: a job name used twice names both places") {
  JobsDir dir;
  dir.write("a.yaml", "job: kpi\nsteps:\n  s: { shell: x }\n");
  dir.write("b.yaml", "# copy\njob: kpi\nsteps:\n  s: { shell: x }\n");
  CHECK(errors_of(JobSet::load(dir.path())) ==
        std::vector<std::string>{dir.file("b.yaml") +
                                 ":2:6: duplicate job name 'kpi' (also defined at " +
                                 dir.file("a.yaml") + ":1:6)"});
}

TEST_CASE("job set: one bad file refuses the whole set, with every file's faults") {
  JobsDir dir;
  dir.write("good.yaml", "job: good\nsteps:\n  s: { shell: x }\n");
  dir.write("bad1.yaml", "job: bad1\nsteps:\n  s: { shel: x }\n");
  dir.write("bad2.yaml", "job: bad2\nsteps: [\n");
  auto errors = errors_of(JobSet::load(dir.path()));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].rfind(dir.file("bad1.yaml") + ":3:8: unknown key 'shel'", 0) == 0);
  CHECK(errors[2].rfind(dir.file("bad2.yaml") + ":", 0) == 0);
}

TEST_CASE("job set: with a config, connections and pools must exist") {
  JobsDir dir;
  dir.write("a.yaml", R"(job: a
steps:
  s:
    connection: dmp_sorce
    pool: db
    sql: SELECT 1
)");
  auto config = parse_config(
      "pools: { source_db: 2 }\nconnections:\n  dmp_source: { driver: sqlite, path: x.db }\n",
      "nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(JobSet::load(dir.path()).has_value());  // without a config these are not checked
  CHECK(
      errors_of(JobSet::load(dir.path(), &*config)) ==
      std::vector<std::string>{
          dir.file("a.yaml") + ":4:17: unknown connection 'dmp_sorce' (did you mean 'dmp_source'?)",
          dir.file("a.yaml") + ":5:11: unknown pool 'db'"});
}

TEST_CASE("job set: a missing directory is one clear fault") {
  auto errors = errors_of(JobSet::load("/nonexistent/jobs.d"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("/nonexistent/jobs.d: cannot read jobs directory: ", 0) == 0);
}

TEST_CASE("job set: the example jobs pass against the demo config") {
  auto config = load_config((fs::path(NIGHTSHIFT_SOURCE_DIR) / "nightshift.yaml").string());
  REQUIRE(config.has_value());
  auto set = JobSet::load(config->jobs_dir, &*config);
  for (const auto& e : errors_of(set)) UNSCOPED_INFO(e);
  REQUIRE(set.has_value());
  CHECK((*set)->find("kpi") != nullptr);
  CHECK((*set)->find("materials") != nullptr);
}

TEST_CASE("job set: entries that are not regular files are each named, and refuse the set") {
  JobsDir dir;
  dir.write("good.yaml", "job: good\nsteps:\n  s: { shell: x }\n");
  dir.write("real.yaml.txt", "job: real\nsteps:\n  s: { shell: x }\n");
  REQUIRE(::mkfifo(dir.file("a_fifo.yaml").c_str(), 0600) == 0);
  fs::create_directory(dir.file("b_dir.yaml"));
  fs::create_symlink("/dev/zero", dir.file("c_zero.yaml"));
  fs::create_symlink("/dev/urandom", dir.file("c_urandom.yml"));
  fs::create_symlink("a_fifo.yaml", dir.file("d_to_fifo.yaml"));
  fs::create_symlink("nowhere", dir.file("e_dangling.yaml"));
  fs::create_symlink("f_loop.yaml", dir.file("f_loop.yaml"));
  dir.write("g_big.yaml", "# " + std::string(1024 * 1024, 'x') + "\n");
  fs::create_symlink("real.yaml.txt", dir.file("h_link.yaml"));  // followed: a fine job
  fs::create_directory(dir.file("subdir"));                      // not *.yaml: not a job

  auto errors = errors_of(JobSet::load(dir.path()));
  const std::string cannot = ":1:1: cannot read job file: ";
  CHECK(errors ==
        std::vector<std::string>{
            dir.file("a_fifo.yaml") + cannot + "it is a FIFO, not a regular file",
            dir.file("b_dir.yaml") + cannot + "it is a directory",
            dir.file("c_urandom.yml") + cannot + "it is a character device, not a regular file",
            dir.file("c_zero.yaml") + cannot + "it is a character device, not a regular file",
            dir.file("d_to_fifo.yaml") + cannot + "it is a FIFO, not a regular file",
            dir.file("e_dangling.yaml") + cannot + "dangling symlink (its target 'nowhere' is missing)",
            dir.file("f_loop.yaml") + cannot + "symlink loop (too many levels of symbolic links)",
            dir.file("g_big.yaml") + cannot +
                "it is larger than 1 MiB (1048579 bytes), the limit for a job file",
        });

  // Once the hostile entries are gone, the same directory loads, the symlinked
  // job included.
  for (const char* name : {"a_fifo.yaml", "b_dir.yaml", "c_zero.yaml", "c_urandom.yml",
                           "d_to_fifo.yaml", "e_dangling.yaml", "f_loop.yaml", "g_big.yaml"})
    fs::remove(dir.file(name));
  auto set = JobSet::load(dir.path());
  REQUIRE(set.has_value());
  CHECK((*set)->find("good") != nullptr);
  CHECK((*set)->find("real") != nullptr);
}

TEST_CASE("job set: files that are not UTF-8 text or hold two documents refuse the set") {
  JobsDir dir;
  dir.write("good.yaml", "job: good\nsteps:\n  s: { shell: x }\n");
  dir.write("latin1.yaml", "job: l\ndescription: \xE9t\xE9\nsteps:\n  s: { shell: x }\n");
  dir.write("nul.yaml", std::string("job: n\nsteps:\n  s: { shell: x }\n\0\n", 35));
  dir.write("two.yaml", "job: t\nsteps:\n  s: { shell: x }\n---\njob: u\n");
  CHECK(errors_of(JobSet::load(dir.path())) ==
        std::vector<std::string>{
            dir.file("latin1.yaml") +
                ":2:14: invalid UTF-8 (byte 0xE9): the file must be UTF-8 text",
            dir.file("nul.yaml") + ":4:1: NUL byte: the file must be UTF-8 text",
            dir.file("two.yaml") + ":4:1: a second YAML document starts here: a file holds "
                                   "exactly one",
        });
}

// Enough files for the load to be split over threads (64 a share): the jobs
// and the errors come out as one pass in file-name order would give them.
TEST_CASE("job set: a large directory loads in shares, errors in file order") {
  JobsDir dir;
  std::vector<std::string> bad_files;
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "j%03d.yaml", i);
    const std::string job = "job: j" + std::to_string(i) + "\nsteps:\n  s: { shell: x";
    if (i % 37 == 5) {
      dir.write(name, job + ", retrys: 1 }\n");
      bad_files.push_back(name);
      expected.push_back(dir.file(name) +
                         ":3:18: unknown key 'retrys' in step 's' (did you mean 'retries'?)");
    } else {
      dir.write(name, job + " }\n");
    }
  }
  CHECK(errors_of(JobSet::load(dir.path())) == expected);
  for (const auto& name : bad_files) fs::remove(dir.file(name));
  auto set = JobSet::load(dir.path());
  REQUIRE(set.has_value());
  CHECK((*set)->jobs().size() == 300 - bad_files.size());
  CHECK((*set)->find("j299") != nullptr);
}

TEST_CASE("job set: with a config, the webhooks a job notifies must exist") {
  JobsDir dir;
  dir.write("a.yaml", R"(job: a
notify: [ops_slak, pager]
steps:
  s: { shell: "true" }
)");
  dir.write("b.yaml", "job: b\nnotify: all\nsteps:\n  s: { shell: \"true\" }\n");
  auto config = parse_config(R"(notify:
  ops_slack: { url: "${secret:SLACK_URL}", format: slack }
  pager: { url: "https://pager.example/hook", events: [run_failed] }
)",
                             "nightshift.yaml");
  REQUIRE(config.has_value());
  CHECK(JobSet::load(dir.path()).has_value());  // without a config they are not checked
  CHECK(errors_of(JobSet::load(dir.path(), &*config)) ==
        std::vector<std::string>{dir.file("a.yaml") +
                                 ":2:10: unknown webhook 'ops_slak' (did you mean 'ops_slack'?)"});
  dir.write("a.yaml", "job: a\nnotify: [pager]\nsteps:\n  s: { shell: \"true\" }\n");
  auto set = JobSet::load(dir.path(), &*config);
  REQUIRE(set.has_value());
  CHECK((*set)->find("b")->spec.notify_all);
  REQUIRE((*set)->find("a")->spec.notify.size() == 1);
  CHECK((*set)->find("a")->spec.notify[0].value == "pager");
}

TEST_CASE("job set: notify is a list of names or all") {
  JobsDir dir;
  dir.write("a.yaml", "job: a\nnotify: ops\nsteps:\n  s: { shell: \"true\" }\n");
  CHECK(errors_of(JobSet::load(dir.path())) ==
        std::vector<std::string>{dir.file("a.yaml") +
                                 ":2:9: 'notify' must be a list of webhook names, as in "
                                 "[ops_slack], or all"});
}
