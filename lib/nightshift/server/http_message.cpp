#include "nightshift/server/http_message.h"

namespace nightshift {

const std::string& HttpRequest::header(const std::string& lower_case_name) const {
  static const std::string kAbsent;
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? kAbsent : it->second;
}

}  // namespace nightshift
