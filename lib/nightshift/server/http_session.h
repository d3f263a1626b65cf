// HttpSession: one client connection of HttpServer (internal to the server).
// The interface keeps Beast out of this header: only http_session.cpp pays for it.
#pragma once

#include "nightshift/server/http_server.h"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>

namespace nightshift {

// What a connection needs from the server that accepted it.
class HttpSessionHost {
 public:
  virtual ~HttpSessionHost() = default;
  virtual const HttpServerOptions& options() const = 0;
  virtual const HttpServer::Handler& handler() const = 0;
  // The connection is closed (once per session, on its strand).
  virtual void session_closed(std::uint64_t id) = 0;
};

// Reads requests, calls the handler and writes the answers on the connection's
// own strand; it owns itself (shared_from_this) while it has work in flight.
class HttpSession {
 public:
  // `socket`'s executor must be a strand of its own. Nothing happens before run().
  static std::shared_ptr<HttpSession> create(boost::asio::ip::tcp::socket socket,
                                             std::shared_ptr<HttpSessionHost> host,
                                             std::uint64_t id);
  virtual ~HttpSession() = default;

  virtual void run() = 0;
  // The server stops: finish the response being written, then close; close at
  // once when there is none. Thread-safe.
  virtual void shutdown() = 0;
  // Close now, cancelling a streamed body. Thread-safe.
  virtual void close() = 0;
};

}  // namespace nightshift
