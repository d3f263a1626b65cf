// WebAsset: one static file of the dashboard as the API serves it. The bytes
// live as long as the program (built into the binary, or literals in tests).
#pragma once

#include <string_view>

namespace nightshift {

struct WebAsset {
  std::string_view path;          // relative to web/: "index.html", "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted, from the content: "\"3f2a...\""
  std::string_view body;
};

}  // namespace nightshift
