#include "raw_mqtt.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace itest {

// ---- encoding ----

void putU16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void putU32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
void putVarint(Bytes& b, uint32_t v) {
  do {
    uint8_t d = v % 128;
    v /= 128;
    if (v) d |= 0x80;
    b.push_back(d);
  } while (v);
}
void putStr(Bytes& b, const std::string& s) {
  putU16(b, static_cast<uint16_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}
Bytes packet(uint8_t first_byte, const Bytes& body) {
  Bytes out{first_byte};
  putVarint(out, static_cast<uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Props& Props::u8(uint8_t id, uint8_t v) {
  body_.push_back(id);
  body_.push_back(v);
  return *this;
}
Props& Props::u16(uint8_t id, uint16_t v) {
  body_.push_back(id);
  putU16(body_, v);
  return *this;
}
Props& Props::u32(uint8_t id, uint32_t v) {
  body_.push_back(id);
  putU32(body_, v);
  return *this;
}
Props& Props::varint(uint8_t id, uint32_t v) {
  body_.push_back(id);
  putVarint(body_, v);
  return *this;
}
Props& Props::str(uint8_t id, const std::string& v) {
  body_.push_back(id);
  putStr(body_, v);
  return *this;
}
Props& Props::user(const std::string& k, const std::string& v) {
  body_.push_back(P_USER_PROPERTY);
  putStr(body_, k);
  putStr(body_, v);
  return *this;
}

static void putProps(Bytes& b, const Props& p) {
  putVarint(b, static_cast<uint32_t>(p.body().size()));
  b.insert(b.end(), p.body().begin(), p.body().end());
}

Bytes connectPacket(const ConnectSpec& c) {
  Bytes b;
  putStr(b, "MQTT");
  b.push_back(static_cast<uint8_t>(c.version));
  uint8_t flags = 0;
  if (c.clean) flags |= 0x02;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<uint8_t>((c.will->qos & 3) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  b.push_back(flags);
  putU16(b, c.keep_alive);
  if (c.version == 5) putProps(b, c.props);
  putStr(b, c.client_id);
  if (c.will) {
    if (c.version == 5) putProps(b, c.will->props);
    putStr(b, c.will->topic);
    putStr(b, c.will->payload);
  }
  if (c.username) putStr(b, *c.username);
  if (c.password) putStr(b, *c.password);
  return packet(0x10, b);
}

Bytes publishPacket(int version, const std::string& topic, const std::string& payload, int qos,
                    uint16_t packet_id, bool retain, const Props& props, bool dup) {
  Bytes b;
  putStr(b, topic);
  if (qos > 0) putU16(b, packet_id);
  if (version == 5) putProps(b, props);
  b.insert(b.end(), payload.begin(), payload.end());
  uint8_t first = static_cast<uint8_t>(0x30 | ((qos & 3) << 1) | (retain ? 1 : 0) | (dup ? 8 : 0));
  return packet(first, b);
}

Bytes ackPacket(PacketType type, uint16_t id, int version, uint8_t reason) {
  Bytes b;
  putU16(b, id);
  if (version == 5 && reason != 0) b.push_back(reason);
  return packet(static_cast<uint8_t>((type << 4) | (type == PUBREL ? 2 : 0)), b);
}

Bytes subscribePacket(int version, uint16_t id, const std::vector<SubEntry>& subs,
                      const Props& props) {
  Bytes b;
  putU16(b, id);
  if (version == 5) putProps(b, props);
  for (auto& s : subs) {
    putStr(b, s.filter);
    b.push_back(s.options);
  }
  return packet(0x82, b);
}

Bytes unsubscribePacket(int version, uint16_t id, const std::vector<std::string>& filters) {
  Bytes b;
  putU16(b, id);
  if (version == 5) b.push_back(0);
  for (auto& f : filters) putStr(b, f);
  return packet(0xA2, b);
}

Bytes pingreqPacket() { return {0xC0, 0x00}; }

Bytes disconnectPacket(int version, uint8_t reason, const Props& props) {
  Bytes b;
  if (version == 5 && (reason != 0 || !props.body().empty())) {
    b.push_back(reason);
    putProps(b, props);
  }
  return packet(0xE0, b);
}

// ---- decoding ----

namespace {

struct Reader {
  const Bytes& b;
  size_t pos = 0;
  void need(size_t n) const {
    if (pos + n > b.size()) throw std::runtime_error("packet too short");
  }
  uint8_t u8() {
    need(1);
    return b[pos++];
  }
  uint16_t u16() {
    need(2);
    uint16_t v = static_cast<uint16_t>((b[pos] << 8) | b[pos + 1]);
    pos += 2;
    return v;
  }
  uint32_t u32() {
    need(4);
    uint32_t v = (uint32_t{b[pos]} << 24) | (uint32_t{b[pos + 1]} << 16) |
                 (uint32_t{b[pos + 2]} << 8) | b[pos + 3];
    pos += 4;
    return v;
  }
  uint32_t varint() {
    uint32_t v = 0, mul = 1;
    for (int i = 0; i < 4; ++i) {
      uint8_t d = u8();
      v += (d & 0x7F) * mul;
      if (!(d & 0x80)) return v;
      mul *= 128;
    }
    throw std::runtime_error("bad varint");
  }
  std::string str() {
    uint16_t n = u16();
    need(n);
    std::string s(b.begin() + static_cast<long>(pos), b.begin() + static_cast<long>(pos + n));
    pos += n;
    return s;
  }
  std::string rest() {
    std::string s(b.begin() + static_cast<long>(pos), b.end());
    pos = b.size();
    return s;
  }
  bool done() const { return pos >= b.size(); }
  Properties props() {
    Properties p;
    uint32_t len = varint();
    size_t end = pos + len;
    need(len);
    while (pos < end) {
      uint8_t id = u8();
      switch (id) {
        case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
          p.ints.emplace_back(id, u8());
          break;
        case 0x13: case 0x21: case 0x22: case 0x23:
          p.ints.emplace_back(id, u16());
          break;
        case 0x02: case 0x11: case 0x18: case 0x27:
          p.ints.emplace_back(id, u32());
          break;
        case 0x0B:
          p.ints.emplace_back(id, varint());
          break;
        case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C:
        case 0x1F:
          p.strs.emplace_back(id, str());
          break;
        case 0x26: {
          std::string k = str();
          p.user.emplace_back(k, str());
          break;
        }
        default:
          throw std::runtime_error("unknown property id " + std::to_string(id));
      }
    }
    return p;
  }
};

}  // namespace

std::optional<uint32_t> Properties::getInt(uint8_t id) const {
  for (auto& [k, v] : ints)
    if (k == id) return v;
  return std::nullopt;
}
std::optional<std::string> Properties::getStr(uint8_t id) const {
  for (auto& [k, v] : strs)
    if (k == id) return v;
  return std::nullopt;
}
std::vector<uint32_t> Properties::allInts(uint8_t id) const {
  std::vector<uint32_t> out;
  for (auto& [k, v] : ints)
    if (k == id) out.push_back(v);
  return out;
}

ConnAck parseConnack(const Packet& p, int version) {
  if (p.type != CONNACK) throw std::runtime_error(std::string("expected CONNACK, got ") + typeName(p.type));
  Reader r{p.body};
  ConnAck a;
  a.session_present = (r.u8() & 1) != 0;
  a.code = r.u8();
  if (version == 5 && !r.done()) a.props = r.props();
  return a;
}

PublishIn parsePublish(const Packet& p, int version) {
  if (p.type != PUBLISH) throw std::runtime_error(std::string("expected PUBLISH, got ") + typeName(p.type));
  Reader r{p.body};
  PublishIn m;
  m.qos = (p.flags >> 1) & 3;
  m.retain = (p.flags & 1) != 0;
  m.dup = (p.flags & 8) != 0;
  m.topic = r.str();
  if (m.qos > 0) m.id = r.u16();
  if (version == 5) m.props = r.props();
  m.payload = r.rest();
  return m;
}

Ack parseAck(const Packet& p, int version) {
  Reader r{p.body};
  Ack a;
  a.id = r.u16();
  if (version == 5 && !r.done()) {
    if (p.type == UNSUBACK) {
      a.props = r.props();
      while (!r.done()) a.codes.push_back(r.u8());
    } else {
      a.reason = r.u8();
      if (!r.done()) a.props = r.props();
    }
  } else if (p.type == UNSUBACK && version == 5) {
    // 5.0 UNSUBACK always carries properties; tolerate absence.
  }
  return a;
}

SubAck parseSuback(const Packet& p, int version) {
  if (p.type != SUBACK) throw std::runtime_error(std::string("expected SUBACK, got ") + typeName(p.type));
  Reader r{p.body};
  SubAck s;
  s.id = r.u16();
  if (version == 5) s.props = r.props();
  while (!r.done()) s.codes.push_back(r.u8());
  return s;
}

Disconnect parseDisconnect(const Packet& p) {
  if (p.type != DISCONNECT) throw std::runtime_error(std::string("expected DISCONNECT, got ") + typeName(p.type));
  Reader r{p.body};
  Disconnect d;
  if (!r.done()) d.reason = r.u8();
  if (!r.done()) d.props = r.props();
  return d;
}

const char* typeName(uint8_t type) {
  static const char* names[] = {"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK",
                                "PUBREC",   "PUBREL",  "PUBCOMP", "SUBSCRIBE", "SUBACK",
                                "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
                                "AUTH"};
  return type < 16 ? names[type] : "?";
}

// ---- RawClient ----

RawClient::RawClient(uint16_t port, int version, int rcvbuf) : version_(version) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket failed");
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(const Bytes& b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool RawClient::fill(Millis timeout) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r <= 0) return false;
  uint8_t tmp[65536];
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  buf_.insert(buf_.end(), tmp, tmp + n);
  return true;
}

std::optional<Packet> RawClient::tryParse() {
  if (buf_.size() < 2) return std::nullopt;
  uint32_t len = 0, mul = 1;
  size_t i = 1;
  for (;; ++i) {
    if (i >= buf_.size()) return std::nullopt;
    if (i > 4) throw std::runtime_error("broker sent a bad remaining length");
    len += (buf_[i] & 0x7F) * mul;
    mul *= 128;
    if (!(buf_[i] & 0x80)) break;
  }
  size_t total = i + 1 + len;
  if (buf_.size() < total) return std::nullopt;
  Packet p;
  p.type = buf_[0] >> 4;
  p.flags = buf_[0] & 0x0F;
  p.body.assign(buf_.begin() + static_cast<long>(i + 1), buf_.begin() + static_cast<long>(total));
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(total));
  return p;
}

std::optional<Packet> RawClient::read(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto p = tryParse()) return p;
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0 || closed_) return std::nullopt;
    fill(left);
  }
}

