#include "connection.hpp"

#include <cstdio>

#include "server.hpp"

namespace parley::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kInitialRead = 512;     // enough for a CONNECT and small publishes
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
  // A socket that never sends CONNECT is closed (spec 3.1.4 allows a reasonable time).
  connect_timer_.expires_after(kConnectTimeout);
  std::weak_ptr<Connection> weak = shared_from_this();
  connect_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->connected_ || self->closed_) return;
    std::fprintf(stderr, "parleyd: %s: no CONNECT within 10 s; closing\n", self->peer_.c_str());
    self->close();
  });
  in_ = std::move(pending);
  in_used_ = in_.size();
  if (in_.size() < kInitialRead) in_.resize(kInitialRead);
  if (in_used_ && !processInput()) return;
  flush();
  read();
}

void Connection::read() {
  if (closing_ || closed_) return;
  if (in_used_ == in_.size()) in_.resize(in_.size() * 2);
  socket_.async_read_some(asio::buffer(in_.data() + in_used_, in_.size() - in_used_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->onRead(ec, n); });
}

void Connection::onRead(const boost::system::error_code& ec, size_t n) {
  if (ec) {
    lost();
    return;
  }
  in_used_ += n;
  if (!processInput()) return;
  flush();
  read();
}

bool Connection::processInput() {
  const uint32_t max_packet = server_.broker().config().max_packet_size;
  size_t pos = 0;
  while (!closing_ && pos < in_used_) {
    mqtt::Bytes avail(in_.data() + pos, in_used_ - pos);
    auto scan = mqtt::readFrame(avail, max_packet);
    if (!scan) {
      client_->onDecodeError(scan.error().reason, scan.error().what);
      close();
      return false;
    }
    if (!scan->complete) {
      const size_t need = scan->frame.header_size ? scan->frame.total() : 0;
      if (need > in_.size()) in_.resize(need);  // a large packet: grow just enough
      break;
    }
    const mqtt::Frame frame = scan->frame;
    mqtt::Bytes packet(in_.data() + pos, frame.total());
    const mqtt::Version v = client_->version();
    auto decoded = mqtt::decode(frame, packet, v);
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
          std::vector<uint8_t> rest(in_.begin() + static_cast<long>(pos),
                                    in_.begin() + static_cast<long>(in_used_));
          const bool v6 = socket_.local_endpoint().address().is_v6();
          boost::system::error_code rec;
          const int fd = socket_.release(rec);
          moved_ = true;
          closed_ = true;
          connect_timer_.cancel();
          if (rec) {
            std::fprintf(stderr, "parleyd: %s: cannot move socket: %s\n", peer_.c_str(),
                         rec.message().c_str());
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
  // Keep the unread tail at the front of the buffer.
  if (pos) {
    std::memmove(in_.data(), in_.data() + pos, in_used_ - pos);
    in_used_ -= pos;
  }
  if (in_used_ == 0 && in_.size() > kIdleShrink) {
    in_.resize(kInitialRead);
    in_.shrink_to_fit();
  }
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
