#include "nightshift/server/forecast_json.h"

#include <boost/json/array.hpp>

#include <chrono>

namespace nightshift {
namespace json = boost::json;

namespace {

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

json::array names(const std::vector<std::string>& list) {
  json::array out;
  for (const std::string& name : list) out.emplace_back(name);
  return out;
}

}  // namespace

json::object forecast_json(const Job& job, const RunForecast& forecast,
                           const std::map<std::string, Duration>& expected, int workers,
                           std::optional<Instant> next_run) {
  json::array waves;
  for (const auto& wave : forecast.waves) waves.push_back(names(wave));
  json::object per_step;
  for (std::size_t i = 0; i < job.dag.size(); ++i) {
    auto found = expected.find(std::string(job.dag.name(i)));
    if (found != expected.end()) per_step[job.dag.name(i)] = seconds(found->second);
  }
  json::object out{
      {"job", job.spec.name},
      {"waves", std::move(waves)},
      {"critical_path", names(forecast.critical_path)},
      {"critical_path_seconds", seconds(forecast.critical_path_length)},
      {"expected_makespan_seconds", seconds(forecast.makespan)},
      {"workers", workers},
      {"expected_seconds", std::move(per_step)},
      {"steps_without_history", names(forecast.without_history)},
  };
  if (next_run) {
    out["next_run"] = format_iso8601(*next_run, job.spec.zone);
    auto end = *next_run + std::chrono::duration_cast<Instant::duration>(forecast.makespan);
    out["expected_end"] = format_iso8601(end, job.spec.zone);
  }
  return out;
}

}  // namespace nightshift
