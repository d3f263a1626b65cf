// TextError: what is wrong in a piece of text (a cron expression, a template, a
// duration) and where, so the loader can turn it into FILE:LINE:COL.
#pragma once

#include <boost/system/result.hpp>

#include <cstddef>
#include <string>

namespace nightshift {

struct TextError {
  std::string message;
  std::size_t offset = 0;  // 0-based offset into the text where the fault starts
};

// The model's results are expected-like: a value or the error that explains it.
template <class T>
using TextResult = boost::system::result<T, TextError>;

// Called by TextResult::value() on an error (found by ADL, as Boost.System asks).
[[noreturn]] void throw_exception_from_error(const TextError& error,
                                             const boost::source_location& where);

}  // namespace nightshift
