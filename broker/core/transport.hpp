// The two things the core needs from the network layer, as interfaces so the core has no Asio
// headers and can be driven without sockets in tests.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "codec.hpp"

namespace parley::core {

// One client connection as seen by the core. Owned by broker/net; used only on the connection's
// thread.
class Transport {
 public:
  virtual ~Transport() = default;
  // Encoded packets are appended here; the net layer writes them after the current event, or
  // after requestFlush() when output was produced outside a read event (cross-thread delivery).
  virtual mqtt::Buffer& output() = 0;
  virtual void requestFlush() = 0;
  // Write what is buffered, then close the socket. Idempotent.
  virtual void close() = 0;
  // Bytes accepted by output() but not yet written to the socket (slow-reader detection).
  virtual size_t queuedBytes() const = 0;
  virtual const std::string& peer() const = 0;
  // The user proven by a verified TLS client certificate when the listener takes the
  // certificate's CN as the user name; it then replaces the CONNECT's user name and password.
  virtual const std::optional<std::string>& certificateUser() const {
    static const std::optional<std::string> none;
    return none;
  }
};

// An event loop thread; post() runs fn on it, in order.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void post(std::function<void()> fn) = 0;
};

// Wall-clock and monotonic time in ms, injected so tests can drive keep-alive and expiry.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t nowMs() const = 0;   // monotonic
  virtual int64_t wallMs() const = 0;  // since the epoch (stored in records)
};

}  // namespace parley::core
