#include "nightshift/edit_distance.h"

#include <catch2/catch.hpp>

using namespace nightshift;

TEST_CASE("edit_distance: classic cases") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("comand", "command") == 1);
}

TEST_CASE("edit_distance: suggestions only for likely typos") {
  std::vector<std::string_view> keys = {"command", "shell", "sql", "depends_on"};
  CHECK(nearest_name("comand", keys) == "command");
  CHECK(nearest_name("depend_on", keys) == "depends_on");
  CHECK(nearest_name("sq", keys) == "sql");
  CHECK_FALSE(nearest_name("frobnicate", keys));
  CHECK(did_you_mean("shel", keys) == " (did you mean 'shell'?)");
  CHECK(did_you_mean("xyz", keys).empty());
}
