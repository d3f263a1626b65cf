#include "nightshift/plan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace nightshift;

namespace {

using Names = std::vector<std::string>;

Dag make_dag(std::vector<Dag::Node> nodes) {
  auto result = Dag::build(std::move(nodes));
  REQUIRE(std::holds_alternative<Dag>(result));
  return std::get<Dag>(std::move(result));
}

std::vector<RunIf> all_succeeded(const Dag& dag) {
  return std::vector<RunIf>(dag.size(), RunIf::all_succeeded);
}

std::vector<RunIf> with_all_done(const Dag& dag, const Names& steps) {
  std::vector<RunIf> run_if = all_succeeded(dag);
  for (const auto& name : steps) run_if[*dag.find(name)] = RunIf::all_done;
  return run_if;
}

Names take(Plan& plan, const Dag& dag) {
  Names names;
  for (std::size_t step : plan.take_ready()) names.emplace_back(dag.name(step));
  return names;
}

void finish(Plan& plan, const Dag& dag, const std::string& name, StepState outcome) {
  plan.step_finished(*dag.find(name), outcome);
}

StepState state(const Plan& plan, const Dag& dag, const std::string& name) {
  return plan.state(*dag.find(name));
}

}  // namespace

TEST_CASE("plan: linear chain runs one step after another") {
  Dag dag = make_dag({{"extract", {}}, {"aggregate", {"extract"}}, {"load", {"aggregate"}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(state(plan, dag, "extract") == StepState::ready);
  CHECK(state(plan, dag, "aggregate") == StepState::pending);
  CHECK(plan.status() == RunStatus::running);

  CHECK(take(plan, dag) == Names{"extract"});
  CHECK(state(plan, dag, "extract") == StepState::running);
  CHECK(plan.running_count() == 1);
  CHECK(take(plan, dag).empty());

  finish(plan, dag, "extract", StepState::succeeded);
  CHECK(plan.running_count() == 0);
  CHECK_FALSE(plan.done());
  CHECK(take(plan, dag) == Names{"aggregate"});
  finish(plan, dag, "aggregate", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"load"});
  CHECK_FALSE(plan.done());
  finish(plan, dag, "load", StepState::succeeded);

  CHECK(take(plan, dag).empty());
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::succeeded);
}

TEST_CASE("plan: diamond joins after both branches") {
  Dag dag = make_dag({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"a"});
  finish(plan, dag, "a", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"b", "c"});
  CHECK(plan.running_count() == 2);
  finish(plan, dag, "c", StepState::succeeded);
  CHECK(take(plan, dag).empty());
  CHECK(state(plan, dag, "d") == StepState::pending);
  finish(plan, dag, "b", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"d"});
  finish(plan, dag, "d", StepState::succeeded);
  CHECK(plan.status() == RunStatus::succeeded);
}

TEST_CASE("plan: take_ready answers in topological order") {
  // z is declared first but depends on y; both become ready from one event.
  Dag dag = make_dag({{"z", {"root", "y"}}, {"root", {}}, {"y", {"root"}}, {"x", {"root"}}});
  Plan plan(dag, with_all_done(dag, {"z"}));
  CHECK(take(plan, dag) == Names{"root"});
  finish(plan, dag, "root", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"y", "x"});
  finish(plan, dag, "x", StepState::succeeded);
  finish(plan, dag, "y", StepState::failed);
  CHECK(take(plan, dag) == Names{"z"});
}

TEST_CASE("plan: an independent branch goes on after a failure") {
  Dag dag = make_dag({{"a", {}}, {"b", {"a"}}, {"x", {}}, {"y", {"x"}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"a", "x"});
  finish(plan, dag, "a", StepState::failed);
  CHECK(state(plan, dag, "b") == StepState::upstream_failed);
  CHECK(take(plan, dag).empty());
  CHECK_FALSE(plan.done());

  finish(plan, dag, "x", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"y"});
  CHECK(plan.status() == RunStatus::running);
  finish(plan, dag, "y", StepState::succeeded);
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::failed);
  CHECK(state(plan, dag, "a") == StepState::failed);
  CHECK(state(plan, dag, "y") == StepState::succeeded);
}

