#include "endpoint.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>

#include "server.hpp"

namespace parley::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kIdleShrink = 16 * 1024;  // buffers above this are released when drained
constexpr auto kConnectTimeout = std::chrono::seconds(10);
// A closing connection gets this long to write its last packets (a DISCONNECT with the reason);
// a peer that does not read them is cut off, or a stuck reader would hold its buffers forever.
constexpr auto kCloseTimeout = std::chrono::seconds(5);
}  // namespace

void ConnectionSlot::release() {
  if (server_) server_->releaseConnection();
  server_ = nullptr;
}

Endpoint::Endpoint(Server& server, size_t thread, PeerInfo info, ConnectionSlot slot)
    : server_(server),
      thread_(thread),
      info_(std::move(info)),
      slot_(std::move(slot)),
      connect_timer_(server.context(thread)) {}

Endpoint::~Endpoint() = default;

void Endpoint::armConnectTimer() {
  // A socket that never sends CONNECT is closed (spec 3.1.4 allows a reasonable time).
  connect_timer_.expires_after(kConnectTimeout);
  std::weak_ptr<Endpoint> weak = shared_from_this();
  connect_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->connected_ || self->closed_) return;
    std::fprintf(stderr, "parleyd: %s: no CONNECT within 10 s; closing\n",
                 self->info_.peer.c_str());
    self->close();
  });
}

bool Endpoint::startProtocol(std::vector<uint8_t> pending) {
  client_ = std::make_shared<core::Client>(server_.broker(), *this);
  if (!pending.empty() && !consume(pending.data(), pending.size())) return false;
  flush();
  return true;
}

bool Endpoint::onInput(const uint8_t* data, size_t n) {
  if (closing_ || closed_) return false;
  if (!consume(data, n)) return false;
  flush();
  return true;
}

bool Endpoint::consume(const uint8_t* data, size_t len) {
  // With a partial packet already buffered, append and decode from the connection's buffer.
  if (!in_.empty()) {
    in_.insert(in_.end(), data, data + len);
    auto scan = mqtt::readFrame(mqtt::Bytes(in_.data(), in_.size()),
                                server_.broker().config().max_packet_size);
    if (scan && !scan->complete) return true;  // a large packet still arriving: keep appending
    std::vector<uint8_t> buffered;
    buffered.swap(in_);
    return consume(buffered.data(), buffered.size());  // in_ is empty now: one level only
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
          // Continue on the session's home thread with the unread bytes, this CONNECT
          // included; the core never saw anything here.
          std::vector<uint8_t> rest(data + pos, data + len);
          moved_ = true;
          closed_ = true;
          connect_timer_.cancel();
          moveTo(home, std::move(rest));
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

void Endpoint::requestFlush() {
  if (flush_posted_ || writing_now_ || closed_) return;
  flush_posted_ = true;
  asio::post(server_.context(thread_), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Endpoint::flush() {
  if (writing_now_ || closed_) return;
  if (out_.empty()) {
    if (closing_) shutdown();
    return;
  }
  std::swap(out_, writing_);
  writing_bytes_ = writing_.size();
  writing_now_ = true;
  startWrite();
}

void Endpoint::onWritten(bool ok) {
  writing_now_ = false;
  writing_bytes_ = 0;
  if (writing_.capacity() > kIdleShrink) {
    mqtt::Buffer().swap(writing_);
  } else {
    writing_.clear();
  }
  if (!ok) {
    lost();
    return;
  }
  // The stream drained: sessions held back by the watermark may go on.
  if (!closing_ && client_) client_->onOutputWritten();
  flush();
}

void Endpoint::close() {
  if (closing_ || closed_) return;
  closing_ = true;
  flush();
  if (closed_) return;
  // connect_timer_ is free now: CONNECT arrived (or never will) and reads stopped with closing_.
  connect_timer_.expires_after(kCloseTimeout);
  std::weak_ptr<Endpoint> weak = shared_from_this();
  connect_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    std::fprintf(stderr, "parleyd: %s: last packets not read within 5 s; closing\n",
                 self->info_.peer.c_str());
    self->lost();
  });
}

void Endpoint::shutdown() {
  if (closed_) return;
  closed_ = true;
  connect_timer_.cancel();
  shutdownStream();
  if (client_) client_->onConnectionLost();
}

void Endpoint::lost() {
  if (moved_) return;
  closing_ = true;
  out_.clear();
  shutdown();
}

}  // namespace parley::net
