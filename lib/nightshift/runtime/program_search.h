// ProgramSearch: finds the file a step's program name means on the step's own
// PATH (posix_spawnp would search the daemon's), and remembers what it found
// for the rest of the run, as a shell's hash table does: searching a long PATH
// is a stat(2) per entry per step, most of the daemon's file system calls on a
// run of many small steps.
//
// What a run sees when programs are installed or removed while it goes on
// (README.md, "Finding a step's program"): the first step of a run that uses a
// name searches PATH; later steps of that run with the same name, PATH and
// workdir use the file found then, without a search. When that file can no
// longer be executed (the spawn fails with ENOENT or EACCES: removed, moved,
// made non-executable), the runner forgets it and searches once more, as bash
// does when a hashed file is gone. A new run searches afresh, so it sees a
// program installed since, also one earlier on PATH than the one remembered.
#pragma once

#include "nightshift/runtime/step_runner.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace nightshift {

class ProgramSearch {
 public:
  struct Found {
    std::string path;         // what to hand to posix_spawn
    int error = 0;            // errno when nothing runnable was found
    bool remembered = false;  // from an earlier search of this run, not searched now
  };

  // Runs of the last this many (run, name, PATH, workdir) keys are remembered;
  // older ones are dropped first, so the memory is bounded whatever runs.
  explicit ProgramSearch(std::size_t capacity = 256) : capacity_(capacity) {}

  // The file to execute for step.argv[0]: a name with a slash as it is (from
  // the workdir when relative, where the child execs); otherwise the first
  // regular, executable file of that name on the step's PATH (the env's, or
  // /bin:/usr/bin without one), relative entries taken from the workdir.
  // EACCES when only non-executable files matched, as execvp reports.
  // Thread-safe.
  Found find(const StepInvocation& step);

  // Drops what find() remembered for the step, so the next find() searches.
  void forget(const StepInvocation& step);

  // Searches PATH without remembering (what find() does on a miss).
  static Found search(const StepInvocation& step);

 private:
  static std::string key(const StepInvocation& step);

  const std::size_t capacity_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> paths_;  // key -> the file found
  std::deque<std::string> order_;                       // keys, oldest first
};

}  // namespace nightshift