std::optional<Packet> RawClient::readSkippingPings(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = Millis(0);
    auto p = read(left);
    if (!p || p->type != PINGRESP) return p;
  }
}

bool RawClient::waitClosed(Millis timeout, std::vector<Packet>* seen) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (auto p = read(left); p && seen) seen->push_back(*p);
  }
  // Drain anything parsed before the close.
  while (auto p = tryParse())
    if (seen) seen->push_back(*p);
  return closed_;
}

void RawClient::abort() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
}

std::optional<ConnAck> RawClient::connect(ConnectSpec spec) {
  spec.version = version_;
  if (!send(connectPacket(spec))) return std::nullopt;
  auto p = read();
  if (!p || p->type != CONNACK) return std::nullopt;
  return parseConnack(*p, version_);
}

std::optional<SubAck> RawClient::subscribe(uint16_t id, const std::vector<SubEntry>& subs,
                                           const Props& props) {
  if (!send(subscribePacket(version_, id, subs, props))) return std::nullopt;
  for (;;) {
    auto p = read();
    if (!p) return std::nullopt;
    if (p->type == SUBACK) return parseSuback(*p, version_);
    others.push_back(*p);
  }
}

std::optional<PublishIn> RawClient::nextPublish(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = Millis(0);
    auto p = read(left);
    if (!p) return std::nullopt;
    if (p->type == PUBLISH) return parsePublish(*p, version_);
    others.push_back(*p);
  }
}

}  // namespace itest
