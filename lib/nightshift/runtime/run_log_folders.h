// The run log folders of a log_dir: {log_dir}/{job}/{run_id}/, as the executor
// makes them. Read at start (a store started afresh numbers its runs past
// them) and by retention (which removes old ones).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace nightshift {

// Calls `visit` with each folder whose name is a run id, job by job, until it
// returns false. Names that are not run ids, and what cannot be read, are
// passed over (the executor says why when it cannot make a run's folder).
void for_each_run_log_folder(
    const std::string& log_dir,
    const std::function<bool(const std::filesystem::path& folder, std::int64_t run_id)>& visit);

// The highest run id that has a folder, 0 when none. A store started afresh
// under a kept log_dir gives its runs ids above it
// (RunStore::skip_run_ids_through), so no new run meets an older run's
// folder, which it would have to refuse.
std::int64_t highest_logged_run_id(const std::string& log_dir);

}  // namespace nightshift
