#include "load_loop.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "chat_generated.h"

namespace parley::bench {

namespace {

constexpr size_t kCmidSize = 16;  // chat mode: hex digits of the message id

constexpr uint32_t kMagic = 0x7a6c7270;  // "prlz"
constexpr size_t kScratchSize = 64 * 1024;
constexpr size_t kOutHighWater = 256 * 1024;  // stop queueing publishes above this
constexpr size_t kMaxErrorsKept = 8;
constexpr int64_t kMinSleepNs = 100'000;

mqtt::Ack ack(mqtt::PacketType type, uint16_t id) {
  mqtt::Ack a;
  a.type = type;
  a.packet_id = id;
  return a;
}

void putU64(uint8_t* at, uint64_t v) {
  std::memcpy(at, &v, sizeof v);
}
uint64_t getU64(const char* at) {
  uint64_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

std::string errnoText(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// epoll_pwait2 takes a nanosecond timeout; fall back to epoll_wait's milliseconds without it.
int waitEvents(int epoll_fd, std::vector<epoll_event>& events, int64_t timeout_ns) {
  static std::atomic<bool> have_pwait2{true};
  const int max = static_cast<int>(events.size());
  if (have_pwait2) {
    timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
    const int n = epoll_pwait2(epoll_fd, events.data(), max, &ts, nullptr);
    if (n >= 0 || errno == EINTR) return std::max(n, 0);
    if (errno != ENOSYS) throw std::runtime_error(errnoText("epoll_pwait2"));
    have_pwait2 = false;
  }
  const int n = epoll_wait(epoll_fd, events.data(), max,
                           static_cast<int>((timeout_ns + 999'999) / 1'000'000));
  if (n < 0 && errno != EINTR) throw std::runtime_error(errnoText("epoll_wait"));
  return std::max(n, 0);
}

}  // namespace

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A publishing connection's pre-encoded PUBLISH and its in-flight window.
struct LoadLoop::Publisher {
  mqtt::Buffer tmpl;
  size_t id_offset = 0;       // packet id within tmpl (QoS > 0)
  size_t payload_offset = 0;  // payload within tmpl (chat: the envelope's body)
  size_t cmid_offset = 0;     // chat: the envelope's cmid within tmpl (kCmidSize hex digits)
  int window = 1;
  int inflight = 0;
  uint16_t next_id = 0;
  struct Slot {
    uint16_t id = 0;  // 0 = free
    int64_t sent_ns = 0;
  };
  std::vector<Slot> slots;  // indexed by packet id & mask
  uint16_t mask = 0;
  std::deque<int64_t> owed;  // intended send times of paced messages not yet sent
  uint64_t sent = 0;
  bool sendable = false;
};

enum class ConnState : uint8_t { Pending, TcpConnecting, AwaitConnack, AwaitSuback, Ready, Closed };

struct LoadLoop::Conn {
  size_t idx = 0;
  ClientSpec spec;
  int fd = -1;
  ConnState state = ConnState::Pending;
  bool want_write = false;
  bool dirty = false;
  bool subscribe = true;  // send SUBSCRIBE after the next CONNACK
  bool session_present = false;
  bool storm = false;
  int64_t connect_start_ns = 0;
  int64_t last_send_ns = 0;
  mqtt::Buffer pending;  // a partial packet carried over between reads
  mqtt::Buffer out;
  size_t out_off = 0;
  std::unique_ptr<Publisher> pub;
};

LoadLoop::LoadLoop(const LoadOptions& options, RunControl& control, int index)
    : opts_(options), ctl_(control), index_(index), scratch_(kScratchSize) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(errnoText("epoll_create1"));
  mqtt::encode(ack(mqtt::PacketType::Puback, 1), opts_.version, puback_);
  mqtt::encode(ack(mqtt::PacketType::Pubrec, 1), opts_.version, pubrec_);
  auto scan = mqtt::readFrame(puback_, opts_.max_packet);
  if (scan.ok() && scan->complete) ack_id_offset_ = scan->frame.header_size;
}

LoadLoop::~LoadLoop() {
  for (auto& c : conns_)
    if (c->fd >= 0) ::close(c->fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

size_t LoadLoop::add(ClientSpec spec) {
  auto c = std::make_unique<Conn>();
  c->idx = conns_.size();
  c->spec = std::move(spec);
  if (!c->spec.publish_topic.empty()) {
    auto p = std::make_unique<Publisher>();
    mqtt::Publish publish;
    publish.qos = opts_.qos;
    publish.topic = c->spec.publish_topic;
    publish.packet_id = opts_.qos ? 1 : 0;
    const std::string body(std::max(opts_.payload_size, kStampSize), '\0');
    std::string payload = body;
    size_t body_at = 0, cmid_at = 0;
    if (c->spec.chat) {
      // A ChatSend whose cmid and body are patched in place for every message.
      flatbuffers::FlatBufferBuilder fbb;
      const std::vector<uint8_t> bytes(body.begin(), body.end());
      fbb.Finish(parley::chat::fb::CreateChatSendDirect(fbb, std::string(kCmidSize, '0').c_str(),
                                                        parley::chat::fb::Kind::Text, &bytes));
      payload.assign(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
      const auto* send = flatbuffers::GetRoot<parley::chat::fb::ChatSend>(payload.data());
      body_at =
          static_cast<size_t>(reinterpret_cast<const char*>(send->body()->data()) - payload.data());
      cmid_at = static_cast<size_t>(send->cmid()->c_str() - payload.data());
    }
    publish.payload = payload;
    p->id_offset = mqtt::encodePublish(publish, opts_.version, p->tmpl);
    const size_t payload_start = p->tmpl.size() - payload.size();
    p->payload_offset = payload_start + body_at;
    if (c->spec.chat) p->cmid_offset = payload_start + cmid_at;
    p->window = std::max(1, opts_.inflight);
    size_t slots = 16;
    while (slots < static_cast<size_t>(p->window) * 4 && slots < 32768) slots *= 2;
    p->slots.resize(slots);
    p->mask = static_cast<uint16_t>(slots - 1);
    c->pub = std::move(p);
    publishers_.push_back(c->idx);
  }
  to_connect_.push_back(c->idx);
  conns_.push_back(std::move(c));
  return conns_.back()->idx;
}

void LoadLoop::startConnects() {
  while (connecting_ < static_cast<size_t>(std::max(1, opts_.connect_concurrency)) &&
         !to_connect_.empty()) {
    const size_t idx = to_connect_.front();
    to_connect_.pop_front();
    ++connecting_;
    openSocket(idx);
  }
}

void LoadLoop::openSocket(size_t idx) {
  Conn& c = *conns_[idx];
  c.state = ConnState::TcpConnecting;
  c.connect_start_ns = nowNs();
  c.pending.clear();
  c.out.clear();
  c.out_off = 0;
  c.want_write = true;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(c, errnoText("socket"));
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opts_.sources > 0 && opts_.host.rfind("127.", 0) == 0) {
    // Choose the port at connect() time, per (source, destination) pair, not at bind() time.
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    const uint32_t host_part = 2 + static_cast<uint32_t>(idx % static_cast<size_t>(opts_.sources));
    src.sin_addr.s_addr = htonl((127u << 24) | host_part);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0)
      return fail(c, errnoText("bind source address"));
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(opts_.port);
  if (inet_pton(AF_INET, opts_.host.c_str(), &dst.sin_addr) != 1)
    return fail(c, "bad host address (numeric IPv4 expected): " + opts_.host);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0 && errno != EINPROGRESS)
    return fail(c, errnoText("connect"));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = idx;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) < 0) return fail(c, errnoText("epoll_ctl"));
}

bool LoadLoop::runUntil(const std::function<bool()>& done, int64_t deadline_ns) {
  std::vector<epoll_event> events(1024);
  prctl(PR_SET_TIMERSLACK, 1UL);  // paced sends want their wake-ups on time
  for (;;) {
    if (done()) return true;
    int64_t now = nowNs();
    if (now >= deadline_ns) return false;

    const Phase phase = ctl_.phase.load(std::memory_order_acquire);
    if (phase != seen_phase_) {
      if (phase == Phase::Run) {
        run_start_ns_ = ctl_.run_start_ns.load();
        assigned_ = 0;
        for (size_t idx : publishers_) markSendable(*conns_[idx]);
      } else {
        for (size_t idx : sendable_) conns_[idx]->pub->sendable = false;
        sendable_.clear();
      }
      seen_phase_ = phase;
    }
    if (phase == Phase::Stop) return done();
    if (ctl_.storm_concurrency > 0 && phase == Phase::Run) stormRefill();
    startConnects();

    // Sleep until the next paced message is due (at least kMinSleepNs, to bound wake-ups), at
    // most 5 ms (to notice phase changes), not at all when work is already waiting.
    int64_t timeout_ns = 5'000'000;
    if (phase == Phase::Run && ctl_.rate_per_loop > 0) {
      const int64_t next_due = run_start_ns_ + static_cast<int64_t>(static_cast<double>(assigned_) *
                                                                    1e9 / ctl_.rate_per_loop);
      timeout_ns = std::clamp<int64_t>(next_due - now, kMinSleepNs, timeout_ns);
    }
    if (!sendable_.empty() || !dirty_.empty()) timeout_ns = 0;
    timeout_ns = std::min(timeout_ns, deadline_ns - now);
    const int n = waitEvents(epoll_fd_, events, timeout_ns);
    for (int i = 0; i < n; ++i)
      onEvent(events[static_cast<size_t>(i)].data.u64, events[static_cast<size_t>(i)].events);

    now = nowNs();
    if (phase == Phase::Run) schedule(now);
    if (opts_.keep_alive > 0) sendPings(now);
    flushDirty();
  }
}

void LoadLoop::onEvent(size_t idx, uint32_t events) {
  Conn& c = *conns_[idx];
  if (c.fd < 0) return;
  if (c.state == ConnState::TcpConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return fail(c, errnoText("connect"));
    }
    if (!(events & EPOLLOUT)) return;
    mqtt::Connect connect{};
    connect.version = opts_.version;
    connect.clean_start = c.spec.clean;
    connect.keep_alive = opts_.keep_alive;
    connect.client_id = c.spec.client_id;
    if (!c.spec.username.empty()) connect.username.emplace(c.spec.username);
    if (mqtt::isV5(opts_.version) && c.spec.session_expiry > 0)
      connect.props.session_expiry_interval = c.spec.session_expiry;
    mqtt::encode(connect, opts_.version, c.out);
    c.state = ConnState::AwaitConnack;
    flush(c);
    if (c.fd >= 0 && c.out.empty()) setWantWrite(c, false);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(c);
  if (c.fd >= 0 && (events & EPOLLOUT) && c.want_write) flush(c);
}

void LoadLoop::onReadable(Conn& c) {
  for (int round = 0; round < 4 && c.fd >= 0; ++round) {
    const ssize_t n = ::recv(c.fd, scratch_.data(), scratch_.size(), 0);
    if (n > 0) {
      const mqtt::Bytes data(scratch_.data(), static_cast<size_t>(n));
      if (c.pending.empty()) {
        const size_t used = process(c, data);
        if (c.fd >= 0 && used < data.size())
          c.pending.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
      } else {
        c.pending.insert(c.pending.end(), data.begin(), data.end());
        const size_t used = process(c, c.pending);
        if (c.fd >= 0)
          c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<std::ptrdiff_t>(used));
      }
      if (static_cast<size_t>(n) < scratch_.size()) return;
    } else if (n == 0) {
      return fail(c, "connection closed by the broker");
    } else {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return fail(c, errnoText("recv"));
    }
  }
}

size_t LoadLoop::process(Conn& c, mqtt::Bytes bytes) {
  size_t off = 0;
  while (c.fd >= 0 && off < bytes.size()) {
    auto scan = mqtt::readFrame(bytes.subspan(off), opts_.max_packet);
    if (!scan.ok()) {
      fail(c, std::string("bad frame from broker: ") + scan.error().what);
      return off;
    }
    if (!scan->complete || scan->frame.total() > bytes.size() - off) break;
    const mqtt::Frame frame = scan->frame;
    auto packet = mqtt::decode(frame, bytes.subspan(off, frame.total()), opts_.version);
    if (!packet.ok()) {
      fail(c, std::string("undecodable packet from broker: ") + packet.error().what);
      return off;
    }
    handle(c, *packet);
    off += frame.total();
  }
  return off;
}

void LoadLoop::handle(Conn& c, const mqtt::Packet& packet) {
  const int64_t now = nowNs();
  if (const auto* p = std::get_if<mqtt::Publish>(&packet)) {
    onDelivery(c, *p, now);
  } else if (const auto* a = std::get_if<mqtt::Ack>(&packet)) {
    switch (a->type) {
      case mqtt::PacketType::Puback:
      case mqtt::PacketType::Pubcomp:
        onPublishDone(c, a->packet_id, now);
        break;
      case mqtt::PacketType::Pubrec:
        if (static_cast<uint8_t>(a->reason) >= 0x80) {
          onPublishDone(c, a->packet_id, now);
        } else {
          mqtt::encode(ack(mqtt::PacketType::Pubrel, a->packet_id), opts_.version, c.out);
          markDirty(c);
        }
        break;
      case mqtt::PacketType::Pubrel:
        mqtt::encode(ack(mqtt::PacketType::Pubcomp, a->packet_id), opts_.version, c.out);
        markDirty(c);
        break;
      default:
        break;
    }
  } else if (const auto* ca = std::get_if<mqtt::Connack>(&packet)) {
    if (c.state != ConnState::AwaitConnack) return fail(c, "unexpected CONNACK");
    if (ca->reason != mqtt::Reason::Success)
      return fail(c, "CONNACK refused, reason " + std::to_string(static_cast<int>(ca->reason)));
    c.session_present = ca->session_present;
    if (c.pub && ca->props.receive_maximum)
      c.pub->window = std::min<int>(c.pub->window, *ca->props.receive_maximum);
    if (c.subscribe && !c.spec.filters.empty()) {
      mqtt::Subscribe sub;
      sub.packet_id = 1;
      for (const auto& f : c.spec.filters) {
        mqtt::Subscription s;
        s.filter = f;
        s.options.qos = opts_.qos;
        sub.subscriptions.push_back(std::move(s));
      }
      mqtt::encode(sub, opts_.version, c.out);
      markDirty(c);
      c.state = ConnState::AwaitSuback;
    } else {
      becomeReady(c);
    }
  } else if (const auto* sa = std::get_if<mqtt::Suback>(&packet)) {
    if (c.state != ConnState::AwaitSuback) return;
    for (auto r : sa->reasons)
      if (static_cast<uint8_t>(r) >= 0x80)
        return fail(c, "SUBSCRIBE refused, reason " + std::to_string(static_cast<int>(r)));
    becomeReady(c);
  } else if (const auto* d = std::get_if<mqtt::Disconnect>(&packet)) {
    return fail(c, "DISCONNECT from broker, reason " + std::to_string(static_cast<int>(d->reason)));
  }
}

void LoadLoop::becomeReady(Conn& c) {
  c.state = ConnState::Ready;
  if (connecting_ > 0) --connecting_;
  connect_latency.record(nowNs() - c.connect_start_ns);
  counters_.ready.fetch_add(1, std::memory_order_relaxed);
  if (c.storm) {
    // One storm cycle done: say goodbye and make room for the next handshake.
    mqtt::encode(mqtt::Disconnect{}, opts_.version, c.out);
    flush(c);
    closeConn(c);
    if (storm_open_ > 0) --storm_open_;
    return;
  }
  if (c.pub && seen_phase_ == Phase::Run) markSendable(c);
}

void LoadLoop::onDelivery(Conn& c, const mqtt::Publish& p, int64_t now) {
  if (p.qos == 1) appendAck(c, mqtt::PacketType::Puback, p.packet_id);
  if (p.qos == 2) appendAck(c, mqtt::PacketType::Pubrec, p.packet_id);
  std::string_view body = p.payload;
  if (std::string_view(p.topic).starts_with("conv/")) {
    // A Parley chat delivery: the benchmark bytes are the ChatMessage's body. The broker is
    // trusted here; the size check keeps a stray payload from reading out of bounds.
    if (body.size() < 8) return;
    thread_local std::string aligned;  // flatbuffers reads scalars in place: copy to the heap
    aligned.assign(body);
    const auto* m = flatbuffers::GetRoot<parley::chat::fb::ChatMessage>(aligned.data());
    if (m->body() == nullptr) return;  // a system message
    body = std::string_view(reinterpret_cast<const char*>(m->body()->data()), m->body()->size());
  }
  if (body.size() < kStampSize) return;
  uint32_t magic;
  std::memcpy(&magic, body.data() + 16, sizeof magic);
  if (magic != kMagic) return;
  const auto stamp = static_cast<int64_t>(getU64(body.data()));
  const uint64_t id = getU64(body.data() + 8);
  const int64_t latency = now - stamp;
  delivery_latency.record(latency);
  counters_.delivered.fetch_add(1, std::memory_order_relaxed);
  counters_.last_delivery_ns.store(now, std::memory_order_relaxed);
  int64_t completion = 0;
  switch (ctl_.tracker.deliver(id, latency, completion)) {
    case DeliveryTracker::Outcome::Complete:
      completion_latency.record(completion);
      break;
    case DeliveryTracker::Outcome::Duplicate:
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      break;
    case DeliveryTracker::Outcome::Untracked:
      counters_.untracked.fetch_add(1, std::memory_order_relaxed);
      break;
    case DeliveryTracker::Outcome::Partial:
      break;
  }
}

void LoadLoop::appendAck(Conn& c, mqtt::PacketType type, uint16_t id) {
  const auto& tmpl = type == mqtt::PacketType::Puback ? puback_ : pubrec_;
  const size_t at = c.out.size();
  c.out.insert(c.out.end(), tmpl.begin(), tmpl.end());
  mqtt::patchPacketId(c.out.data() + at + ack_id_offset_, id);
  markDirty(c);
}

void LoadLoop::onPublishDone(Conn& c, uint16_t packet_id, int64_t now) {
  if (!c.pub) return;
  Publisher& p = *c.pub;
  auto& slot = p.slots[packet_id & p.mask];
  if (slot.id != packet_id) return;  // not ours (or already completed)
  ack_latency.record(now - slot.sent_ns);
  slot.id = 0;
  --p.inflight;
  counters_.acked.fetch_add(1, std::memory_order_relaxed);
  if (seen_phase_ == Phase::Run) markSendable(c);
}

void LoadLoop::markSendable(Conn& c) {
  if (!c.pub || c.pub->sendable) return;
  c.pub->sendable = true;
  sendable_.push_back(c.idx);
}

void LoadLoop::schedule(int64_t now) {
  if (ctl_.rate_per_loop > 0 && !publishers_.empty()) {
    const double elapsed_s = static_cast<double>(now - run_start_ns_) / 1e9;
    // Message k is due at k / rate seconds, so k = 0 is due at once.
    const auto due = static_cast<uint64_t>(std::max(0.0, elapsed_s * ctl_.rate_per_loop)) + 1;
    const double step_ns = 1e9 / ctl_.rate_per_loop;
    for (; assigned_ < due; ++assigned_) {
      Conn& c = *conns_[publishers_[rr_++ % publishers_.size()]];
      if (c.state != ConnState::Ready) {
        counters_.skipped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (c.pub->owed.size() >= opts_.owed_cap) {
        counters_.skipped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      c.pub->owed.push_back(run_start_ns_ +
                            static_cast<int64_t>(static_cast<double>(assigned_) * step_ns));
      markSendable(c);
    }
  }
  batch_.clear();
  batch_.swap(sendable_);
  for (size_t idx : batch_) {
    Conn& c = *conns_[idx];
    c.pub->sendable = false;
    if (c.state == ConnState::Ready) sendSome(c, now);
  }
}

void LoadLoop::sendSome(Conn& c, int64_t now) {
  Publisher& p = *c.pub;
  const bool paced = ctl_.rate_per_loop > 0;
  int burst = opts_.qos == 0 && !paced ? p.window : 1 << 30;
  while (burst-- > 0) {
    if (opts_.qos > 0 && p.inflight >= p.window) return;  // an ack re-arms us
    if (c.spec.max_messages && p.sent >= c.spec.max_messages) return;
    if (paced && p.owed.empty()) return;                    // the scheduler re-arms us
    if (c.out.size() - c.out_off >= kOutHighWater) return;  // a completed flush re-arms us
    int64_t stamp = now;
    if (paced) {
      stamp = p.owed.front();
      p.owed.pop_front();
    }
    publishOne(c, stamp, now);
  }
  // QoS 0, unpaced: one window per pass; the next pass comes once the socket took it.
  if (c.out.size() == c.out_off) markSendable(c);
}

void LoadLoop::publishOne(Conn& c, int64_t stamp, int64_t now) {
  Publisher& p = *c.pub;
  const uint64_t id = ctl_.tracker.begin(c.spec.expected_per_publish);
  const size_t at = c.out.size();
  c.out.insert(c.out.end(), p.tmpl.begin(), p.tmpl.end());
  uint8_t* msg = c.out.data() + at;
  if (opts_.qos > 0) {
    uint16_t pid = p.next_id;
    for (size_t tries = 0; tries <= p.mask; ++tries) {
      pid = static_cast<uint16_t>(pid + 1);
      if (pid == 0) pid = 1;
      if (p.slots[pid & p.mask].id == 0) break;
    }
    p.next_id = pid;
    p.slots[pid & p.mask] = {pid, now};
    ++p.inflight;
    mqtt::patchPacketId(msg + p.id_offset, pid);
  }
  uint8_t* payload = msg + p.payload_offset;
  putU64(payload, static_cast<uint64_t>(stamp));
  putU64(payload + 8, id);
  std::memcpy(payload + 16, &kMagic, sizeof kMagic);
  if (p.cmid_offset) {  // unique per run: the delivery tracker's id, in hex
    static constexpr char kHex[] = "0123456789abcdef";
    char* cmid = reinterpret_cast<char*>(msg + p.cmid_offset);
    for (size_t i = 0; i < kCmidSize; ++i) cmid[kCmidSize - 1 - i] = kHex[(id >> (4 * i)) & 15];
  }
  ++p.sent;
  counters_.published.fetch_add(1, std::memory_order_relaxed);
  markDirty(c);
  if (c.out.size() - c.out_off >= kOutHighWater / 2) flush(c);
}

void LoadLoop::markDirty(Conn& c) {
  if (c.dirty) return;
  c.dirty = true;
  dirty_.push_back(c.idx);
}

void LoadLoop::flushDirty() {
  batch_.clear();
  batch_.swap(dirty_);
  for (size_t idx : batch_) {
    Conn& c = *conns_[idx];
    c.dirty = false;
    if (c.fd >= 0 && !c.want_write) flush(c);
  }
}

void LoadLoop::flush(Conn& c) {
  while (c.fd >= 0 && c.out_off < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      c.last_send_ns = nowNs();
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return setWantWrite(c, true);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return fail(c, errnoText("send"));
    }
  }
  if (c.fd < 0) return;
  c.out.clear();
  c.out_off = 0;
  if (c.out.capacity() > kOutHighWater * 2) c.out.shrink_to_fit();
  if (c.want_write && c.state != ConnState::TcpConnecting) setWantWrite(c, false);
  if (c.pub && seen_phase_ == Phase::Run && c.state == ConnState::Ready) markSendable(c);
}

void LoadLoop::setWantWrite(Conn& c, bool want) {
  if (c.want_write == want || c.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u64 = c.idx;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_write = want;
}

void LoadLoop::fail(Conn& c, const std::string& why) {
  const bool during_setup = c.state != ConnState::Ready && c.state != ConnState::Closed;
  ++error_count_;
  counters_.failed.fetch_add(1, std::memory_order_relaxed);
  if (errors_.size() < kMaxErrorsKept) errors_.push_back(c.spec.client_id + ": " + why);
  closeConn(c);
  if (during_setup && connecting_ > 0) --connecting_;
  if (c.storm && storm_open_ > 0) --storm_open_;
}

void LoadLoop::closeConn(Conn& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.state = ConnState::Closed;
  c.want_write = false;
  c.pending.clear();
  c.pending.shrink_to_fit();
  c.out.clear();
  c.out_off = 0;
  if (c.pub) {
    c.pub->inflight = 0;
    for (auto& s : c.pub->slots) s.id = 0;
    c.pub->owed.clear();
  }
}

void LoadLoop::disconnect(size_t idx) {
  Conn& c = *conns_[idx];
  if (c.fd < 0) return;
  mqtt::encode(mqtt::Disconnect{}, opts_.version, c.out);
  flush(c);
  if (c.fd >= 0) ::shutdown(c.fd, SHUT_WR);
  closeConn(c);
}

void LoadLoop::reconnect(size_t idx, bool subscribe) {
  Conn& c = *conns_[idx];
  if (c.fd >= 0) closeConn(c);
  c.subscribe = subscribe;
  c.state = ConnState::Pending;
  to_connect_.push_back(idx);
}

void LoadLoop::closeAll() {
  for (auto& c : conns_)
    if (c->fd >= 0) {
      if (c->state == ConnState::Ready) {
        disconnect(c->idx);
      } else {
        closeConn(*c);
      }
    }
}

bool LoadLoop::sessionPresent(size_t idx) const {
  return conns_[idx]->session_present;
}

size_t LoadLoop::openConnections() const {
  size_t n = 0;
  for (const auto& c : conns_) n += c->state == ConnState::Ready;
  return n;
}

void LoadLoop::stormRefill() {
  // Keep `storm_concurrency` handshakes in flight; each Conn slot is reused once closed.
  while (storm_open_ < static_cast<size_t>(ctl_.storm_concurrency)) {
    size_t idx = conns_.size();
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i]->storm && conns_[i]->state == ConnState::Closed) {
        idx = i;
        break;
      }
    }
    ClientSpec spec;
    spec.client_id = "pb" + std::to_string(getpid()) + "s" + std::to_string(index_) + "x" +
                     std::to_string(storm_serial_++);
    if (idx == conns_.size()) {
      add(std::move(spec));
      to_connect_.pop_back();
    } else {
      conns_[idx]->spec = std::move(spec);
    }
    Conn& c = *conns_[idx];
    c.storm = true;
    c.subscribe = false;
    ++storm_open_;
    ++connecting_;
    openSocket(idx);
  }
}

void LoadLoop::sendPings(int64_t now) {
  if (now - last_ping_sweep_ns_ < 1'000'000'000) return;
  last_ping_sweep_ns_ = now;
  const int64_t idle_limit = int64_t{opts_.keep_alive} * 1'000'000'000 / 2;
  for (auto& c : conns_) {
    if (c->state == ConnState::Ready && now - c->last_send_ns > idle_limit) {
      mqtt::encode(mqtt::Pingreq{}, opts_.version, c->out);
      markDirty(*c);
    }
  }
}

}  // namespace parley::bench
