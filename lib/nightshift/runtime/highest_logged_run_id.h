// highest_logged_run_id: the highest run id that has a log folder in log_dir
// ({log_dir}/{job}/{run_id}/). A store started afresh under a kept log_dir
// gives its runs ids above it (RunStore::skip_run_ids_through), so no new run
// meets an older run's folder, which it would have to refuse.
#pragma once

#include <cstdint>
#include <string>

namespace nightshift {

// 0 when there is none (or log_dir cannot be read: the executor then says why
// when it makes a run's folder). Names that are not run ids are passed over.
std::int64_t highest_logged_run_id(const std::string& log_dir);

}  // namespace nightshift
