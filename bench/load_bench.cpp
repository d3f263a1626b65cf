// Benchmark: load and validate 1,000 job files of 10 steps each (a DAG of two
// layers), as `nightshift check` and a reload do. Prints the median of 5 runs.
#include "nightshift/job_set.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;

namespace {

void write_jobs(const fs::path& dir, int jobs, int steps) {
  fs::create_directories(dir);
  for (int j = 0; j < jobs; ++j) {
    std::ofstream out(dir / ("job" + std::to_string(j) + ".yaml"));
    out << "job: job" << j << "\ndescription: generated\nschedule: \"" << j % 60
        << " 0 * * *\"\ntimezone: Asia/Tokyo\ndefaults: { retries: 2, retry_delay: 30s, timeout: "
           "1h }\nsteps:\n";
    for (int s = 0; s < steps; ++s) {
      out << "  step" << s << ":\n    command: [/bin/echo, \"{{ date }}\", \"{{ run_id }}\"]\n";
      if (s >= steps / 2)
        out << "    depends_on: [step" << s - steps / 2 << ", step" << (s + 1) % (steps / 2)
            << "]\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = argc > 1 ? std::atoi(argv[1]) : 1000;
  int steps = 10;
  fs::path dir = fs::temp_directory_path() / "nightshift-load-bench";
  fs::remove_all(dir);
  write_jobs(dir, jobs, steps);

  std::vector<double> ms;
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    auto set = nightshift::JobSet::load(dir.string());
    auto end = std::chrono::steady_clock::now();
    if (!set || (*set)->jobs().size() != static_cast<std::size_t>(jobs)) {
      std::cerr << "load failed\n";
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(ms.begin(), ms.end());
  std::cout << "load+validate " << jobs << " jobs x " << steps << " steps: median " << ms[2]
            << " ms (" << ms[2] * 1000 / jobs << " us/job), min " << ms[0] << " ms\n";
  fs::remove_all(dir);
}
