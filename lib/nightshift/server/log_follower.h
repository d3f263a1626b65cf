// LogFollower: a BodyStream over a step's log file that delivers what the step
// writes as it writes it, and ends once its attempt has ended (`follow=true`).
#pragma once

#include "nightshift/runtime/run_store.h"
#include "nightshift/server/http_message.h"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

namespace nightshift {

// Reads from `offset` on; checks the store for the attempt's end between
// reads. Both block a little: `executor` should not be an io thread's (the
// daemon gives it the API's pool).
std::shared_ptr<BodyStream> make_log_follower(boost::asio::any_io_executor executor,
                                              RunReader& store,
                                              std::string path, std::int64_t run_id,
                                              std::string step, int attempt, std::size_t offset);

}  // namespace nightshift
