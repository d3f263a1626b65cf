// Counts how often Boost.Asio completes an `async_wait(wait_read)` on a pipe
// that nobody ever wrote to: the root cause of issue #15 (steps SIGKILLed as
// if they had exited), shown without Nightshift's code.
//
// Asio's epoll reactor keeps one state object per registered descriptor and
// reuses a freed one at once (object_pool's free list). An io thread collects
// an event for descriptor A's state and queues it; before it is performed,
// another thread closes A (its state goes to the free list) and registers B,
// which gets the same state. The queued event is then performed against B: a
// read or an accept retries its system call and sees EAGAIN, but a wait
// completes with success. So a readiness event is a hint, never a fact.
//
// Usage: spurious_wait_bench [seconds] [asio|del] [spawn]
//   asio: connections closed with socket.close() (no EPOLL_CTL_DEL: epoll drops
//         the registration when the last copy of the descriptor closes);
//   del:  release() first (EPOLL_CTL_DEL), then close(2);
//   spawn: a thread also posix_spawns /bin/true in a loop, whose children hold
//         copies of every descriptor until they exec.
// Prints the waits made and how many completed although the pipe was empty.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr int kWaiters = 20;      // pipes waited on at any time
constexpr int kConnections = 4;   // connection chains closing at any time
constexpr int kIoThreads = 3;
constexpr auto kWaitLength = std::chrono::milliseconds(5);

struct Counters {
  std::atomic<long> waits{0};
  std::atomic<long> spurious{0};
  std::atomic<long> connections{0};
  std::atomic<long> spawns{0};
  std::atomic<bool> stop{false};
  bool release_first = false;
};

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Waits on an empty pipe for kWaitLength, closes it, and starts over.
void wait_on_empty_pipe(asio::io_context& io, Counters& counters) {
  if (counters.stop) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  auto pipe = std::make_shared<asio::posix::stream_descriptor>(io, fds[0]);
  auto timer = std::make_shared<asio::steady_timer>(io, kWaitLength);
  const int write_end = fds[1];
  ++counters.waits;
  pipe->async_wait(asio::posix::stream_descriptor::wait_read,
                   [pipe, &counters](const boost::system::error_code& ec) {
                     if (!ec && !readable(pipe->native_handle())) ++counters.spurious;
                   });
  timer->async_wait([pipe, timer, write_end, &io, &counters](const boost::system::error_code&) {
    ::close(pipe->release());  // out of the reactor, then closed
    ::close(write_end);
    wait_on_empty_pipe(io, counters);
  });
}

void close_socket(tcp::socket& socket, bool release_first) {
  if (release_first) {
    ::close(socket.release());
  } else {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
}

// A connection that gets a few bytes and is closed on both ends at once, as an
// HTTP client that hangs up; then the next one.
void churn(asio::io_context& io, tcp::acceptor& acceptor, Counters& counters) {
  if (counters.stop) return;
  auto client = std::make_shared<tcp::socket>(io);
  client->connect(acceptor.local_endpoint());
  auto server = std::make_shared<tcp::socket>(io);
  acceptor.async_accept(*server, [client, server, &io, &acceptor,
                                  &counters](const boost::system::error_code& ec) {
    if (ec) return;
    auto buffer = std::make_shared<std::array<char, 16>>();
    server->async_read_some(asio::buffer(*buffer), [server, buffer](auto, auto) {});
    asio::write(*client, asio::buffer("hello", 5));
    close_socket(*client, counters.release_first);
    close_socket(*server, counters.release_first);
    ++counters.connections;
    churn(io, acceptor, counters);
  });
}

void spawn_loop(Counters& counters) {
  char program[] = "/bin/true";
  char* argv[] = {program, nullptr};
  while (!counters.stop) {
    pid_t pid = -1;
    if (::posix_spawn(&pid, program, nullptr, nullptr, argv, environ) != 0) continue;
    ::waitpid(pid, nullptr, 0);
    ++counters.spawns;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  Counters counters;
  counters.release_first = argc > 2 && std::string_view(argv[2]) == "del";
  const bool spawn = argc > 3 && std::string_view(argv[3]) == "spawn";

  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  for (int i = 0; i < kWaiters; ++i) wait_on_empty_pipe(io, counters);
  for (int i = 0; i < kConnections; ++i) churn(io, acceptor, counters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kIoThreads; ++i) threads.emplace_back([&io] { io.run(); });
  std::thread spawner;
  if (spawn) spawner = std::thread(spawn_loop, std::ref(counters));

  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  counters.stop = true;
  if (spawner.joinable()) spawner.join();
  io.stop();
  for (std::thread& t : threads) t.join();
  std::cout << "close: " << (counters.release_first ? "release, then close(2)" : "socket.close()")
            << (spawn ? ", with posix_spawn" : "") << "\nwaits: " << counters.waits
            << "\nconnections: " << counters.connections << "\nspawns: " << counters.spawns
            << "\nwaits completed on an empty pipe: " << counters.spurious << "\n";
}
