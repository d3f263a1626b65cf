// FileName: the path of a source file, shared by every position in that file.
// A 10-step job holds ~50 positions; each used to carry its own copy of the path
// (heap memory once the path is over 15 bytes), and a daemon holds every
// position of every job for as long as it runs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace nightshift {

class FileName {
 public:
  FileName() = default;
  // Implicit, so SourcePos{"jobs.d/a.yaml", 1, 1} still reads as it did. Each
  // conversion allocates: a reader keeps one FileName and copies that.
  FileName(std::string name)
      : name_(name.empty() ? nullptr : std::make_shared<const std::string>(std::move(name))) {}
  FileName(const char* name) : FileName(std::string(name)) {}
  FileName(std::string_view name) : FileName(std::string(name)) {}

  const std::string& str() const { return name_ ? *name_ : no_file(); }
  operator const std::string&() const { return str(); }
  bool empty() const { return !name_; }

  friend bool operator==(const FileName& a, const FileName& b) {
    return a.name_ == b.name_ || a.str() == b.str();
  }

 private:
  static const std::string& no_file() {
    static const std::string none;
    return none;
  }

  std::shared_ptr<const std::string> name_;  // null for no file
};

}  // namespace nightshift
