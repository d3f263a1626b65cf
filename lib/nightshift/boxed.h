// Boxed: a string or container that most specs leave empty, kept on the heap
// only when it is not. Empty it is one null pointer (8 bytes) where a
// std::string takes 32 and a std::vector 24, inline in every StepSpec of every
// job a daemon keeps. It reads like the value (range-for, size, empty, ==, a
// const reference by conversion), so most callers do not change;
// BoxedOptional is the same for values that may be unset.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace nightshift {

template <class T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(T value) { set(std::move(value)); }
  Boxed(const Boxed& other) : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& other) {
    if (this != &other) value_ = other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(T value) {
    set(std::move(value));
    return *this;
  }

  const T& get() const { return value_ ? *value_ : empty_value(); }
  operator const T&() const { return get(); }

  bool empty() const { return !value_; }
  auto size() const { return get().size(); }
  auto begin() const { return get().begin(); }
  auto end() const { return get().end(); }
  decltype(auto) operator[](std::size_t i) const { return get()[i]; }

  friend bool operator==(const Boxed& a, const Boxed& b) { return a.get() == b.get(); }
  template <class U>
    requires(!std::is_same_v<U, Boxed>)
  friend bool operator==(const Boxed& a, const U& value) {
    return a.get() == value;
  }

 private:
  // An empty value is never boxed, so empty() is one pointer test.
  void set(T value) {
    if (value.empty())
      value_.reset();
    else
      value_ = std::make_unique<T>(std::move(value));
  }
  static const T& empty_value() {
    static const T empty;
    return empty;
  }

  std::unique_ptr<T> value_;
};

}  // namespace nightshift
