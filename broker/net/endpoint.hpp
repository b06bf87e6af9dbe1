// Endpoint: the protocol side of one client connection, whatever carries its bytes. It cuts the
// input into packets with the codec, hands each to its core::Client, and writes what the core
// appended to output(). Implements core::Transport. Subclasses supply the byte stream:
// ConnectionT<Io> (a socket, TLS or WebSocket stream on this thread) and RelayEndpoint (a
// stream that stays on another thread; see relay.hpp).
//
// Buffers: bytes are decoded where they were read (for TCP, a per-thread scratch buffer); only an
// incomplete packet's bytes are kept in in_, so an idle connection holds no read buffer. Output is
// double-buffered: one buffer is being written while the core appends to the other; queuedBytes()
// is both, which the core uses as the slow-reader watermark.
//
// Threading: lives on one event-loop thread, thread_. Before CONNECT it may be any thread; the
// CONNECT's client id names the session's home thread and, if that is another one, the subclass
// moves the connection there (moveTo) before the core sees the CONNECT. So core::Client::onPacket
// after CONNECT always runs on Broker::homeThread(client_id).
#pragma once
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "codec.hpp"
#include "transport.hpp"

namespace parley::net {

class Server;

// One counted connection (for --max-connections). Move-only; travels with the socket when a
// connection changes threads and gives its slot back when destroyed.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(Server* server) : server_(server) {}
  ConnectionSlot(ConnectionSlot&& o) noexcept : server_(std::exchange(o.server_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&& o) noexcept {
    if (this != &o) {
      release();
      server_ = std::exchange(o.server_, nullptr);
    }
    return *this;
  }
  ~ConnectionSlot() { release(); }

 private:
  void release();
  Server* server_ = nullptr;
};

// What a connection learned before CONNECT that the protocol side needs.
struct PeerInfo {
  std::string peer;                      // "address:port" for log lines
  std::optional<std::string> cert_user;  // verified client certificate's CN (--tls-cn-as-username)
};

class Endpoint : public core::Transport, public std::enable_shared_from_this<Endpoint> {
 public:
  Endpoint(Server& server, size_t thread, PeerInfo info, ConnectionSlot slot);
  ~Endpoint() override;

  // core::Transport
  mqtt::Buffer& output() override { return out_; }
  void requestFlush() override;
  void close() override;
  size_t queuedBytes() const override { return out_.size() + writing_bytes_; }
  const std::string& peer() const override { return info_.peer; }
  const std::optional<std::string>& certificateUser() const override { return info_.cert_user; }

 protected:
  // Closes the connection if no CONNECT arrived in time (covers TLS/WebSocket handshakes too).
  void armConnectTimer();
  // Creates the core::Client and processes `pending` (bytes already received, e.g. after a move
  // between threads). Returns false if the connection moved or is closing.
  bool startProtocol(std::vector<uint8_t> pending);
  // `n` bytes were read at `data`: decode and handle every whole packet (an incomplete tail is
  // copied into in_), then flush. Returns false if the connection moved thread or is closing.
  bool onInput(const uint8_t* data, size_t n);
  // Bytes received elsewhere (relay): handled like onInput.
  bool onInputCopy(const uint8_t* data, size_t n) { return onInput(data, n); }
  // Backpressure: the client's messages wait in too many session queues; do not read now.
  bool readPaused() const { return client_ && client_->readPaused(); }
  void flush();
  // The write of writing_ (writing_bytes_ bytes) finished.
  void onWritten(bool ok);
  // The stream failed or reached EOF.
  void lost();

  // --- the byte stream, supplied by the subclass ---
  // Writes writing_ (which holds writing_bytes_ bytes); calls onWritten when done.
  virtual void startWrite() = 0;
  // Closes the stream (the last write is done).
  virtual void shutdownStream() = 0;
  // The CONNECT at the head of `pending` belongs to a session homed on `home` != thread_:
  // continue the connection there. The protocol side here stops.
  virtual void moveTo(size_t home, std::vector<uint8_t> pending) = 0;

  Server& server_;
  size_t thread_;
  PeerInfo info_;
  ConnectionSlot slot_;
  std::shared_ptr<core::Client> client_;
  std::vector<uint8_t> in_;  // an incomplete packet's bytes, if any
  mqtt::Buffer out_;
  mqtt::Buffer writing_;
  size_t writing_bytes_ = 0;
  bool writing_now_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool moved_ = false;
  bool connected_ = false;  // CONNECT seen
  boost::asio::steady_timer connect_timer_;

 private:
  bool consume(const uint8_t* data, size_t len);
  void shutdown();
};

}  // namespace parley::net