TEST_CASE("plan: upstream_failed propagates through every level at once") {
  Dag dag = make_dag({
      {"a", {}},
      {"b", {"a"}},
      {"c", {"b"}},
      {"d", {"c"}},
      {"slow", {}},
      {"e", {"d", "slow"}},  // does not wait for slow to learn its fate
  });
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"a", "slow"});
  finish(plan, dag, "a", StepState::timed_out);
  for (const char* name : {"b", "c", "d", "e"}) {
    CAPTURE(name);
    CHECK(state(plan, dag, name) == StepState::upstream_failed);
  }
  CHECK(state(plan, dag, "a") == StepState::timed_out);
  CHECK_FALSE(plan.done());
  CHECK(plan.status() == RunStatus::running);
  finish(plan, dag, "slow", StepState::succeeded);
  CHECK(take(plan, dag).empty());
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::failed);
}

TEST_CASE("plan: an all_succeeded step fails at the first failed input") {
  Dag dag = make_dag({{"a", {}}, {"b", {}}, {"join", {"a", "b"}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"a", "b"});
  finish(plan, dag, "b", StepState::cancelled);
  CHECK(state(plan, dag, "join") == StepState::upstream_failed);
  finish(plan, dag, "a", StepState::succeeded);
  CHECK(take(plan, dag).empty());
  CHECK(plan.status() == RunStatus::failed);
}

TEST_CASE("plan: run_if all_done runs after a failure or a timeout") {
  auto outcome =
      GENERATE(StepState::failed, StepState::timed_out, StepState::cancelled, StepState::succeeded);
  CAPTURE(to_string(outcome));
  Dag dag = make_dag({{"load", {}}, {"notify", {"load"}}});
  Plan plan(dag, with_all_done(dag, {"notify"}));
  CHECK(take(plan, dag) == Names{"load"});
  finish(plan, dag, "load", outcome);
  CHECK(take(plan, dag) == Names{"notify"});
  finish(plan, dag, "notify", StepState::succeeded);
  CHECK(plan.done());
  CHECK(plan.status() ==
        (outcome == StepState::succeeded ? RunStatus::succeeded : RunStatus::failed));
}

TEST_CASE("plan: run_if all_done runs after upstream_failed") {
  Dag dag = make_dag({{"extract", {}}, {"load", {"extract"}}, {"notify", {"load"}}});
  Plan plan(dag, with_all_done(dag, {"notify"}));
  CHECK(take(plan, dag) == Names{"extract"});
  finish(plan, dag, "extract", StepState::failed);
  CHECK(state(plan, dag, "load") == StepState::upstream_failed);
  CHECK(state(plan, dag, "notify") == StepState::ready);
  CHECK(take(plan, dag) == Names{"notify"});
  finish(plan, dag, "notify", StepState::succeeded);
  CHECK(plan.status() == RunStatus::failed);
}

TEST_CASE("plan: run_if all_done waits for every input") {
  Dag dag = make_dag({{"a", {}}, {"b", {}}, {"notify", {"a", "b"}}, {"after", {"notify"}}});
  Plan plan(dag, with_all_done(dag, {"notify"}));
  CHECK(take(plan, dag) == Names{"a", "b"});
  finish(plan, dag, "a", StepState::failed);
  CHECK(state(plan, dag, "notify") == StepState::pending);
  CHECK(take(plan, dag).empty());
  finish(plan, dag, "b", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"notify"});
  // A step after the all_done one runs iff the all_done step itself succeeded.
  finish(plan, dag, "notify", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"after"});
  finish(plan, dag, "after", StepState::succeeded);
  CHECK(plan.status() == RunStatus::failed);
}

TEST_CASE("plan: rerun --from carries over everything outside the closure") {
  Dag dag = make_dag({
      {"extract_a", {}},
      {"extract_b", {}},
      {"aggregate", {"extract_a", "extract_b"}},
      {"load", {"aggregate"}},
      {"notify", {"load"}},
      {"side", {"extract_a"}},
  });
  std::vector<bool> carried = dag.downstream_closure(*dag.find("aggregate"));
  carried.flip();
  Plan plan(dag, all_succeeded(dag), carried);
  for (const char* name : {"extract_a", "extract_b", "side"}) {
    CAPTURE(name);
    CHECK(plan.carried_over(*dag.find(name)));
    CHECK(state(plan, dag, name) == StepState::succeeded);
  }
  CHECK_FALSE(plan.carried_over(*dag.find("aggregate")));

  CHECK(take(plan, dag) == Names{"aggregate"});
  finish(plan, dag, "aggregate", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"load"});
  finish(plan, dag, "load", StepState::succeeded);
  CHECK(take(plan, dag) == Names{"notify"});
  finish(plan, dag, "notify", StepState::succeeded);
  CHECK(take(plan, dag).empty());
  CHECK(plan.status() == RunStatus::succeeded);
}

