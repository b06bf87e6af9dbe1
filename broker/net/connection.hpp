// ConnectionT<Io>: one client connection over the byte stream Io (streams.hpp: TcpIo, TlsIo,
// WsIo, WssIo) on one event-loop thread — the protocol side (Endpoint) plus the stream's reads
// and writes. Compiled once per stream type, so plain TCP pays for no indirection.
//
// After CONNECT, if the session's home is another thread: TCP hands its descriptor over
// (Server::adopt) and this object ends; the other streams stay here and relay the bytes to a
// RelayEndpoint on the home thread (relay.hpp explains why), this object then being only the
// stream side.
//
// Threading: its accepting thread for its whole life (TCP: until the hand-over).
#pragma once
#include <boost/asio/post.hpp>
#include <cstdio>
#include <memory>
#include <vector>

#include "endpoint.hpp"
#include "relay.hpp"
#include "server.hpp"
#include "stats.hpp"
#include "streams.hpp"

namespace parley::net {

template <class Io>
class ConnectionT final : public Endpoint, public RelayIo {
 public:
  template <class... A>
  ConnectionT(Server& server, size_t thread, PeerInfo info, ConnectionSlot slot, A&&... io_args)
      : Endpoint(server, thread, std::move(info), std::move(slot)),
        io_(std::forward<A>(io_args)...) {}

  // Starts serving: the stream's handshake, then reads. `pending` are bytes already read
  // (after a TCP connection moved between threads).
  void start(std::vector<uint8_t> pending = {}) {
    armConnectTimer();
    io_.handshake(info_, [self = self(), pending = std::move(pending)](
                             const boost::system::error_code& ec) mutable {
      if (ec) {
        if (!self->closed_) {
          std::fprintf(stderr, "parleyd: %s: %s handshake failed: %s\n", self->info_.peer.c_str(),
                       Io::kName, ec.message().c_str());
          core::Stats::add(self->server_.broker().stats().handshake_failures);
        }
        self->lost();
        return;
      }
      if (!self->startProtocol(std::move(pending))) {
        if (self->relay_) self->read();
        return;
      }
      self->read();
    });
  }

  // RelayIo (this thread):
  void relayWrite(mqtt::Buffer buf) override {
    if (!relay_) return;
    relay_out_ = std::move(buf);
    io_.write(relay_out_.data(), relay_out_.size(),
              [self = self()](const boost::system::error_code& ec, size_t) {
                auto ep = self->relay_;
                if (!ep) return;
                boost::asio::post(self->server_.context(self->relay_thread_),
                                  [ep, ok = !ec, buf = std::move(self->relay_out_)]() mutable {
                                    ep->relayWritten(ok, std::move(buf));
                                  });
              });
  }
  void relayClose() override {
    relay_.reset();
    io_.close();
  }

 private:
  std::shared_ptr<ConnectionT> self() {
    return std::static_pointer_cast<ConnectionT>(shared_from_this());
  }

  void read() {
    if (relay_) {
      if (rbuf_.size() < kStreamRead) rbuf_.resize(kStreamRead);
      io_.readSome(rbuf_.data(), rbuf_.size(),
                   [self = self()](const boost::system::error_code& ec, size_t n) {
                     self->onRelayRead(ec, n);
                   });
      return;
    }
    if (closing_ || closed_ || moved_) return;
    if (readPaused()) {
      // Backpressure: check again shortly; TCP flow control slows the client meanwhile.
      core::Stats::add(server_.broker().stats().publishers_paused);
      connect_timer_.expires_after(std::chrono::milliseconds(2));
      connect_timer_.async_wait([self = self()](const boost::system::error_code& ec) {
        if (!ec) self->read();
      });
      return;
    }
    if constexpr (Io::kMovable) {
      readTcp();
    } else {
      if (rbuf_.size() < kStreamRead) rbuf_.resize(kStreamRead);
      io_.readSome(rbuf_.data(), rbuf_.size(),
                   [self = self()](const boost::system::error_code& ec, size_t n) {
                     if (ec) return self->lost();
                     // false: closing, or the protocol side now lives on the home thread and
                     // this stream relays to it — then keep reading.
                     if (self->onInput(self->rbuf_.data(), n) || self->relay_) self->read();
                   });
    }
  }

