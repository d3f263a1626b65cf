// HttpServer: the daemon's HTTP/1.1 server on Asio. It knows nothing about
// jobs: it parses requests into HttpRequest, calls one handler, and writes the
// HttpResponse back (streamed bodies chunked), with limits and timeouts that
// keep a hostile or slow client from hurting anyone else.
#pragma once

#include "nightshift/server/http_message.h"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace nightshift {

struct HttpServerOptions {
  std::string host = "127.0.0.1";        // an address or a name; never 0.0.0.0 by default
  unsigned short port = 8080;            // 0: any free port (see HttpServer::port())
  std::size_t body_limit = 1024 * 1024;  // larger bodies are answered 413
  std::size_t header_limit = 8 * 1024;   // larger request heads are answered 431
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);   // a whole request
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);   // keep-alive wait
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);  // each write to a client
  std::size_t max_connections = 1024;  // further connections are accepted and closed
  // Handler exceptions and accept errors; called from io_context threads. Default: silent.
  std::function<void(const std::string&)> log;
  // Where a handler that may block (a store read, a rerun waiting for its
  // commit) runs: `offload` runs the call it is given on a pool of its own, so
  // the io threads only move bytes and a slow store never stalls them. A
  // request `answers_at_once` says never blocks (health, metrics, the
  // dashboard, /events) is handled on the connection's strand instead, so it
  // is answered while that pool is busy. Without `offload` every handler runs
  // on the strand. A streamed body's pieces are asked for through `offload`
  // too (a stream may read a file for each).
  std::function<void(std::function<void()>)> offload;
  std::function<bool(const HttpRequest&)> answers_at_once;
};

class HttpServer {
 public:
  // Called on the connection's strand or through options.offload, so
  // concurrently for different connections. A throw answers 500.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  // Stops accepting and closes every connection at once (stop(0ms, {})). A
  // connection may call the handler until stop()'s `done` or until the
  // io_context stops running: destroy what the handler uses only after that.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting; returns the error (address in use, a
  // bad host, a second call, a call after stop()) instead of throwing.
  boost::system::error_code start();

  // The bound port (the chosen one when options.port was 0); 0 before start().
  unsigned short port() const;

  // Stops accepting; idle connections and unfinished requests are closed, those
  // writing a response (or streaming) finish it within `grace`, then the rest
  // are closed. `done` runs on an io_context thread once every connection is
  // closed. Thread-safe; a second call adds its `done`.
  void stop(std::chrono::milliseconds grace, std::function<void()> done);

 private:
  class State;
  std::shared_ptr<State> state_;
};

}  // namespace nightshift