TEST_CASE("plan: a rerun whose rerun part fails has failed") {
  Dag dag = make_dag({{"extract", {}}, {"aggregate", {"extract"}}, {"load", {"aggregate"}}});
  Plan plan(dag, all_succeeded(dag), {true, false, false});
  CHECK(take(plan, dag) == Names{"aggregate"});
  finish(plan, dag, "aggregate", StepState::failed);
  CHECK(state(plan, dag, "load") == StepState::upstream_failed);
  CHECK(state(plan, dag, "extract") == StepState::succeeded);
  CHECK(plan.status() == RunStatus::failed);
}

TEST_CASE("plan: every step carried over means done and succeeded at once") {
  Dag dag = make_dag({{"a", {}}, {"b", {"a"}}});
  Plan plan(dag, all_succeeded(dag), {true, true});
  CHECK(take(plan, dag).empty());
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::succeeded);
}

TEST_CASE("plan: an empty job is done and succeeded") {
  Dag dag = make_dag({});
  Plan plan(dag, {});
  CHECK(take(plan, dag).empty());
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::succeeded);
}

TEST_CASE("plan: cancel leaves running steps running until they report") {
  Dag dag = make_dag({{"a", {}}, {"b", {}}, {"after_a", {"a"}}, {"after_b", {"b"}}});
  Plan plan(dag, with_all_done(dag, {"after_b"}));
  CHECK(take(plan, dag) == Names{"a", "b"});
  finish(plan, dag, "a", StepState::succeeded);
  CHECK(state(plan, dag, "after_a") == StepState::ready);

  plan.cancel();
  CHECK(state(plan, dag, "after_a") == StepState::cancelled);  // ready but never taken
  CHECK(state(plan, dag, "after_b") == StepState::cancelled);
  CHECK(state(plan, dag, "a") == StepState::succeeded);
  CHECK(state(plan, dag, "b") == StepState::running);
  CHECK(plan.running_count() == 1);
  CHECK_FALSE(plan.done());
  CHECK(plan.status() == RunStatus::running);
  CHECK(take(plan, dag).empty());

  finish(plan, dag, "b", StepState::cancelled);
  CHECK(take(plan, dag).empty());  // after_b is all_done, yet nothing starts after cancel
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::cancelled);
}

TEST_CASE("plan: cancel before anything started") {
  Dag dag = make_dag({{"a", {}}, {"b", {"a"}}});
  Plan plan(dag, all_succeeded(dag));
  plan.cancel();
  CHECK(take(plan, dag).empty());
  CHECK(state(plan, dag, "a") == StepState::cancelled);
  CHECK(state(plan, dag, "b") == StepState::cancelled);
  CHECK(plan.done());
  CHECK(plan.status() == RunStatus::cancelled);
}

