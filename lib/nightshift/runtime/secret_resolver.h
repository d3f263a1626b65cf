// SecretResolver: replaces ${secret:NAME} (the file NAME in secrets_dir) and
// ${env:NAME} (the daemon's environment) in a config or env value, at the moment
// a step starts. Errors name the reference, never a value.
#pragma once

#include "nightshift/text_error.h"

#include <string>
#include <string_view>

namespace nightshift {

class SecretResolver {
 public:
  explicit SecretResolver(std::string secrets_dir) : secrets_dir_(std::move(secrets_dir)) {}

  // Any other "$" text is kept as it is. A secret file's trailing newlines are
  // dropped (editors add one).
  TextResult<std::string> resolve(std::string_view text) const;

 private:
  std::string secrets_dir_;
};

}  // namespace nightshift
