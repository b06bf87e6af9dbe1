#include "connection.hpp"

#include <cstdio>

#include "server.hpp"
#include "stats.hpp"

using parley::core::Stats;

namespace parley::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kIdleShrink = 16 * 1024;  // buffers above this are released when drained
constexpr auto kConnectTimeout = std::chrono::seconds(10);
}  // namespace

Connection::Connection(Server& server, size_t thread, asio::ip::tcp::socket socket,
                       std::string peer)
    : server_(server),
      thread_(thread),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      connect_timer_(server.context(thread)) {}

Connection::~Connection() = default;

void Connection::start(std::vector<uint8_t> pending) {
  client_ = std::make_shared<core::Client>(server_.broker(), *this);
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket_.non_blocking(true, ignored);
  // A socket that never sends CONNECT is closed (spec 3.1.4 allows a reasonable time).
  connect_timer_.expires_after(kConnectTimeout);
  std::weak_ptr<Connection> weak = shared_from_this();
  connect_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->connected_ || self->closed_) return;
    std::fprintf(stderr, "parleyd: %s: no CONNECT within 10 s; closing\n", self->peer_.c_str());
    self->close();
  });
  if (!pending.empty() && !consume(pending.data(), pending.size())) return;
  flush();
  // Read at once rather than wait: bytes may already be queued on a socket that just moved
  // here, and their readiness edge was reported to the old thread's reactor.
  readNow();
}

void Connection::readNow() {
  if (closing_ || closed_ || moved_) return;
  // One scratch buffer per thread: handlers on a thread run one at a time, and nothing here
  // keeps a pointer into it after consume() returns (the core copies what it keeps).
  static thread_local std::vector<uint8_t> scratch(64 * 1024);
  for (int budget = 0; budget < 8; ++budget) {
    if (client_->readPaused()) {
      Stats::add(server_.broker().stats().publishers_paused);
      flush();
      resumeLater();
      return;
    }
    boost::system::error_code ec;
    const size_t n = socket_.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      flush();
      waitReadable();  // same handler as the EAGAIN: no readiness edge can be missed
      return;
    }
    if (ec) {
      lost();
      return;
    }
    if (!consume(scratch.data(), n)) return;
  }
  // Budget spent: let other connections on this thread run, then continue.
  flush();
  asio::post(server_.context(thread_), [self = shared_from_this()] { self->readNow(); });
}

void Connection::waitReadable() {
  if (waiting_) return;
  waiting_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->waiting_ = false;
                       if (ec) {
                         if (ec != asio::error::operation_aborted) self->lost();
                         return;
                       }
                       self->readNow();
                     });
}

void Connection::resumeLater() {
  // Backpressure: this publisher's messages wait in too many session queues. Check again
  // shortly; TCP flow control slows the client meanwhile.
  connect_timer_.expires_after(std::chrono::milliseconds(2));
  connect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->readNow();
  });
}

bool Connection::consume(const uint8_t* data, size_t len) {
  // With a partial packet already buffered, append and decode from the connection's buffer.
  if (!in_.empty()) {
    in_.insert(in_.end(), data, data + len);
    auto scan = mqtt::readFrame(mqtt::Bytes(in_.data(), in_.size()),
                                server_.broker().config().max_packet_size);
    if (scan && !scan->complete) return true;  // a large packet still arriving: keep appending
    std::vector<uint8_t> buffered;
    buffered.swap(in_);
    return consume(buffered.data(), buffered.size());  // in_ is empty now: no recursion loop
  }
  const uint32_t max_packet = server_.broker().config().max_packet_size;
  size_t pos = 0;
  while (!closing_ && pos < len) {
    mqtt::Bytes avail(data + pos, len - pos);
    auto scan = mqtt::readFrame(avail, max_packet);
    if (!scan) {
      client_->onDecodeError(scan.error().reason, scan.error().what);
      close();
      return false;
    }
    if (!scan->complete) break;
    const mqtt::Frame frame = scan->frame;
    mqtt::Bytes packet(data + pos, frame.total());
    auto decoded = mqtt::decode(frame, packet, client_->version());
    if (!decoded) {
      client_->onDecodeError(decoded.error().reason, decoded.error().what);
      close();
      return false;
    }
    if (!connected_) {
      if (auto* c = std::get_if<mqtt::Connect>(&*decoded)) {
        const size_t home = server_.broker().homeThread(c->client_id);
        if (home != thread_ && !c->client_id.empty()) {
          // Continue on the session's home thread: hand over the socket and the unread bytes
          // (this CONNECT included) and stop here.
          std::vector<uint8_t> rest(data + pos, data + len);
          boost::system::error_code ec;
          const bool v6 = socket_.local_endpoint(ec).address().is_v6();
          const int fd = socket_.release(ec);
          moved_ = true;
          closed_ = true;
          connect_timer_.cancel();
          if (ec) {
            std::fprintf(stderr, "parleyd: %s: cannot move socket: %s\n", peer_.c_str(),
                         ec.message().c_str());
            return false;
          }
          server_.adopt(home, fd, v6, std::move(rest), peer_);
          return false;
        }
        connected_ = true;
        connect_timer_.cancel();
      }
    }
    client_->onPacket(*decoded);
    pos += frame.total();
  }
  if (pos < len && !closing_) in_.assign(data + pos, data + len);  // an incomplete packet
  return !closing_;
}

void Connection::requestFlush() {
  if (flush_posted_ || writing_now_ || closed_) return;
  flush_posted_ = true;
  asio::post(server_.context(thread_), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Connection::flush() {
  if (writing_now_ || closed_) return;
  if (out_.empty()) {
    if (closing_) shutdown();
    return;
  }
  std::swap(out_, writing_);
  writing_now_ = true;
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->writing_now_ = false;
                      if (self->writing_.capacity() > kIdleShrink) {
                        mqtt::Buffer().swap(self->writing_);
                      } else {
                        self->writing_.clear();
                      }
                      if (ec) {
                        self->lost();
                        return;
                      }
                      // The socket drained: sessions held back by the watermark may go on.
                      if (!self->closing_ && self->client_ && self->client_->session())
                        self->client_->session()->pump();
                      self->flush();
                    });
}

void Connection::close() {
  if (closing_ || closed_) return;
  closing_ = true;
  flush();
}

void Connection::shutdown() {
  if (closed_) return;
  closed_ = true;
  connect_timer_.cancel();
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (client_) client_->onConnectionLost();
}

void Connection::lost() {
  if (moved_) return;
  closing_ = true;
  out_.clear();
  shutdown();
}

}  // namespace parley::net
