#include "nightshift/runtime/step_log.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <cerrno>
#include <fstream>
#include <sstream>

using namespace nightshift;

namespace {

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("step_log_test") {}
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("step log: writes the text with the step's secrets masked, across writes") {
  TempDir dir;
  {
    StepLog log({"hunter22"});
    std::string error;
    REQUIRE(log.open(dir / "step.1.log", error));
    log.write("password: hun");
    log.write("ter22\nand again hunter2");
    log.write("2");  // the last byte only at the close
    CHECK(log.mask("error near 'hunter22'") == "error near '***'");
  }
  CHECK(read_file(dir / "step.1.log") == "password: ***\nand again ***");
}

TEST_CASE("step log: a log file is never overwritten, and its folder is not made") {
  TempDir dir;
  std::ofstream(dir / "step.1.log") << "an older run's log\n";
  StepLog log;
  std::string error;
  CHECK_FALSE(log.open(dir / "step.1.log", error));
  CHECK(error == "cannot open log '" + (dir / "step.1.log") +
                     "': File exists (a log is never overwritten)");
  CHECK(read_file(dir / "step.1.log") == "an older run's log\n");
  StepLog elsewhere;
  CHECK_FALSE(elsewhere.open(dir / "no/such/folder/step.1.log", error));
  CHECK(error.find("No such file or directory") != std::string::npos);
}

TEST_CASE("step log: a write that fails is kept as the reason the log is incomplete") {
  TempDir dir;
  int calls = 0;
  // Takes 5 bytes, then the disk is full.
  StepLog log({}, [&](int fd, const void* data, std::size_t size) -> ssize_t {
    ++calls;
    if (calls == 1) return ::write(fd, data, std::min<std::size_t>(size, 5));
    errno = ENOSPC;
    return -1;
  });
  std::string error;
  REQUIRE(log.open(dir / "step.1.log", error));
  log.write("0123456789");
  log.write("more");  // not tried: the log is broken already
  log.close();
  CHECK(calls == 2);
  CHECK(log.error() == "the log is incomplete: cannot write '" + (dir / "step.1.log") +
                           "': No space left on device");
  CHECK(read_file(dir / "step.1.log") == "01234");
}
