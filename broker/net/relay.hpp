// Relayed connections: how a TLS or WebSocket connection reaches its session's home thread.
//
// Design. A plain TCP connection changes threads after CONNECT by handing its file descriptor to
// the home thread (all its state is in the kernel). A TLS or WebSocket stream cannot: its state
// (the TLS session, WebSocket framing) lives in Asio/OpenSSL/Beast objects bound to the
// io_context that created them, and the client id that names the home thread is only known
// after the handshake. So such a connection stays on the thread that accepted it, which keeps
// doing the stream I/O (decrypt, deframe, encrypt, frame), and its protocol side moves: a
// RelayEndpoint on the home thread owns the core::Client, the input and output buffers and all
// packet handling, exactly like a local connection. Bytes cross threads by posting to the other
// io_context: each read batch one way, each write batch the other (the output buffer itself is
// moved, never copied, and comes back for reuse). At most one write batch is in flight, so
// ordering and the slow-reader watermark work as on TCP. When the home thread happens to be the
// accepting thread, nothing is relayed.
//
// Lifetime: the stream side (ConnectionT, implementing RelayIo) is kept alive by its pending
// read, as any connection, and holds the RelayEndpoint until the stream fails or the endpoint
// asks it to close. The endpoint refers back weakly (no cycle, so nothing leaks when the event
// loops stop with connections open). Posted functions hold shared pointers, so neither goes
// away while a hand-over is in flight.
#pragma once
#include <memory>
#include <vector>

#include "endpoint.hpp"

namespace parley::net {

// The stream side of a relayed connection. Called only on its own (accepting) thread.
class RelayIo {
 public:
  virtual ~RelayIo() = default;
  // Writes `buf`, then hands it back to the endpoint (relayWritten on the home thread).
  virtual void relayWrite(mqtt::Buffer buf) = 0;
  // Closes the stream; the endpoint is done with it.
  virtual void relayClose() = 0;
};

// The protocol side of a relayed connection, on the session's home thread.
class RelayEndpoint final : public Endpoint {
 public:
  RelayEndpoint(Server& server, size_t home, PeerInfo info, std::shared_ptr<RelayIo> io,
                size_t io_thread);

  // Home thread, from posts by the stream side:
  void start(std::vector<uint8_t> pending);
  void feed(const std::vector<uint8_t>& bytes) { onInputCopy(bytes.data(), bytes.size()); }
  void relayWritten(bool ok, mqtt::Buffer buf);
  void ioLost();

 private:
  void startWrite() override;
  void shutdownStream() override;
  void moveTo(size_t home, std::vector<uint8_t> pending) override;

  std::weak_ptr<RelayIo> io_;
  size_t io_thread_;
};

}  // namespace parley::net
