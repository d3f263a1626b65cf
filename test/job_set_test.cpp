#include "nightshift/job_set.h"
#include "nightshift/config_loader.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <filesystem>
#include <fstream>

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
