// BoxedOptional: an optional whose value lives on the heap, for the rarely set
// fields of a spec. Empty it is one null pointer (8 bytes) where std::optional
// holds the whole value inline: a StepSpec's pool, connection, script, workdir
// and timeouts cost a plain step ~200 bytes that way, and a daemon keeps every
// step of every job. It reads like std::optional, so the callers do not change.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace nightshift {

template <class T>
class BoxedOptional {
 public:
  BoxedOptional() = default;
  BoxedOptional(std::nullopt_t) {}
  BoxedOptional(T value) : value_(std::make_unique<T>(std::move(value))) {}
  BoxedOptional(std::optional<T> value) {
    if (value) value_ = std::make_unique<T>(std::move(*value));
  }
  BoxedOptional(const BoxedOptional& other)
      : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  BoxedOptional(BoxedOptional&&) noexcept = default;
  BoxedOptional& operator=(const BoxedOptional& other) {
    if (this != &other) value_ = other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
    return *this;
  }
  BoxedOptional& operator=(BoxedOptional&&) noexcept = default;

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  const T& operator*() const { return *value_; }
  T& operator*() { return *value_; }
  const T* operator->() const { return value_.get(); }
  T* operator->() { return value_.get(); }
  const T& value() const {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  template <class U>
  T value_or(U&& fallback) const {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  void reset() { value_.reset(); }

  friend bool operator==(const BoxedOptional& a, std::nullopt_t) { return !a.value_; }
  friend bool operator==(const BoxedOptional& a, const BoxedOptional& b) {
    if (!a.value_ || !b.value_) return !a.value_ && !b.value_;
    return *a.value_ == *b.value_;
  }
  // As std::optional: equal to a value when it holds one equal to it.
  template <class U>
    requires(!std::is_same_v<U, BoxedOptional> && !std::is_same_v<U, std::nullopt_t>)
  friend bool operator==(const BoxedOptional& a, const U& value) {
    return a.value_ && *a.value_ == value;
  }

 private:
  std::unique_ptr<T> value_;
};

}  // namespace nightshift