  // Plain TCP: read without a buffer of our own. The socket is non-blocking; reads go into one
  // scratch buffer per thread (handlers on a thread run one at a time and nothing keeps a
  // pointer into it after onInput returns) until the socket is drained, then wait for
  // readability. Always read first, wait second: a socket that just moved here may hold bytes
  // whose readiness edge went to the old thread's reactor, and an async_wait queued in the
  // same handler as the EAGAIN cannot miss a new edge.
  void readTcp() {
    static thread_local std::vector<uint8_t> scratch(64 * 1024);
    auto& socket = io_.socket();
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    for (int budget = 0; budget < 8; ++budget) {
      if (readPaused()) return read();  // arms the backpressure timer
      const size_t n = socket.read_some(boost::asio::buffer(scratch), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        if (waiting_) return;
        waiting_ = true;
        socket.async_wait(tcp::socket::wait_read,
                          [self = self()](const boost::system::error_code& wec) {
                            self->waiting_ = false;
                            if (wec) {
                              if (wec != boost::asio::error::operation_aborted) self->lost();
                              return;
                            }
                            self->read();
                          });
        return;
      }
      if (ec) return lost();
      if (!onInput(scratch.data(), n)) return;
    }
    // Budget spent: let the other connections on this thread run, then continue.
    boost::asio::post(server_.context(thread_), [self = self()] { self->read(); });
  }

  void onRelayRead(const boost::system::error_code& ec, size_t n) {
    auto ep = relay_;
    if (!ep) return;
    auto& ctx = server_.context(relay_thread_);
    if (ec) {
      relay_.reset();
      io_.close();
      boost::asio::post(ctx, [ep] { ep->ioLost(); });
      return;
    }
    boost::asio::post(ctx, [ep, bytes = std::vector<uint8_t>(rbuf_.data(), rbuf_.data() + n)] {
      ep->feed(bytes);
    });
    read();
  }

  void startWrite() override {
    io_.write(
        writing_.data(), writing_bytes_,
        [self = self()](const boost::system::error_code& ec, size_t) { self->onWritten(!ec); });
  }

  void shutdownStream() override {
    if (!relay_) io_.close();
  }

  void moveTo(size_t home, std::vector<uint8_t> pending) override {
    if constexpr (Io::kMovable) {
      auto& socket = io_.socket();
      const bool v6 = socket.local_endpoint().address().is_v6();
      boost::system::error_code ec;
      const int fd = socket.release(ec);
      if (ec) {
        std::fprintf(stderr, "parleyd: %s: cannot move socket: %s\n", info_.peer.c_str(),
                     ec.message().c_str());
        return;
      }
      server_.adopt(home, fd, v6, std::move(pending), std::move(info_), std::move(slot_));
    } else {
      relay_thread_ = home;
      relay_ = std::make_shared<RelayEndpoint>(server_, home, info_, self(), thread_);
      boost::asio::post(
          server_.context(home),
          [ep = relay_, pending = std::move(pending)]() mutable { ep->start(std::move(pending)); });
    }
  }

  static constexpr size_t kStreamRead = 4096;  // TLS/WebSocket read buffer (not for TCP)
  Io io_;
  std::vector<uint8_t> rbuf_;             // reads of non-TCP streams, and of a relaying stream
  bool waiting_ = false;                  // TCP: an async_wait for readability is queued
  std::shared_ptr<RelayEndpoint> relay_;  // set once the protocol side lives on another thread
  size_t relay_thread_ = 0;
  mqtt::Buffer relay_out_;
};

}  // namespace parley::net
