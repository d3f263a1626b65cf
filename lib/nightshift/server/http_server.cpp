#include "nightshift/server/http_server.h"

#include "nightshift/server/http_session.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace nightshift {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// The listener and the registry of open connections. Sessions hold it (as
// their host), so it outlives the HttpServer object until the last one closes.
// The acceptor and the timers live on `strand_`; the registry is under `mutex_`
// because sessions report from their own strands.
class HttpServer::State final : public HttpSessionHost, public std::enable_shared_from_this<State> {
 public:
  State(asio::io_context& io, HttpServerOptions options, Handler handler)
      : io_(io),
        strand_(asio::make_strand(io)),
        acceptor_(strand_),
        retry_timer_(strand_),
        grace_timer_(strand_),
        options_(std::move(options)),
        handler_(std::move(handler)) {}

  const HttpServerOptions& options() const override { return options_; }
  const Handler& handler() const override { return handler_; }

  void session_closed(std::uint64_t id) override {
    bool last = false;
    {
      std::lock_guard lock(mutex_);
      sessions_.erase(id);
      last = stopping_ && sessions_.empty();
    }
    if (last) asio::post(strand_, [self = shared_from_this()] { self->finish_stop(); });
  }

  error_code start() {
    {
      std::lock_guard lock(mutex_);
      if (started_ || stopping_) return asio::error::already_started;
      started_ = true;
    }
    error_code ec;
    auto endpoint = resolve(ec);
    if (ec) return ec;
    acceptor_.open(endpoint.protocol(), ec);
    // Lets a restarted daemon bind while old connections sit in TIME_WAIT; a
    // live listener on the port still makes bind() fail.
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      error_code ignored;
      acceptor_.close(ignored);
      return ec;
    }
    asio::post(strand_, [self = shared_from_this()] { self->do_accept(); });
    return {};
  }

  unsigned short port() const { return port_; }

  void stop(std::chrono::milliseconds grace, std::function<void()> done) {
    asio::post(strand_, [self = shared_from_this(), grace, done = std::move(done)]() mutable {
      self->begin_stop(grace, std::move(done));
    });
  }

 private:
  tcp::endpoint resolve(error_code& ec) {
    auto address = asio::ip::make_address(options_.host, ec);
    if (!ec) return {address, options_.port};
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return {};
    if (results.empty()) {
      ec = asio::error::host_not_found;
      return {};
    }
    return results.begin()->endpoint();
  }

  void do_accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: it lasts until something else closes,
      // so retry ever less often rather than spin, and say so once, not on
      // every retry.
      if (accept_failures_++ == 0) {
        log("http accept failed: " + ec.message() + "; retrying, up to every " +
            std::to_string(kLongestAcceptRetry.count()) + " ms, until it works");
      }
      accept_retry_ = accept_failures_ == 1 ? kFirstAcceptRetry
                                            : std::min(accept_retry_ * 2, kLongestAcceptRetry);
      retry_timer_.expires_after(accept_retry_);
      retry_timer_.async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
      });
      return;
    }
    if (accept_failures_ > 0) {
      log("http accept works again, after " + std::to_string(accept_failures_) + " failures");
      accept_failures_ = 0;
    }
    std::shared_ptr<HttpSession> session;
    {
      std::lock_guard lock(mutex_);
      if (sessions_.size() < options_.max_connections) {
        const auto id = next_id_++;
        session = HttpSession::create(std::move(socket), shared_from_this(), id);
        sessions_.emplace(id, session);
      }
    }
    // Over the limit, the socket closes as it goes out of scope.
    if (session) session->run();
    do_accept();
  }

  void begin_stop(std::chrono::milliseconds grace, std::function<void()> done) {
    error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    bool first = false;
    bool none_left = false;
    std::vector<std::shared_ptr<HttpSession>> live;
    {
      std::lock_guard lock(mutex_);
      first = !stopping_;
      stopping_ = true;
      if (done) done_.push_back(std::move(done));
      none_left = sessions_.empty();
      if (first) live = live_sessions();
    }
    if (none_left) return finish_stop();
    for (const auto& session : live) session->shutdown();
    // A later stop with a shorter grace (a second SIGTERM) brings the deadline forward.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    if (first || deadline < grace_timer_.expiry()) {
      grace_timer_.expires_at(deadline);
      grace_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec == asio::error::operation_aborted ||
            self->grace_timer_.expiry() > std::chrono::steady_clock::now()) {
          return;
        }
        self->force_close();
      });
    }
  }

  void force_close() {
    std::vector<std::shared_ptr<HttpSession>> live;
    {
      std::lock_guard lock(mutex_);
      live = live_sessions();
    }
    for (const auto& session : live) session->close();
  }

  void finish_stop() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mutex_);
      if (!sessions_.empty()) return;
      callbacks.swap(done_);
    }
    grace_timer_.cancel();
    for (auto& callback : callbacks) callback();
  }

  std::vector<std::shared_ptr<HttpSession>> live_sessions() const {
    std::vector<std::shared_ptr<HttpSession>> out;
    for (const auto& entry : sessions_) {
      if (auto session = entry.second.lock()) out.push_back(std::move(session));
    }
    return out;
  }

  void log(const std::string& message) const {
    if (options_.log) options_.log(message);
  }

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::steady_timer grace_timer_;
  static constexpr std::chrono::milliseconds kFirstAcceptRetry{50};
  static constexpr std::chrono::milliseconds kLongestAcceptRetry{1000};
  // On strand_, in the accept loop.
  std::uint64_t accept_failures_ = 0;  // since the last accept that worked
  std::chrono::milliseconds accept_retry_{0};
  const HttpServerOptions options_;
  const Handler handler_;
  std::atomic<unsigned short> port_{0};

  std::mutex mutex_;  // guards what follows
  bool started_ = false;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::weak_ptr<HttpSession>> sessions_;
  std::vector<std::function<void()>> done_;
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  state_->stop(std::chrono::milliseconds(0), {});
}

error_code HttpServer::start() {
  return state_->start();
}

unsigned short HttpServer::port() const {
  return state_->port();
}

void HttpServer::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  state_->stop(grace, std::move(done));
}

}  // namespace nightshift
