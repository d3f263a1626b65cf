// libFuzzer target: any bytes as a job file. The loader must never crash, hang
// or accept a job that breaks the model's invariants.
#include "nightshift/job_loader.h"
#include "nightshift/utf8.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace nightshift;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Diagnostics errors;
  auto job =
      parse_job(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml", errors);
  if (!job) {
    if (errors.empty()) std::abort();  // a refused file must say why
    for (const auto& e : errors)
      if (e.pos.line < 1 || e.pos.column < 1 || e.message.empty()) std::abort();
    return 0;
  }
  if (!errors.empty()) std::abort();
  // What a loaded job says reaches JSON answers, argv and environments: it is
  // UTF-8 without NUL, whatever bytes the file had.
  auto check_text = [](std::string_view text) {
    if (text.find('\0') != std::string_view::npos ||
        invalid_utf8_offset(text) != std::string_view::npos)
      std::abort();
  };
  check_text(job->spec.name);
  check_text(job->spec.description);
  check_text(job->spec.timezone);
  for (const EnvVar& var : job->spec.env) check_text(var.value.source());
  for (const StepSpec& step : job->spec.steps) {
    check_text(step.name);
    check_text(step.description.get());
    for (const Template& arg : step.command) check_text(arg.source());
    if (step.script) check_text(step.script->source());
    for (const EnvVar& var : step.env) check_text(var.value.source());
    if (step.workdir) check_text(*step.workdir);
    if (step.timeout && step.timeout->count() <= 0) std::abort();
  }
  if (job->spec.defaults.timeout && job->spec.defaults.timeout->count() <= 0) std::abort();
  // Every step comes after all of its dependencies in the topological order.
  const Dag& dag = job->dag;
  std::vector<int> position(dag.size(), -1);
  int next = 0;
  for (std::size_t i : dag.topological_order()) position[i] = next++;
  if (static_cast<std::size_t>(next) != dag.size()) std::abort();
  for (std::size_t i = 0; i < dag.size(); ++i)
    for (std::size_t up : dag.upstream(i))
      if (position[up] >= position[i] || dag.depth(up) >= dag.depth(i)) std::abort();
  // Templates that loaded render without surprises.
  TemplateContext context{date::year_month_day{date::year{2026}, date::month{3}, date::day{8}},
                          "2026-03-08T00:10:00+09:00",
                          42,
                          job->spec.name,
                          "s",
                          1};
  for (const StepSpec& step : job->spec.steps) {
    for (const Template& arg : step.command) (void)arg.render(context);
    if (step.script) (void)step.script->render(context);
  }
  return 0;
}
