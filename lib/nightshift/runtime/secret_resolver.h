// SecretResolver: replaces ${secret:NAME} (the file NAME in secrets_dir) and
// ${env:NAME} (the daemon's environment) in a config or env value, at the moment
// a step starts. Errors name the reference, never a value.
#pragma once

#include "nightshift/text_error.h"

#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

// One reference put into a text, and what it was replaced with.
struct ResolvedReference {
  std::string reference;  // "secret:NAME" or "env:NAME"
  std::string value;
};

class SecretResolver {
 public:
  explicit SecretResolver(std::string secrets_dir) : secrets_dir_(std::move(secrets_dir)) {}

  // Any other "$" text is kept as it is. A secret file's trailing newlines are
  // dropped (editors add one). Each reference replaced is also appended to
  // `resolved` when given: the values a step's log must mask.
  TextResult<std::string> resolve(std::string_view text,
                                  std::vector<ResolvedReference>* resolved = nullptr) const;

 private:
  std::string secrets_dir_;
};

}  // namespace nightshift
