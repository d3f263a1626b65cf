#include "nightshift/runtime/secret_resolver.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nightshift {
namespace {

bool is_reference_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;  // no '/': a secret name never leaves secrets_dir
  }
  return true;
}

}  // namespace

TextResult<std::string> SecretResolver::resolve(std::string_view text,
                                                std::vector<ResolvedReference>* resolved) const {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = text.find("${", pos);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find('}', start);
    std::string_view inner = end == std::string_view::npos
                                 ? std::string_view()
                                 : text.substr(start + 2, end - start - 2);
    bool is_secret = inner.starts_with("secret:");
    bool is_env = inner.starts_with("env:");
    std::string_view name = inner.substr(inner.find(':') + 1);
    if ((!is_secret && !is_env) || !is_reference_name(name)) {
      out.append(text.substr(pos, start + 2 - pos));  // not a reference: plain text
      pos = start + 2;
      continue;
    }
    out.append(text.substr(pos, start - pos));
    if (is_env) {
      const char* value = std::getenv(std::string(name).c_str());
      if (!value)
        return TextError{"environment variable '" + std::string(name) + "' is not set", start};
      out.append(value);
      if (resolved) resolved->push_back({std::string(inner), value});
    } else {
      if (secrets_dir_.empty())
        return TextError{
            "secret '" + std::string(name) + "' is used but no secrets_dir is configured", start};
      std::string path = secrets_dir_ + "/" + std::string(name);
      std::ifstream in(path, std::ios::binary);
      if (!in)
        return TextError{
            "secret '" + std::string(name) + "' not found (no readable file " + path + ")", start};
      std::ostringstream value;
      value << in.rdbuf();
      std::string secret = value.str();
      while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
      out.append(secret);
      if (resolved) resolved->push_back({std::string(inner), std::move(secret)});
    }
    pos = end + 1;
  }
  out.append(text.substr(pos));
  return TextResult<std::string>(boost::system::in_place_value, std::move(out));
}

}  // namespace nightshift
