#include "nightshift/text_error.h"

#include <stdexcept>

namespace nightshift {

void throw_exception_from_error(const TextError& error, const boost::source_location&) {
  throw std::invalid_argument(error.message);
}

}  // namespace nightshift
