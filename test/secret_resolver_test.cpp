#include "nightshift/runtime/secret_resolver.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace nightshift;
namespace fs = std::filesystem;

namespace {

struct SecretsDir {
  fs::path path = fs::temp_directory_path() / ("nightshift-secrets-" + std::to_string(::getpid()));
  SecretsDir() {
    fs::create_directories(path);
    std::ofstream(path / "DB_PASSWORD") << "s3cr3t-value\n";
  }
  ~SecretsDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("secrets: secret files and environment variables are resolved") {
  SecretsDir dir;
  ::setenv("NIGHTSHIFT_TEST_ENV", "from-env", 1);
  SecretResolver resolver(dir.path.string());
  CHECK(resolver.resolve("${secret:DB_PASSWORD}").value() == "s3cr3t-value");
  CHECK(resolver.resolve("a ${env:NIGHTSHIFT_TEST_ENV} b").value() == "a from-env b");
  CHECK(resolver.resolve("plain").value() == "plain");
}

TEST_CASE("secrets: other dollar text is left untouched") {
  SecretResolver resolver("");
  for (const char* text : {"$HOME", "${HOME}", "$${x}", "${secret:}", "${secret:../etc/passwd}",
                           "${file:X}", "cost: $5", "${unclosed"})
    CHECK(resolver.resolve(text).value() == text);
}

TEST_CASE("secrets: errors name the reference, never a value") {
  SecretsDir dir;
  SecretResolver resolver(dir.path.string());
  auto missing = resolver.resolve("x ${secret:NOPE}");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.rfind("secret 'NOPE' not found", 0) == 0);
  CHECK(missing.error().offset == 2);
  ::unsetenv("NIGHTSHIFT_TEST_UNSET");
  auto unset = resolver.resolve("${env:NIGHTSHIFT_TEST_UNSET}");
  REQUIRE_FALSE(unset.has_value());
  CHECK(unset.error().message == "environment variable 'NIGHTSHIFT_TEST_UNSET' is not set");
  auto no_dir = SecretResolver("").resolve("${secret:DB_PASSWORD}");
  REQUIRE_FALSE(no_dir.has_value());
  CHECK(no_dir.error().message == "secret 'DB_PASSWORD' is used but no secrets_dir is configured");
}
