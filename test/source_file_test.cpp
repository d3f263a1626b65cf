#include "nightshift/source_file.h"

#include <catch2/catch.hpp>

#include "support/temp_dir.h"

#include <filesystem>
#include <fstream>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace nightshift;
namespace fs = std::filesystem;

namespace {

// What read_source_file says about `path`: the text, or "ERROR: " and the fault.
std::string read(const std::string& path, std::size_t max_bytes = kMaxSourceFileBytes) {
  auto text = read_source_file(path, "job file", max_bytes);
  return text ? *text : "ERROR: " + text.error().str();
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A listening-free Unix socket bound at `path`; the file stays after close.
void make_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof address.sun_path);
  path.copy(address.sun_path, path.size());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("source file: a regular file, directly or through symlinks, is read whole") {
  test::TempDir dir;
  write(dir / "a.yaml", "job: a\n");
  fs::create_symlink("a.yaml", dir / "link.yaml");
  fs::create_symlink("link.yaml", dir / "link2.yaml");
  CHECK(read(dir / "a.yaml") == "job: a\n");
  CHECK(read(dir / "link.yaml") == "job: a\n");
  CHECK(read(dir / "link2.yaml") == "job: a\n");
  write(dir / "empty.yaml", "");
  CHECK(read(dir / "empty.yaml").empty());
}

TEST_CASE("source file: whatever is not a regular file is refused at once, its kind named") {
  test::TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo.yaml").c_str(), 0600) == 0);
  fs::create_directory(dir / "dir.yaml");
  make_socket(dir / "socket.yaml");
  fs::create_symlink(dir / "fifo.yaml", dir / "to_fifo.yaml");
  fs::create_symlink(dir / "dir.yaml", dir / "to_dir.yaml");
  fs::create_symlink("/dev/null", dir / "to_null.yaml");
  fs::create_symlink("/dev/zero", dir / "to_zero.yaml");
  fs::create_symlink("/dev/urandom", dir / "to_urandom.yaml");

  // Each would block (a FIFO without a writer), never end (/dev/zero) or read
  // as an empty job (a directory, /dev/null) if it were opened and read.
  const std::string fifo = "it is a FIFO, not a regular file";
  const std::string chr = "it is a character device, not a regular file";
  const std::pair<std::string, std::string> cases[] = {
      {"fifo.yaml", fifo},
      {"to_fifo.yaml", fifo},
      {"dir.yaml", "it is a directory"},
      {"to_dir.yaml", "it is a directory"},
      {"socket.yaml", "it is a socket, not a regular file"},
      {"to_null.yaml", chr},
      {"to_zero.yaml", chr},
      {"to_urandom.yaml", chr},
  };
  for (const auto& [name, cause] : cases) {
    INFO(name);
    CHECK(read(dir / name) == "ERROR: " + (dir / name) + ":1:1: cannot read job file: " + cause);
  }
  CHECK(read("/dev/zero") == "ERROR: /dev/zero:1:1: cannot read job file: " + chr);
}

TEST_CASE("source file: dangling symlinks, symlink loops and missing files say which") {
  test::TempDir dir;
  fs::create_symlink("nowhere.yaml", dir / "dangling.yaml");
  fs::create_symlink("missing/deeper.yaml", dir / "dangling_dir.yaml");
  fs::create_symlink("self.yaml", dir / "self.yaml");
  fs::create_symlink("b.yaml", dir / "a.yaml");
  fs::create_symlink("a.yaml", dir / "b.yaml");
  const std::string prefix = ":1:1: cannot read job file: ";
  CHECK(read(dir / "dangling.yaml") ==
        "ERROR: " + (dir / "dangling.yaml") + prefix +
            "dangling symlink (its target 'nowhere.yaml' is missing)");
  CHECK(read(dir / "dangling_dir.yaml") ==
        "ERROR: " + (dir / "dangling_dir.yaml") + prefix +
            "dangling symlink (its target 'missing/deeper.yaml' is missing)");
  for (const char* loop : {"self.yaml", "a.yaml"}) {
    CHECK(read(dir / loop) == "ERROR: " + (dir / loop) + prefix +
                                  "symlink loop (too many levels of symbolic links)");
  }
  CHECK(read(dir / "gone.yaml") == "ERROR: " + (dir / "gone.yaml") + prefix + "no such file");
}

TEST_CASE("source file: a file without read permission is named so") {
  test::TempDir dir;
  write(dir / "secret.yaml", "job: a\n");
  fs::permissions(dir / "secret.yaml", fs::perms::none);
  fs::permissions(dir.path(), fs::perms::all);  // others (nobody, below) may search it
  const std::string want =
      "ERROR: " + (dir / "secret.yaml") + ":1:1: cannot read job file: permission denied";
  if (::geteuid() != 0) {
    CHECK(read(dir / "secret.yaml") == want);
    return;
  }
  // root reads everything: read as nobody in a child, which reports back
  // through a pipe (no Catch2 macro runs in the child).
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string got = (::setgid(65534) == 0 && ::setuid(65534) == 0)
                          ? read(dir / "secret.yaml")
                          : "cannot become nobody";
    ssize_t ignored = ::write(pipe_fds[1], got.data(), got.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string got;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    got.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(got == want);
}

TEST_CASE("source file: at most the limit is read, whatever the size claims") {
  test::TempDir dir;
  write(dir / "ten.yaml", std::string(10, '#'));
  write(dir / "eleven.yaml", std::string(11, '#'));
  CHECK(read(dir / "ten.yaml", 10) == std::string(10, '#'));
  CHECK(read(dir / "eleven.yaml", 10) ==
        "ERROR: " + (dir / "eleven.yaml") +
            ":1:1: cannot read job file: it is larger than 10 bytes (11 bytes), the limit for a "
            "job file");

  // The real limit, 1 MiB, to the byte.
  write(dir / "mib.yaml", std::string(kMaxSourceFileBytes, '#'));
  write(dir / "more.yaml", std::string(kMaxSourceFileBytes + 1, '#'));
  CHECK(read(dir / "mib.yaml").size() == kMaxSourceFileBytes);
  CHECK(read(dir / "more.yaml") ==
        "ERROR: " + (dir / "more.yaml") +
            ":1:1: cannot read job file: it is larger than 1 MiB (1048577 bytes), the limit for a "
            "job file");

  // A file whose size says 0 but that has more to read (as /proc files do) is
  // cut off by the read, not trusted.
  struct stat st;
  REQUIRE(::stat("/proc/self/status", &st) == 0);
  REQUIRE(st.st_size == 0);
  CHECK(read("/proc/self/status", 16) ==
        "ERROR: /proc/self/status:1:1: cannot read job file: it is larger than 16 bytes, the "
        "limit for a job file");
  CHECK(read("/proc/self/status").rfind("Name:", 0) == 0);
}
