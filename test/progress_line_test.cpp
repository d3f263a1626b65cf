#include "progress_line.h"

#include <catch2/catch.hpp>

using namespace nightshift::cli;
using std::chrono::milliseconds;

TEST_CASE("progress line: counts follow each step's latest status") {
  ProgressLine line(false);
  CHECK(line.text(milliseconds(0)).empty());
  line.set("a", "pending");
  line.set("b", "pending");
  line.set("c", "pending");
  CHECK(line.text(milliseconds(0)).starts_with("0/3 steps done, 0 running, 0 failed"));
  line.set("a", "running");
  line.set("b", "running");
  CHECK(line.text(milliseconds(0)).starts_with("0/3 steps done, 2 running, 0 failed"));
  line.set("a", "failed");
  line.set("c", "upstream_failed");
  CHECK(line.text(milliseconds(0)).starts_with("2/3 steps done, 1 running, 2 failed"));
  // A retried step goes back to pending, then runs again: counted once, as it is now.
  line.set("a", "pending");
  line.set("a", "running");
  line.set("b", "succeeded");
  CHECK(line.text(milliseconds(0)).starts_with("2/3 steps done, 1 running, 1 failed"));
  line.set("a", "succeeded");
  CHECK(line.text(milliseconds(0)).starts_with("3/3 steps done, 0 running, 1 failed"));
  CHECK(*line.status("a") == "succeeded");
  CHECK(line.status("z") == nullptr);
}
