#include "nightshift/job_set.h"

#include "nightshift/edit_distance.h"
#include "nightshift/job_loader.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <stdexcept>
#include <thread>

namespace nightshift {
namespace {

std::vector<std::string_view> keys_of(const auto& map) {
  std::vector<std::string_view> keys;
  for (const auto& [name, value] : map) keys.push_back(name);
  return keys;
}

// The checks that need the daemon's config: the names steps refer to exist.
void check_against_config(const Job& job, const ConfigSpec& config, Diagnostics& errors) {
  for (const StepSpec& step : job.spec.steps) {
    if (step.connection && !config.connections.contains(step.connection->value)) {
      errors.push_back({step.connection->pos,
                        "unknown connection '" + step.connection->value + "'" +
                            did_you_mean(step.connection->value, keys_of(config.connections))});
    }
    if (step.pool && !config.pools.contains(step.pool->value)) {
      errors.push_back({step.pool->pos, "unknown pool '" + step.pool->value + "'" +
                                            did_you_mean(step.pool->value, keys_of(config.pools))});
    }
  }
  for (const auto& hook : job.spec.notify) {
    if (!config.notify.contains(hook.value))
      errors.push_back({hook.pos, "unknown webhook '" + hook.value + "'" +
                                      did_you_mean(hook.value, keys_of(config.notify))});
  }
}

// Below this many files a share, a thread costs more than it saves.
constexpr std::size_t kFilesPerShare = 64;

struct Share {
  std::vector<Job> jobs;
  Diagnostics errors;
};

Share load_share(const std::vector<std::string>& files, std::size_t begin, std::size_t end) {
  Share share;
  for (std::size_t i = begin; i < end; ++i)
    if (auto job = load_job_file(files[i], share.errors)) share.jobs.push_back(std::move(*job));
  return share;
}

}  // namespace

void throw_exception_from_error(const Diagnostics& errors, const boost::source_location&) {
  throw std::invalid_argument(errors.empty() ? "invalid job set" : errors.front().str());
}

JobSetResult JobSet::load(const std::string& dir, const ConfigSpec* config) {
  Diagnostics errors;
  std::vector<std::string> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() != ".yaml" && path.extension() != ".yml") continue;
    if (path.filename().string().starts_with(".")) continue;  // editor swap and backup files
    files.push_back(path.string());
  }
  if (ec) {
    errors.push_back({SourcePos{dir, 0, 0}, "cannot read jobs directory: " + ec.message()});
    return errors;
  }
  std::sort(files.begin(), files.end());
  // Parsing a file is CPU work (yaml-cpp, ~0.15 ms for ten steps), and a start
  // with 10,000 files waits for all of it: the files are split into contiguous
  // shares, one a core, and their jobs and errors joined in file order, so the
  // result is the same as one pass would give.
  std::size_t shares = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  shares = std::clamp<std::size_t>(files.size() / kFilesPerShare, 1, shares);
  std::vector<std::future<Share>> pending;
  for (std::size_t s = 1; s < shares; ++s)
    pending.push_back(std::async(std::launch::async, load_share, std::cref(files),
                                 files.size() * s / shares, files.size() * (s + 1) / shares));
  Share first = load_share(files, 0, files.size() / shares);
  std::vector<Job> jobs = std::move(first.jobs);
  errors = std::move(first.errors);
  for (auto& future : pending) {
    Share share = future.get();
    std::move(share.jobs.begin(), share.jobs.end(), std::back_inserter(jobs));
    errors.insert(errors.end(), std::make_move_iterator(share.errors.begin()),
                  std::make_move_iterator(share.errors.end()));
  }
  auto set = from_jobs(std::move(jobs), config);
  if (!errors.empty()) {
    if (!set) errors.insert(errors.end(), set.error().begin(), set.error().end());
    return errors;
  }
  return set;
}

JobSetResult JobSet::from_jobs(std::vector<Job> jobs, const ConfigSpec* config) {
  Diagnostics errors;
  std::map<std::string, const Job*> by_name;
  for (const Job& job : jobs) {
    auto [it, inserted] = by_name.emplace(job.spec.name, &job);
    if (!inserted) {
      errors.push_back({job.spec.pos, "duplicate job name '" + job.spec.name +
                                          "' (also defined at " + it->second->spec.pos.str() +
                                          ")"});
    }
    if (config) check_against_config(job, *config, errors);
  }
  if (!errors.empty()) return errors;

  auto set = std::make_shared<JobSet>();
  for (Job& job : jobs) set->jobs_.push_back(std::make_shared<const Job>(std::move(job)));
  std::sort(set->jobs_.begin(), set->jobs_.end(),
            [](const auto& a, const auto& b) { return a->spec.name < b->spec.name; });
  return std::shared_ptr<const JobSet>(std::move(set));
}

std::shared_ptr<const Job> JobSet::find(std::string_view name) const {
  auto it =
      std::lower_bound(jobs_.begin(), jobs_.end(), name,
                       [](const auto& job, std::string_view n) { return job->spec.name < n; });
  if (it != jobs_.end() && (*it)->spec.name == name) return *it;
  return nullptr;
}

}  // namespace nightshift
