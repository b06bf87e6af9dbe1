// Connection: one client socket. Reads bytes, cuts them into packets with the codec, hands each
// to its core::Client, and writes what the core appended to output(). Implements
// core::Transport.
//
// Reading: the socket is non-blocking; a read goes into a per-thread scratch buffer and packets
// are decoded straight from there. Only an incomplete packet's bytes are copied into the
// connection's own buffer, so an idle connection holds no read buffer at all. Output is
// double-buffered: one buffer is being written by the kernel while the core appends to the other;
// queuedBytes() is both, which the core uses as the slow-reader watermark.
//
// Threading: lives on one event-loop thread. Before CONNECT it may be on any thread; after, on
// its session's home thread (see Server).
#pragma once
#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <vector>

#include "client.hpp"
#include "codec.hpp"
#include "transport.hpp"

namespace parley::net {

class Server;

class Connection : public core::Transport, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, size_t thread, boost::asio::ip::tcp::socket socket, std::string peer);
  ~Connection() override;

  // Starts serving; `pending` are bytes already read (after a move between threads).
  void start(std::vector<uint8_t> pending = {});

  // core::Transport
  mqtt::Buffer& output() override { return out_; }
  void requestFlush() override;
  void close() override;
  size_t queuedBytes() const override { return out_.size() + writing_.size(); }
  const std::string& peer() const override { return peer_; }

 private:
  // Reads until the socket is drained (then waits for readability), the budget is spent (then
  // yields to other connections), or the publisher is held back by backpressure.
  void readNow();
  void waitReadable();
  void resumeLater();
  // Decodes every whole packet of `len` bytes at `data`; keeps an incomplete tail in in_.
  // Returns false if the connection moved thread or is closing.
  bool consume(const uint8_t* data, size_t len);
  void flush();
  void shutdown();
  void lost();

  Server& server_;
  size_t thread_;
  boost::asio::ip::tcp::socket socket_;
  std::string peer_;
  std::shared_ptr<core::Client> client_;
  std::vector<uint8_t> in_;  // an incomplete packet's bytes, if any
  mqtt::Buffer out_;
  mqtt::Buffer writing_;
  bool writing_now_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool moved_ = false;
  bool connected_ = false;  // CONNECT seen
  bool waiting_ = false;    // an async_wait for readability is queued
  boost::asio::steady_timer connect_timer_;
};

}  // namespace parley::net
