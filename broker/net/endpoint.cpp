#include "endpoint.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstring>

#include "server.hpp"

namespace parley::net {

namespace asio = boost::asio;

namespace {
constexpr size_t kInitialRead = 512;       // enough for a CONNECT and small publishes
constexpr size_t kIdleShrink = 16 * 1024;  // buffers above this are released when drained
constexpr auto kConnectTimeout = std::chrono::seconds(10);
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
  in_ = std::move(pending);
  in_used_ = in_.size();
  if (in_.size() < kInitialRead) in_.resize(kInitialRead);
  if (in_used_ && !processInput()) return false;
  flush();
  return true;
}

uint8_t* Endpoint::inSpace() {
  if (in_used_ == in_.size()) in_.resize(in_.size() * 2);
  return in_.data() + in_used_;
}

bool Endpoint::onInput(size_t n) {
  in_used_ += n;
  if (!processInput()) return false;
  flush();
  return true;
}

bool Endpoint::onInputCopy(const uint8_t* data, size_t n) {
  if (closing_ || closed_) return false;
  if (in_.size() - in_used_ < n) in_.resize(in_used_ + n);
  std::memcpy(in_.data() + in_used_, data, n);
  return onInput(n);
}

bool Endpoint::processInput() {
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
          // Continue on the session's home thread with the unread bytes, this CONNECT
          // included; the core never saw anything here.
          std::vector<uint8_t> rest(in_.begin() + static_cast<long>(pos),
                                    in_.begin() + static_cast<long>(in_used_));
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
  if (!closing_ && client_ && client_->session()) client_->session()->pump();
  flush();
}

void Endpoint::close() {
  if (closing_ || closed_) return;
  closing_ = true;
  flush();
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