TEST_CASE("plan: status in every ending") {
  Dag dag = make_dag({{"a", {}}, {"b", {}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(plan.status() == RunStatus::running);
  CHECK(take(plan, dag) == Names{"a", "b"});
  finish(plan, dag, "a", StepState::succeeded);

  SECTION("every step succeeded") {
    finish(plan, dag, "b", StepState::succeeded);
    CHECK(plan.status() == RunStatus::succeeded);
  }
  SECTION("a step failed") {
    finish(plan, dag, "b", StepState::failed);
    CHECK(plan.status() == RunStatus::failed);
  }
  SECTION("a step timed out") {
    finish(plan, dag, "b", StepState::timed_out);
    CHECK(plan.status() == RunStatus::failed);
  }
  SECTION("a step was cancelled alone, not the run") {
    finish(plan, dag, "b", StepState::cancelled);
    CHECK(plan.status() == RunStatus::failed);
  }
  SECTION("the run was cancelled") {
    plan.cancel();
    CHECK(plan.status() == RunStatus::running);
    finish(plan, dag, "b", StepState::cancelled);
    CHECK(plan.status() == RunStatus::cancelled);
  }
  SECTION("the run was cancelled while its last step failed") {
    plan.cancel();
    finish(plan, dag, "b", StepState::failed);
    CHECK(plan.status() == RunStatus::cancelled);
  }
  SECTION("the run was cancelled but its last step still succeeded") {
    plan.cancel();
    finish(plan, dag, "b", StepState::succeeded);
    CHECK(plan.status() == RunStatus::succeeded);
  }
  SECTION("cancel after the end changes nothing") {
    finish(plan, dag, "b", StepState::failed);
    plan.cancel();
    CHECK(plan.status() == RunStatus::failed);
    CHECK(state(plan, dag, "b") == StepState::failed);
  }
  CHECK(plan.done());
  CHECK(plan.running_count() == 0);
}

TEST_CASE("plan: a failure at the head of a 10,000-step chain") {
  constexpr std::size_t kLength = 10'000;
  std::vector<Dag::Node> nodes(kLength);
  for (std::size_t i = 0; i < kLength; ++i) {
    nodes[i].name = "s" + std::to_string(i);
    if (i > 0) nodes[i].depends_on = {"s" + std::to_string(i - 1)};
  }
  Dag dag = make_dag(std::move(nodes));
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"s0"});
  finish(plan, dag, "s0", StepState::failed);
  CHECK(plan.done());
  CHECK(state(plan, dag, "s9999") == StepState::upstream_failed);
  CHECK(plan.status() == RunStatus::failed);
}

namespace {

// What the plan must satisfy after every event; empty when it does.
std::string broken_invariant(const Dag& dag, const std::vector<RunIf>& run_if, const Plan& plan) {
  bool all_final = true;
  std::size_t running = 0;
  for (std::size_t step = 0; step < dag.size(); ++step) {
    const StepState state = plan.state(step);
    bool inputs_final = true;
    bool inputs_succeeded = true;
    for (std::size_t dep : dag.upstream(step)) {
      inputs_final = inputs_final && is_final(plan.state(dep));
      if (is_final(plan.state(dep)) && plan.state(dep) != StepState::succeeded)
        inputs_succeeded = false;
    }
    const bool strict = run_if[step] == RunIf::all_succeeded;
    const std::string where =
        std::string(dag.name(step)) + " is " + std::string(to_string(state)) + ": ";
    all_final = all_final && is_final(state);
    if (state == StepState::running) ++running;
    if (plan.carried_over(step) && state != StepState::succeeded)
      return where + "carried over but not succeeded";
    if (plan.carried_over(step)) continue;
    switch (state) {
      case StepState::pending:
        if (inputs_final) return where + "every input is final";
        if (strict && !inputs_succeeded) return where + "an input failed";
        break;
      case StepState::ready:
      case StepState::running:
        if (!inputs_final) return where + "an input is not final";
        if (strict && !inputs_succeeded) return where + "an input failed";
        break;
      case StepState::upstream_failed:
        if (!strict || inputs_succeeded) return where + "without cause";
        break;
      default:
        break;
    }
  }
  if (running != plan.running_count()) return "running_count is off";
  if (plan.done() != all_final) return "done() disagrees with the states";
  return {};
}

}  // namespace

TEST_CASE("plan: random DAGs run to a consistent end") {
  constexpr std::size_t kSteps = 200;
  std::mt19937 rng(20240611);
  auto chance = [&rng](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  auto below = [&rng](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  constexpr StepState kOutcomes[] = {
      StepState::succeeded, StepState::succeeded, StepState::succeeded,
      StepState::succeeded, StepState::succeeded, StepState::succeeded,
      StepState::failed,    StepState::timed_out, StepState::cancelled};

  for (int round = 0; round < 60; ++round) {
    CAPTURE(round);
    // A random rank decides who may depend on whom, so file order is not topological.
    std::vector<std::size_t> by_rank(kSteps);
    std::iota(by_rank.begin(), by_rank.end(), 0);
    std::shuffle(by_rank.begin(), by_rank.end(), rng);
    std::vector<Dag::Node> nodes(kSteps);
    for (std::size_t i = 0; i < kSteps; ++i) nodes[i].name = "s" + std::to_string(i);
    for (std::size_t rank = 1; rank < kSteps; ++rank) {
      const std::size_t deps = below(4);
      const std::size_t window = chance(50) ? rank : std::min<std::size_t>(rank, 8);
      for (std::size_t d = 0; d < deps; ++d)
        nodes[by_rank[rank]].depends_on.push_back(nodes[by_rank[rank - 1 - below(window)]].name);
    }
    Dag dag = make_dag(std::move(nodes));

    std::vector<RunIf> run_if(kSteps);
    for (auto& r : run_if) r = chance(25) ? RunIf::all_done : RunIf::all_succeeded;
    std::vector<bool> carried;
    if (round % 3 == 1) {
      carried = dag.downstream_closure(below(kSteps));
      carried.flip();
    } else if (round % 3 == 2) {
      carried.resize(kSteps);
      for (std::size_t i = 0; i < kSteps; ++i) carried[i] = chance(10);
    }
    const int cancel_after = round % 4 == 3 ? static_cast<int>(below(kSteps)) : -1;

    Plan plan(dag, run_if, carried);
    std::vector<std::size_t> rank_of(kSteps);
    for (std::size_t r = 0; r < kSteps; ++r) rank_of[dag.topological_order()[r]] = r;
    std::vector<bool> returned(kSteps, false);
    std::vector<StepState> given(kSteps, StepState::pending);
    std::vector<StepState> first_final(kSteps, StepState::pending);
    std::vector<std::size_t> running;
    bool cancelled = false;
    int events = 0;

    auto check = [&] {
      const std::string broken = broken_invariant(dag, run_if, plan);
      CHECK(broken.empty());
      for (std::size_t step = 0; step < kSteps; ++step) {
        const StepState now = plan.state(step);
        if (first_final[step] == StepState::pending) {
          if (is_final(now)) first_final[step] = now;
        } else if (now != first_final[step]) {
          FAIL_CHECK(dag.name(step) << " left its final state " << to_string(first_final[step]));
        }
      }
      return broken.empty();
    };

    REQUIRE(check());
    for (;;) {
      // Sometimes let several steps finish before asking, as a busy executor does.
      if (running.empty() || chance(70)) {
        const std::vector<std::size_t> ready = plan.take_ready();
        CHECK(std::is_sorted(ready.begin(), ready.end(), [&](std::size_t a, std::size_t b) {
          return rank_of[a] < rank_of[b];
        }));
        for (std::size_t step : ready) {
          REQUIRE_FALSE(returned[step]);
          REQUIRE_FALSE(plan.carried_over(step));
          REQUIRE_FALSE(cancelled);
          for (std::size_t dep : dag.upstream(step)) REQUIRE(is_final(plan.state(dep)));
          returned[step] = true;
          running.push_back(step);
        }
        REQUIRE(check());
      }
      if (running.empty()) break;
      if (events == cancel_after) {
        plan.cancel();
        cancelled = true;
        REQUIRE(check());
      }
      const std::size_t pick = below(running.size());
      const std::size_t step = running[pick];
      running[pick] = running.back();
      running.pop_back();
      given[step] = kOutcomes[below(std::size(kOutcomes))];
      plan.step_finished(step, given[step]);
      ++events;
      REQUIRE(check());
    }

    REQUIRE(plan.done());
    REQUIRE(plan.running_count() == 0);
    bool all_succeeded = true;
    for (std::size_t step = 0; step < kSteps; ++step) {
      CAPTURE(dag.name(step));
      const StepState final_state = plan.state(step);
      REQUIRE(is_final(final_state));
      all_succeeded = all_succeeded && final_state == StepState::succeeded;
      if (returned[step]) {
        CHECK(final_state == given[step]);
      } else if (!plan.carried_over(step)) {
        CHECK((final_state == StepState::upstream_failed ||
               (cancelled && final_state == StepState::cancelled)));
      }
    }
    const RunStatus expected = all_succeeded ? RunStatus::succeeded
                               : cancelled   ? RunStatus::cancelled
                                             : RunStatus::failed;
    CHECK(plan.status() == expected);
  }
}

TEST_CASE("plan: take_decided names each step it failed upstream or cancelled, once") {
  Dag dag = make_dag({{"a", {}}, {"b", {"a"}}, {"c", {"b"}}, {"slow", {}}, {"d", {"slow"}},
                      {"e", {"slow"}}});
  Plan plan(dag, all_succeeded(dag));
  CHECK(take(plan, dag) == Names{"a", "slow"});
  CHECK(plan.take_decided().empty());
  finish(plan, dag, "a", StepState::failed);
  auto names = [&](std::vector<std::size_t> steps) {
    Names out;
    for (std::size_t s : steps) out.emplace_back(dag.name(s));
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(names(plan.take_decided()) == Names{"b", "c"});
  CHECK(plan.take_decided().empty());  // taken once
  plan.cancel();
  CHECK(names(plan.take_decided()) == Names{"d", "e"});  // slow still runs: not decided
  CHECK(state(plan, dag, "slow") == StepState::running);
  CHECK(plan.take_decided().empty());
}
