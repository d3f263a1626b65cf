// How Catch2 prints the model's result types in failed assertions. Boost's own
// operator<< for result needs both sides printable, which ours are not.
#pragma once

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

namespace Catch {

template <class T, class E>
struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    return r.has_value() ? "result(value)" : "result(error)";
  }
};

}  // namespace Catch
