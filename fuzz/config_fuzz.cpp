// libFuzzer target: any bytes as the config file. The loader must never crash
// or hang, and a refused file must say why, at a real position.
#include "nightshift/config_loader.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace nightshift;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config =
      parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  if (config) return 0;
  if (config.error().empty()) std::abort();
  for (const Diagnostic& e : config.error())
    if (e.pos.line < 1 || e.pos.column < 1 || e.message.empty()) std::abort();
  return 0;
}
