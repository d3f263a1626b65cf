#include "nightshift/server/http_session.h"

#include "nightshift/server/beast_request.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace nightshift {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// After the last answer on a connection, how long to swallow what the client
// still sends: closing with unread input would reset the connection and could
// destroy the answer before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kReadSize = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

HttpResponse error_response(int status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = "{\"error\": \"" + std::string(message) + "\"}";
  return response;
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != s.npos;
}

void set_head_fields(http::fields& fields, const HttpResponse& response) {
  fields.set(http::field::server, "nightshift");
  if (!response.content_type.empty()) fields.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) {
    // A line break would let a value smuggle in headers of its own.
    if (!name.empty() && !has_line_break(name) && !has_line_break(value)) {
      fields.insert(name, value);
    }
  }
}

bool forbids_body(int status) {
  return status < 200 || status == 204 || status == 304;
}

enum class Phase {
  reading,    // waiting for or reading a request: closed at once when the server stops
  writing,    // answering a request
  streaming,  // sending a streamed body piece by piece
  lingering,  // answered and half-closed, draining the client's input
};

class Session final : public HttpSession, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpSessionHost> host, std::uint64_t id)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        host_(std::move(host)),
        options_(host_->options()),
        id_(id) {}

  ~Session() override {
    if (!closed_) host_->session_closed(id_);
  }

  void run() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      auto remote = self->socket_.remote_endpoint(ec);
      if (!ec) self->remote_ = remote.address().to_string() + ":" + std::to_string(remote.port());
      // Streamed pieces are small separate writes: Nagle would hold each one back.
      self->socket_.set_option(tcp::no_delay(true), ec);
      self->begin_request();
    });
  }

  void shutdown() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_shutdown(); });
  }

  void close() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now(); });
  }

 private:
  // --- deadlines: one timer per connection, re-armed for each step ---

  void arm(Clock::duration timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_deadline(ec); });
  }

  // A far expiry also defuses a wait that has fired but whose handler has not run yet.
  void disarm() { timer_.expires_at(Clock::time_point::max()); }

  void on_deadline(error_code ec) {
    if (ec == asio::error::operation_aborted || closed_ || timer_.expiry() > Clock::now()) return;
    close_now();
  }

  // --- reading a request ---

  // Keep-alive: wait for the next request's first bytes, then give it read_timeout.
  void wait_for_request() {
    phase_ = Phase::reading;
    arm(options_.idle_timeout);
    socket_.async_read_some(buffer_.prepare(kReadSize),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              self->on_request_start(ec, n);
                            });
  }

  void on_request_start(error_code ec, std::size_t n) {
    if (closed_) return;
    if (ec) return close_now();
    buffer_.commit(n);
    begin_request();
  }

  void begin_request() {
    phase_ = Phase::reading;
    arm(options_.read_timeout);
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(options_.header_limit, std::numeric_limits<std::uint32_t>::max())));
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_read_header(ec); });
  }

  void on_read_header(error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    const auto& head = parser_->get();
    if (!parser_->is_done() && head.version() >= 11 &&
        boost::beast::iequals(head[http::field::expect], "100-continue")) {
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](error_code ec, std::size_t) {
                          if (self->closed_) return;
                          if (ec) return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return handle_request();
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (self->closed_) return;
                       if (ec) return self->on_read_error(ec);
                       self->handle_request();
                     });
  }

  void on_read_error(error_code ec) {
    if (ec == http::error::body_limit) return send_error(413, "request body too large");
    if (ec == http::error::header_limit) return send_error(431, "request header too large");
    const bool parse_error = ec.category() == make_error_code(http::error::bad_target).category();
    if (parse_error && ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return send_error(400, "bad request");
    }
    close_now();  // the client went away
  }

  // --- answering ---

  void handle_request() {
    phase_ = Phase::writing;
    disarm();
    auto message = parser_->release();
    parser_.reset();
    version_ = message.version() == 10 ? 10 : 11;
    keep_alive_ = message.keep_alive() && !stopping_;
    const bool head_only = message.method() == http::verb::head;
    auto request = to_http_request(std::move(message));
    if (!request) return send_error(400, "bad request target");
    request->remote = remote_;

    const auto& offload = options_.offload;
    if (offload && !(options_.answers_at_once && options_.answers_at_once(*request))) {
      // The answer comes back to this strand; the session lives until then.
      auto shared = std::make_shared<HttpRequest>(std::move(*request));
      // The guard keeps the io_context running until the answer is back on
      // the strand: nothing of this request is pending on it meanwhile.
      offload([self = shared_from_this(), shared, head_only,
               work = asio::make_work_guard(socket_.get_executor())] {
        auto response = std::make_shared<HttpResponse>(self->call_handler(*shared));
        asio::post(self->socket_.get_executor(), [self, response, head_only] {
          if (!self->closed_) return self->answer(std::move(*response), head_only);
          if (response->stream) self->guarded("cancel", [&] { response->stream->cancel(); });
        });
      });
      return;
    }
    answer(call_handler(*request), head_only);
  }

  void answer(HttpResponse&& response, bool head_only) {
    if (response.status < 100 || response.status > 999) {
      log("http handler answered status " + std::to_string(response.status));
      response = error_response(500, "internal error");
    }
    if (response.stream && !forbids_body(response.status)) {
      return start_stream(std::move(response), head_only);
    }
    if (response.stream) guarded("cancel", [&] { response.stream->cancel(); });
    write_response(std::move(response), head_only);
  }

  HttpResponse call_handler(const HttpRequest& request) {
    try {
      return host_->handler()(request);
    } catch (const std::exception& e) {
      log(std::string("http handler failed: ") + e.what());
    } catch (...) {
      log("http handler failed: unknown exception");
    }
    return error_response(500, "internal error");
  }

  void send_error(int status, std::string_view message) {
    keep_alive_ = false;  // the rest of the request is unread: the connection is lost
    write_response(error_response(status, message), false);
  }

  void write_response(HttpResponse&& r, bool head_only) {
    phase_ = Phase::writing;
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(r.status));
    set_head_fields(response_.base(), r);
    response_.keep_alive(keep_alive_);
    if (!forbids_body(r.status)) {
      // Set by hand, not prepare_payload(): a HEAD answer announces the body it omits.
      response_.content_length(r.body.size());
      if (!head_only) response_.body() = std::move(r.body);
    }
    arm(options_.write_timeout);
    http::async_write(socket_, response_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_response_written(ec);
    });
  }

  void on_response_written(error_code ec) {
    if (closed_) return;
    if (ec) return close_now();
    response_ = {};
    if (!keep_alive_ || stopping_) return linger_close();
    if (buffer_.size() > 0) return begin_request();  // a pipelined request is already here
    wait_for_request();
  }

  // --- streamed bodies: chunked (HTTP/1.1) or ended by the close (HTTP/1.0) ---

  // HEAD gets the head a GET would get (chunked, no length: a stream's length
  // is not known before its end) and nothing after it.
  void start_stream(HttpResponse&& r, bool head_only) {
    phase_ = Phase::streaming;
    body_stream_ = std::move(r.stream);
    if (head_only) {
      auto stream = std::move(body_stream_);
      guarded("cancel", [&] { stream->cancel(); });
    }
    // A stream ends its connection: it may run for hours, and no request can follow it anyway.
    keep_alive_ = false;
    head_ = {};
    head_.version(version_);
    head_.result(static_cast<unsigned>(r.status));
    set_head_fields(head_.base(), r);
    head_.keep_alive(false);
    if (version_ == 11) head_.chunked(true);
    head_writer_.emplace(head_);
    if (!head_only) piece_ = std::move(r.body);
    arm(options_.write_timeout);
    http::async_write_header(socket_, *head_writer_,
                             [self = shared_from_this(), head_only](error_code ec, std::size_t) {
                               self->on_head_written(ec, head_only);
                             });
  }

  void on_head_written(error_code ec, bool head_only) {
    if (closed_) return;
    if (ec) return close_now();
    disarm();
    if (head_only) return linger_close();
    drain();  // notices a client that leaves while the stream has nothing to send
    if (piece_.empty()) return request_piece();
    write_piece();
  }

  void request_piece() {
    // Weak: a stream that keeps `deliver` after cancel() must not keep the connection.
    std::weak_ptr<Session> weak = shared_from_this();
    BodyStream::Deliver deliver = [weak](std::optional<std::string> piece) {
      auto self = weak.lock();
      if (!self) return;
      asio::post(self->socket_.get_executor(), [self, piece = std::move(piece)]() mutable {
        self->on_piece(std::move(piece));
      });
    };
    if (options_.offload) {
      // A stream may read a file for its next piece: where handlers run, not
      // on an io thread. The guard keeps the io_context up until it answers.
      options_.offload([self = shared_from_this(), stream = body_stream_,
                        deliver = std::move(deliver),
                        work = asio::make_work_guard(socket_.get_executor())]() mutable {
        if (!self->guarded("next", [&] { stream->next(std::move(deliver)); }))
          asio::post(self->socket_.get_executor(), [self] { self->close_now(); });
      });
      return;
    }
    if (!guarded("next", [&] { body_stream_->next(std::move(deliver)); })) close_now();
  }

  void on_piece(std::optional<std::string> piece) {
    if (closed_ || phase_ != Phase::streaming) return;
    if (!piece) return finish_stream();
    if (piece->empty()) return request_piece();  // an empty chunk would end the body
    piece_ = std::move(*piece);
    write_piece();
  }

  void write_piece() {
    arm(options_.write_timeout);
    auto written = [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_piece_written(ec);
    };
    if (version_ == 11) {
      asio::async_write(socket_, http::make_chunk(asio::buffer(piece_)), std::move(written));
    } else {
      asio::async_write(socket_, asio::buffer(piece_), std::move(written));
    }
  }

  void on_piece_written(error_code ec) {
    if (closed_) return;
    if (ec) return close_now();
    disarm();
    piece_.clear();
    request_piece();
  }

  void finish_stream() {
    body_stream_.reset();  // it ended: nothing left to cancel
    phase_ = Phase::writing;
    if (version_ == 10) return linger_close();
    arm(options_.write_timeout);
    asio::async_write(socket_, http::make_chunk_last(),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close_now();
                        self->linger_close();
                      });
  }

  // --- closing ---

  // Reads and drops the client's input until it closes; the end of input means
  // the client left (streaming) or has read the answer (lingering).
  void drain() {
    if (draining_) return;
    draining_ = true;
    socket_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              self->draining_ = false;
                              if (self->closed_) return;
                              if (ec) return self->close_now();
                              self->drain();
                            });
  }

  void linger_close() {
    phase_ = Phase::lingering;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    arm(kLingerTime);
    drain();
  }

  void on_shutdown() {
    stopping_ = true;
    if (phase_ == Phase::reading) close_now();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    disarm();
    if (body_stream_) {
      auto stream = std::move(body_stream_);
      guarded("cancel", [&] { stream->cancel(); });
    }
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    host_->session_closed(id_);
  }

  // A throwing stream must not escape into io_context::run() and end the daemon.
  template <class F>
  bool guarded(const char* what, F&& f) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      log(std::string("http body stream ") + what + " failed: " + e.what());
    } catch (...) {
      log(std::string("http body stream ") + what + " failed: unknown exception");
    }
    return false;
  }

  void log(const std::string& message) const {
    if (options_.log) options_.log(message);
  }

  tcp::socket socket_;  // its executor is this connection's strand
  asio::steady_timer timer_;
  std::shared_ptr<HttpSessionHost> host_;
  const HttpServerOptions& options_;  // owned by host_
  const std::uint64_t id_;
  std::string remote_;

  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  http::response<http::empty_body> head_;
  std::optional<http::response_serializer<http::empty_body>> head_writer_;
  std::shared_ptr<BodyStream> body_stream_;
  std::string piece_;  // the chunk being written
  std::array<char, 1024> scratch_{};

  Phase phase_ = Phase::reading;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool stopping_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<HttpSession> HttpSession::create(tcp::socket socket,
                                                 std::shared_ptr<HttpSessionHost> host,
                                                 std::uint64_t id) {
  return std::make_shared<Session>(std::move(socket), std::move(host), id);
}

}  // namespace nightshift
