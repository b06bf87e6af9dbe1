// MQTT 3.1.1 / 5.0 codec (see codec.hpp for the contract).
//
// Design: decoding walks the packet body with a bounds-checked `Reader` that remembers the first
// error, so every field read is one line and nothing can read past the span. Properties are
// described once, in `forEachProperty`, as (identifier, wire type, packets allowed in, field);
// decoding, measuring and encoding all walk that one list, so the spec table (5.0 section
// 2.2.2.2) lives in exactly one place.
//
// Error kinds follow the specs' wording where they name one: "Protocol Error" becomes
// Reason::ProtocolError, everything else that breaks the packet grammar is MalformedPacket.
#include "codec.hpp"

#include <algorithm>
#include <type_traits>

namespace parley::mqtt {
namespace {

constexpr uint32_t kMaxVarint = 268'435'455;  // largest 4-byte variable byte integer
constexpr size_t kMaxString = 65'535;         // length prefix of strings and binary data

DecodeError malformed(const char* what) {
  return {Reason::MalformedPacket, what};
}
DecodeError protocolError(const char* what) {
  return {Reason::ProtocolError, what};
}

// ---------------------------------------------------------------------------------------------
// Variable byte integers

enum class VarintStatus { Ok, Short, Bad };

// Parses a variable byte integer at the start of `b`. `Short` means `b` ended before the last
// byte; `Bad` means a fifth byte would be needed or the encoding is not minimal (5.0 1.5.5-1).
VarintStatus parseVarint(Bytes b, uint32_t& value, size_t& used) {
  value = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (i == b.size()) return VarintStatus::Short;
    const uint8_t byte = b[i];
    value |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
    if (!(byte & 0x80)) {
      if (i > 0 && byte == 0) return VarintStatus::Bad;  // e.g. 0x80 0x00 for 0
      used = i + 1;
      return VarintStatus::Ok;
    }
  }
  return VarintStatus::Bad;
}

// Writes `value` (clamped to the 4-byte maximum) at `at`; returns the number of bytes, 1..4.
size_t writeVarint(uint32_t value, uint8_t* at) {
  value = std::min(value, kMaxVarint);
  size_t used = 0;
  do {
    uint8_t byte = value & 0x7F;
    value >>= 7;
    if (value) byte |= 0x80;
    at[used++] = byte;
  } while (value);
  return used;
}

// Fixed-header flag rules (3.1.1 2.2.2, 5.0 2.1.3). Returns why `first_byte` is bad, or null.
const char* badFixedHeader(uint8_t first_byte) {
  const auto type = static_cast<PacketType>(first_byte >> 4);
  const uint8_t flags = first_byte & 0x0F;
  switch (type) {
    case PacketType::Publish:
      return ((flags >> 1) & 0x03) == 3 ? "PUBLISH with QoS 3" : nullptr;
    case PacketType::Pubrel:
    case PacketType::Subscribe:
    case PacketType::Unsubscribe:
      return flags == 0x02 ? nullptr : "reserved fixed header flags must be 0010";
    default:
      if (first_byte >> 4 == 0) return "reserved packet type 0";
      return flags == 0 ? nullptr : "reserved fixed header flags must be 0000";
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

// Bounds-checked cursor over one packet body. A failed read returns false and keeps the first
// error, so call sites read `if (!r.u16(id)) return r.failure();`.
class Reader {
 public:
  explicit Reader(Bytes b) : b_(b) {}

  size_t left() const { return b_.size() - pos_; }
  bool atEnd() const { return pos_ == b_.size(); }
  const DecodeError& error() const { return error_; }
  Err<DecodeError> failure() const { return Err{error_}; }
  bool setError(DecodeError e) {
    error_ = e;
    return false;
  }

  bool u8(uint8_t& v) {
    if (left() < 1) return setError(malformed("packet ends inside a field"));
    v = b_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (left() < 2) return setError(malformed("packet ends inside a field"));
    v = static_cast<uint16_t>(b_[pos_] << 8 | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (left() < 4) return setError(malformed("packet ends inside a field"));
    v = static_cast<uint32_t>(b_[pos_]) << 24 | static_cast<uint32_t>(b_[pos_ + 1]) << 16 |
        static_cast<uint32_t>(b_[pos_ + 2]) << 8 | b_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool varint(uint32_t& v) {
    size_t used = 0;
    switch (parseVarint(b_.subspan(pos_), v, used)) {
      case VarintStatus::Ok:
        pos_ += used;
        return true;
      case VarintStatus::Short:
        return setError(malformed("packet ends inside a varint"));
      case VarintStatus::Bad:
        break;
    }
    return setError(malformed("bad variable byte integer"));
  }
  // The next `n` bytes as a view (no copy).
  bool take(size_t n, std::string_view& out) {
    if (left() < n) return setError(malformed("length runs past the end of the packet"));
    out = {reinterpret_cast<const char*>(b_.data() + pos_), n};
    pos_ += n;
    return true;
  }
  // Binary data: 2-byte length + bytes.
  bool binary(std::string_view& out) {
    uint16_t n = 0;
    return u16(n) && take(n, out);
  }
  // UTF-8 string: binary data that must also be valid MQTT UTF-8.
  bool utf8(std::string_view& out) {
    if (!binary(out)) return false;
    return validUtf8(out) || setError(malformed("invalid UTF-8 string"));
  }
  bool utf8(std::string& out) {
    std::string_view v;
    if (!utf8(v)) return false;
    out.assign(v);
    return true;
  }
  bool binary(std::string& out) {
    std::string_view v;
    if (!binary(v)) return false;
    out.assign(v);
    return true;
  }
  // Splits the next `n` bytes off as their own reader (used for the property block).
  bool sub(size_t n, Reader& out) {
    if (left() < n) return setError(malformed("property length runs past the end"));
    out = Reader(b_.subspan(pos_, n));
    pos_ += n;
    return true;
  }
  std::string_view rest() {
    std::string_view v;
    take(left(), v);
    return v;
  }

 private:
  Bytes b_;
  size_t pos_ = 0;
  DecodeError error_;
};

// ---------------------------------------------------------------------------------------------
// Properties (5.0 section 2.2.2)

enum class PropType : uint8_t { Byte, TwoByte, FourByte, Varint, Utf8, Binary, Utf8Pair };

// The packets (or the will) a property may appear in, as bits.
enum Where : uint16_t {
  kConnect = 1 << 0,
  kConnack = 1 << 1,
  kPublish = 1 << 2,
  kWill = 1 << 3,
  kAck = 1 << 4,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  kSubscribe = 1 << 5,
  kSuback = 1 << 6,
  kUnsubscribe = 1 << 7,
  kUnsuback = 1 << 8,
  kDisconnect = 1 << 9,
  kAuth = 1 << 10,
};

struct PropDef {
  uint8_t id;
  PropType type;
  uint16_t where;
};

// The spec's property table. `f(def, field)` is called for each property in identifier order;
// works for const and non-const Properties.
template <class Props, class F>
void forEachProperty(Props& p, F&& f) {
  using T = PropType;
  f(PropDef{0x01, T::Byte, kPublish | kWill}, p.payload_format_indicator);
  f(PropDef{0x02, T::FourByte, kPublish | kWill}, p.message_expiry_interval);
  f(PropDef{0x03, T::Utf8, kPublish | kWill}, p.content_type);
  f(PropDef{0x08, T::Utf8, kPublish | kWill}, p.response_topic);
  f(PropDef{0x09, T::Binary, kPublish | kWill}, p.correlation_data);
  f(PropDef{0x0B, T::Varint, kPublish | kSubscribe}, p.subscription_identifiers);
  f(PropDef{0x11, T::FourByte, kConnect | kConnack | kDisconnect}, p.session_expiry_interval);
  f(PropDef{0x12, T::Utf8, kConnack}, p.assigned_client_identifier);
  f(PropDef{0x13, T::TwoByte, kConnack}, p.server_keep_alive);
  f(PropDef{0x15, T::Utf8, kConnect | kConnack | kAuth}, p.authentication_method);
  f(PropDef{0x16, T::Binary, kConnect | kConnack | kAuth}, p.authentication_data);
  f(PropDef{0x17, T::Byte, kConnect}, p.request_problem_information);
  f(PropDef{0x18, T::FourByte, kWill}, p.will_delay_interval);
  f(PropDef{0x19, T::Byte, kConnect}, p.request_response_information);
  f(PropDef{0x1A, T::Utf8, kConnack}, p.response_information);
  f(PropDef{0x1C, T::Utf8, kConnack | kDisconnect}, p.server_reference);
  f(PropDef{0x1F, T::Utf8, kConnack | kAck | kSuback | kUnsuback | kDisconnect | kAuth},
    p.reason_string);
  f(PropDef{0x21, T::TwoByte, kConnect | kConnack}, p.receive_maximum);
  f(PropDef{0x22, T::TwoByte, kConnect | kConnack}, p.topic_alias_maximum);
  f(PropDef{0x23, T::TwoByte, kPublish}, p.topic_alias);
  f(PropDef{0x24, T::Byte, kConnack}, p.maximum_qos);
  f(PropDef{0x25, T::Byte, kConnack}, p.retain_available);
  f(PropDef{0x26, T::Utf8Pair,
            kConnect | kConnack | kPublish | kWill | kAck | kSubscribe | kSuback | kUnsubscribe |
                kUnsuback | kDisconnect | kAuth},
    p.user_properties);
  f(PropDef{0x27, T::FourByte, kConnect | kConnack}, p.maximum_packet_size);
  f(PropDef{0x28, T::Byte, kConnack}, p.wildcard_subscription_available);
  f(PropDef{0x29, T::Byte, kConnack}, p.subscription_identifier_available);
  f(PropDef{0x2A, T::Byte, kConnack}, p.shared_subscription_available);
}

// Reading one property value into its field; the field type picks the overload. Only user
// properties and (in PUBLISH) subscription identifiers may repeat (5.0 2.2.2.2, 3.3.2.3.8).
DecodeError repeated() {
  return protocolError("property repeated");
}

bool readValue(Reader& r, const PropDef&, uint16_t, std::optional<uint8_t>& f) {
  if (f) return r.setError(repeated());
  return r.u8(f.emplace());
}
bool readValue(Reader& r, const PropDef&, uint16_t, std::optional<uint16_t>& f) {
  if (f) return r.setError(repeated());
  return r.u16(f.emplace());
}
bool readValue(Reader& r, const PropDef&, uint16_t, std::optional<uint32_t>& f) {
  if (f) return r.setError(repeated());
  return r.u32(f.emplace());
}
bool readValue(Reader& r, const PropDef& def, uint16_t, std::optional<std::string>& f) {
  if (f) return r.setError(repeated());
  return def.type == PropType::Utf8 ? r.utf8(f.emplace()) : r.binary(f.emplace());
}
bool readValue(Reader& r, const PropDef&, uint16_t where, std::vector<uint32_t>& f) {
  if (!f.empty() && !(where & kPublish)) return r.setError(repeated());
  uint32_t id = 0;
  if (!r.varint(id)) return false;
  if (id == 0) return r.setError(protocolError("subscription identifier 0"));
  f.push_back(id);
  return true;
}
bool readValue(Reader& r, const PropDef&, uint16_t, UserProperties& f) {
  std::string_view k, v;
  if (!r.utf8(k) || !r.utf8(v)) return false;
  f.emplace_back(k, v);
  return true;
}

// Values the spec calls a Protocol Error (3.1.2.11.x, 3.2.2.3.x).
bool checkPropertyValues(Reader& r, const Properties& p) {
  auto flag = [](const std::optional<uint8_t>& v) { return v && *v > 1; };
  if (flag(p.request_problem_information) || flag(p.request_response_information) ||
      flag(p.maximum_qos) || flag(p.retain_available) || flag(p.wildcard_subscription_available) ||
      flag(p.subscription_identifier_available) || flag(p.shared_subscription_available))
    return r.setError(protocolError("property value must be 0 or 1"));
  if (p.receive_maximum == uint16_t{0}) return r.setError(protocolError("receive maximum 0"));
  if (p.maximum_packet_size == uint32_t{0})
    return r.setError(protocolError("maximum packet size 0"));
  return true;
}

// Reads a property block (varint length + properties) of a packet of kind `where`.
bool readProperties(Reader& r, uint16_t where, Properties& props) {
  uint32_t len = 0;
  Reader block{Bytes{}};
  if (!r.varint(len) || !r.sub(len, block)) return false;
  while (!block.atEnd()) {
    uint32_t id = 0;
    if (!block.varint(id)) return r.setError(block.error());
    bool known = false;
    bool ok = true;
    forEachProperty(props, [&](const PropDef& def, auto& field) {
      if (def.id != id) return;
      known = true;
      // 5.0 2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
      if (!(def.where & where)) {
        ok = block.setError(malformed("property not allowed in this packet"));
      } else {
        ok = readValue(block, def, where, field);
      }
    });
    if (!known) return r.setError(malformed("unknown property identifier"));
    if (!ok) return r.setError(block.error());
  }
  return checkPropertyValues(r, props);
}

// ---------------------------------------------------------------------------------------------
// Writing

void put8(uint8_t v, Buffer& out) {
  out.push_back(v);
}
void put16(uint16_t v, Buffer& out) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xFF));
}
void put32(uint32_t v, Buffer& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
// Strings longer than a length prefix can say are cut to 65535 bytes so the packet stays
// well-formed; callers enforce real limits long before this.
std::string_view clampString(std::string_view s) {
  return s.substr(0, kMaxString);
}
void putString(std::string_view s, Buffer& out) {
  s = clampString(s);
  put16(static_cast<uint16_t>(s.size()), out);
  out.insert(out.end(), s.begin(), s.end());
}
size_t stringSize(std::string_view s) {
  return 2 + clampString(s).size();
}

// Size (identifier byte included) and encoding of one property field; absent fields give 0.
size_t valueSize(const std::optional<uint8_t>& f) {
  return f ? 2 : 0;
}
size_t valueSize(const std::optional<uint16_t>& f) {
  return f ? 3 : 0;
}
size_t valueSize(const std::optional<uint32_t>& f) {
  return f ? 5 : 0;
}
size_t valueSize(const std::optional<std::string>& f) {
  return f ? 1 + stringSize(*f) : 0;
}
size_t valueSize(const std::vector<uint32_t>& f, uint16_t where) {
  size_t n = 0;
  for (uint32_t id : f) {
    n += 1 + varintSize(id);
    if (!(where & kPublish)) break;  // only PUBLISH may carry several
  }
  return n;
}
size_t valueSize(const UserProperties& f) {
  size_t n = 0;
  for (const auto& [k, v] : f) n += 1 + stringSize(k) + stringSize(v);
  return n;
}

void putValue(uint8_t id, const std::optional<uint8_t>& f, Buffer& out) {
  if (!f) return;
  put8(id, out);
  put8(*f, out);
}
void putValue(uint8_t id, const std::optional<uint16_t>& f, Buffer& out) {
  if (!f) return;
  put8(id, out);
  put16(*f, out);
}
void putValue(uint8_t id, const std::optional<uint32_t>& f, Buffer& out) {
  if (!f) return;
  put8(id, out);
  put32(*f, out);
}
void putValue(uint8_t id, const std::optional<std::string>& f, Buffer& out) {
  if (!f) return;
  put8(id, out);
  putString(*f, out);
}
void putValue(uint8_t id, const UserProperties& f, Buffer& out) {
  for (const auto& [k, v] : f) {
    put8(id, out);
    putString(k, out);
    putString(v, out);
  }
}
void putValue(uint8_t id, const std::vector<uint32_t>& f, uint16_t where, Buffer& out) {
  for (uint32_t sub_id : f) {
    put8(id, out);
    putVarint(sub_id, out);
    if (!(where & kPublish)) break;
  }
}

// Byte count of the properties of `p` allowed in `where` (without the length prefix).
// Properties not allowed in the packet are never written, so the output is always valid.
size_t propertiesSize(const Properties& p, uint16_t where) {
  size_t n = 0;
  forEachProperty(p, [&](const PropDef& def, const auto& field) {
    if (!(def.where & where)) return;
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::vector<uint32_t>>) {
      n += valueSize(field, where);
    } else {
      n += valueSize(field);
    }
  });
  return n;
}

// Writes the property block: length, then the allowed properties in identifier order.
void putProperties(const Properties& p, uint16_t where, Buffer& out) {
  putVarint(static_cast<uint32_t>(propertiesSize(p, where)), out);
  forEachProperty(p, [&](const PropDef& def, const auto& field) {
    if (!(def.where & where)) return;
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::vector<uint32_t>>) {
      putValue(def.id, field, where, out);
    } else {
      putValue(def.id, field, out);
    }
  });
}

// Non-PUBLISH packets are written body first: beginPacket reserves the longest remaining-length
// field and finishPacket fills it in and closes the gap. These packets are small, so the shift
// costs nothing, and each encoder stays a straight list of fields. (PUBLISH, which can be large,
// computes its length up front instead.)
size_t beginPacket(uint8_t first_byte, Buffer& out) {
  const size_t start = out.size();
  out.push_back(first_byte);
  out.insert(out.end(), 4, 0);
  return start;
}
void finishPacket(size_t start, Buffer& out) {
  const size_t body = out.size() - start - 5;
  const size_t used = writeVarint(static_cast<uint32_t>(std::min<size_t>(body, kMaxVarint)),
                                  out.data() + start + 1);
  const auto gap = out.begin() + static_cast<std::ptrdiff_t>(start + 1 + used);
  out.erase(gap, gap + static_cast<std::ptrdiff_t>(4 - used));
}

uint8_t firstByte(PacketType type, uint8_t flags = 0) {
  return static_cast<uint8_t>(static_cast<uint8_t>(type) << 4 | flags);
}

// ---------------------------------------------------------------------------------------------
// Reason codes

// Reason codes each 5.0 packet may carry (5.0 2.4 and the per-packet tables).
bool reasonAllowed(PacketType type, uint8_t code) {
  auto in = [code](std::initializer_list<uint8_t> codes) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  };
  switch (type) {
    case PacketType::Connack:
      return in({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::Puback:
    case PacketType::Pubrec:
      return in({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return in({0x00, 0x92});
    case PacketType::Suback:
      return in({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::Unsuback:
      return in({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::Disconnect:
      return in({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::Auth:
      return in({0x00, 0x18, 0x19});
    default:
      return false;
  }
}

bool readReason(Reader& r, PacketType type, Reason& reason) {
  uint8_t code = 0;
  if (!r.u8(code)) return false;
  if (!reasonAllowed(type, code)) return r.setError(malformed("reason code not valid here"));
  reason = static_cast<Reason>(code);
  return true;
}

// 3.1.1 CONNACK return codes 0..5 as 5.0 reasons (the inverse of connackCode311).
bool connackReason311(uint8_t code, Reason& reason) {
  static constexpr Reason kReasons[] = {Reason::Success,
                                        Reason::UnsupportedProtocolVersion,
                                        Reason::ClientIdentifierNotValid,
                                        Reason::ServerUnavailable,
                                        Reason::BadUserNameOrPassword,
                                        Reason::NotAuthorized};
  if (code > 5) return false;
  reason = kReasons[code];
  return true;
}

// 3.1.1 SUBACK allows only granted QoS 0..2 and failure 0x80.
uint8_t subackCode311(Reason r) {
  const auto code = static_cast<uint8_t>(r);
  return code <= 2 ? code : 0x80;
}

// ---------------------------------------------------------------------------------------------
// Decoders, one per packet. `r` covers exactly the remaining-length bytes.

using Decoded = Result<Packet, DecodeError>;

bool readPacketId(Reader& r, uint16_t& id) {
  if (!r.u16(id)) return false;
  return id != 0 || r.setError(malformed("packet identifier 0"));
}

Decoded trailing() {
  return Err{malformed("remaining length longer than the packet contents")};
}

Decoded decodeConnect(Reader& r) {
  std::string_view name;
  uint8_t level = 0;
  if (!r.binary(name) || !r.u8(level)) return r.failure();
  // The broker answers these with CONNACK 0x01 (3.1.1) / 0x84 (5.0), not a bare close.
  Version version;
  if (name == "MQTT" && (level == 4 || level == 5)) {
    version = static_cast<Version>(level);
  } else if (name == "MQIsdp" && level == 3) {
    version = Version::V31;
  } else {
    return Err{DecodeError{Reason::UnsupportedProtocolVersion, "unsupported protocol"}};
  }
  const bool v5 = isV5(version);

  uint8_t flags = 0;
  Connect c;
  c.version = version;
  if (!r.u8(flags) || !r.u16(c.keep_alive)) return r.failure();
  const bool has_will = flags & 0x04;
  const auto will_qos = static_cast<uint8_t>((flags >> 3) & 0x03);
  const bool will_retain = flags & 0x20;
  const bool has_password = flags & 0x40;
  const bool has_username = flags & 0x80;
  if (flags & 0x01) return Err{malformed("CONNECT reserved flag set")};
  if (will_qos == 3) return Err{malformed("will QoS 3")};
  if (!has_will && (will_qos != 0 || will_retain))
    return Err{malformed("will QoS or retain without will flag")};
  if (!v5 && has_password && !has_username)
    return Err{malformed("password without user name")};  // 3.1.1 3.1.2-22
  c.clean_start = flags & 0x02;

  if (v5 && !readProperties(r, kConnect, c.props)) return r.failure();
  if (!r.utf8(c.client_id)) return r.failure();
  if (has_will) {
    Will& w = c.will.emplace();
    w.qos = will_qos;
    w.retain = will_retain;
    if (v5 && !readProperties(r, kWill, w.props)) return r.failure();
    if (!r.utf8(w.topic) || !r.binary(w.payload)) return r.failure();
  }
  if (has_username && !r.utf8(c.username.emplace())) return r.failure();
  if (has_password && !r.binary(c.password.emplace())) return r.failure();
  if (!r.atEnd()) return trailing();
  if (c.props.authentication_data && !c.props.authentication_method)
    return Err{protocolError("authentication data without method")};  // 5.0 3.1.2.11.10
  return Packet{std::move(c)};
}

Decoded decodeConnack(Reader& r, bool v5) {
  Connack c;
  uint8_t ack_flags = 0;
  uint8_t code = 0;
  if (!r.u8(ack_flags)) return r.failure();
  if (ack_flags & 0xFE) return Err{malformed("CONNACK reserved flags set")};
  c.session_present = ack_flags & 0x01;
  if (v5) {
    if (!readReason(r, PacketType::Connack, c.reason) || !readProperties(r, kConnack, c.props))
      return r.failure();
  } else {
    if (!r.u8(code)) return r.failure();
    if (!connackReason311(code, c.reason)) return Err{malformed("CONNACK return code > 5")};
  }
  if (!r.atEnd()) return trailing();
  return Packet{std::move(c)};
}

Decoded decodePublish(Reader& r, uint8_t flags, bool v5) {
  Publish p;
  p.dup = flags & 0x08;
  p.qos = static_cast<uint8_t>((flags >> 1) & 0x03);  // 3 was refused by badFixedHeader
  p.retain = flags & 0x01;
  if (p.qos == 0 && p.dup) return Err{malformed("DUP set on a QoS 0 PUBLISH")};  // 3.3.1-2
  if (!r.utf8(p.topic)) return r.failure();
  if (p.topic.find_first_of("+#") != std::string_view::npos)
    return Err{malformed("wildcard in PUBLISH topic")};
  if (p.qos && !readPacketId(r, p.packet_id)) return r.failure();
  if (v5 && !readProperties(r, kPublish, p.props)) return r.failure();
  // 5.0 3.3.2.3.4: an empty topic needs a topic alias; 3.1.1 4.7.3: topics are never empty.
  if (p.topic.empty() && !p.props.topic_alias)
    return Err{protocolError("empty topic without topic alias")};
  p.payload = r.rest();
  return Packet{std::move(p)};
}

// PUBACK, PUBREC, PUBREL, PUBCOMP. 5.0 3.4.2.1: with remaining length 2 the reason is Success,
// with 3 there are no properties.
Decoded decodeAck(Reader& r, PacketType type, bool v5) {
  Ack a;
  a.type = type;
  if (!readPacketId(r, a.packet_id)) return r.failure();
  if (v5 && !r.atEnd()) {
    if (!readReason(r, type, a.reason)) return r.failure();
    if (!r.atEnd() && !readProperties(r, kAck, a.props)) return r.failure();
  }
  if (!r.atEnd()) return trailing();
  return Packet{std::move(a)};
}

Decoded decodeSubscribe(Reader& r, bool v5) {
  Subscribe s;
  if (!readPacketId(r, s.packet_id)) return r.failure();
  if (v5 && !readProperties(r, kSubscribe, s.props)) return r.failure();
  // 5.0 3.8.3: no payload is a Protocol Error; 3.1.1 3.8.3-3 just says "violation".
  if (r.atEnd()) return Err{protocolError("SUBSCRIBE without topic filters")};
  while (!r.atEnd()) {
    Subscription& sub = s.subscriptions.emplace_back();
    uint8_t o = 0;
    if (!r.utf8(sub.filter) || !r.u8(o)) return r.failure();
    sub.options.qos = o & 0x03;
    if (!v5) {
      if (o & 0xFC) return Err{malformed("SUBSCRIBE options reserved bits set")};
      if (sub.options.qos == 3) return Err{malformed("SUBSCRIBE with QoS 3")};
      continue;
    }
    sub.options.no_local = o & 0x04;
    sub.options.retain_as_published = o & 0x08;
    sub.options.retain_handling = static_cast<uint8_t>((o >> 4) & 0x03);
    if (o & 0xC0) return Err{malformed("SUBSCRIBE options reserved bits set")};  // 3.8.3-5
    // 5.0 3.8.3.1 calls these two a Protocol Error.
    if (sub.options.qos == 3) return Err{protocolError("SUBSCRIBE with QoS 3")};
    if (sub.options.retain_handling == 3) return Err{protocolError("retain handling 3")};
  }
  return Packet{std::move(s)};
}

Decoded decodeSuback(Reader& r, bool v5) {
  Suback s;
  if (!readPacketId(r, s.packet_id)) return r.failure();
  if (v5 && !readProperties(r, kSuback, s.props)) return r.failure();
  if (r.atEnd()) return Err{protocolError("SUBACK without reason codes")};
  while (!r.atEnd()) {
    if (v5) {
      if (!readReason(r, PacketType::Suback, s.reasons.emplace_back())) return r.failure();
      continue;
    }
    uint8_t code = 0;
    if (!r.u8(code)) return r.failure();
    if (code > 2 && code != 0x80) return Err{malformed("SUBACK return code not 0, 1, 2 or 0x80")};
    s.reasons.push_back(code == 0x80 ? Reason::UnspecifiedError : static_cast<Reason>(code));
  }
  return Packet{std::move(s)};
}

Decoded decodeUnsubscribe(Reader& r, bool v5) {
  Unsubscribe u;
  if (!readPacketId(r, u.packet_id)) return r.failure();
  if (v5 && !readProperties(r, kUnsubscribe, u.props)) return r.failure();
  if (r.atEnd()) return Err{protocolError("UNSUBSCRIBE without topic filters")};  // 3.10.3
  while (!r.atEnd()) {
    if (!r.utf8(u.filters.emplace_back())) return r.failure();
  }
  return Packet{std::move(u)};
}

Decoded decodeUnsuback(Reader& r, bool v5) {
  Unsuback u;
  if (!readPacketId(r, u.packet_id)) return r.failure();
  if (v5) {
    if (!readProperties(r, kUnsuback, u.props)) return r.failure();
    if (r.atEnd()) return Err{protocolError("UNSUBACK without reason codes")};
    while (!r.atEnd()) {
      if (!readReason(r, PacketType::Unsuback, u.reasons.emplace_back())) return r.failure();
    }
  }
  if (!r.atEnd()) return trailing();
  return Packet{std::move(u)};
}

// DISCONNECT and AUTH (5.0): remaining length 0 means Success; properties may be omitted.
template <class T>
Decoded decodeReasonAndProps(Reader& r, PacketType type, uint16_t where) {
  T t;
  if (!r.atEnd() && !readReason(r, type, t.reason)) return r.failure();
  if (!r.atEnd() && !readProperties(r, where, t.props)) return r.failure();
  if (!r.atEnd()) return trailing();
  return Packet{std::move(t)};
}

// ---------------------------------------------------------------------------------------------
// Encoders, one per packet (PUBLISH is encodePublish).

void encodeOne(const Connect& c, Version, Buffer& out) {
  const bool v5 = isV5(c.version);
  const size_t start = beginPacket(firstByte(PacketType::Connect), out);
  putString(c.version == Version::V31 ? "MQIsdp" : "MQTT", out);
  put8(static_cast<uint8_t>(c.version), out);
  uint8_t flags = c.clean_start ? 0x02 : 0;
  if (c.will) {
    flags = static_cast<uint8_t>(flags | 0x04 | (c.will->qos & 0x03) << 3 |
                                 (c.will->retain ? 0x20 : 0));
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  put8(flags, out);
  put16(c.keep_alive, out);
  if (v5) putProperties(c.props, kConnect, out);
  putString(c.client_id, out);
  if (c.will) {
    if (v5) putProperties(c.will->props, kWill, out);
    putString(c.will->topic, out);
    putString(c.will->payload, out);
  }
  if (c.username) putString(*c.username, out);
  if (c.password) putString(*c.password, out);
  finishPacket(start, out);
}

void encodeOne(const Connack& c, Version version, Buffer& out) {
  const size_t start = beginPacket(firstByte(PacketType::Connack), out);
  put8(c.session_present ? 1 : 0, out);
  if (isV5(version)) {
    put8(static_cast<uint8_t>(c.reason), out);
    putProperties(c.props, kConnack, out);
  } else {
    put8(connackCode311(c.reason), out);
  }
  finishPacket(start, out);
}

void encodeOne(const Publish& p, Version version, Buffer& out) {
  encodePublish(p, version, out);
}

void encodeOne(const Ack& a, Version version, Buffer& out) {
  const uint8_t flags = a.type == PacketType::Pubrel ? 0x02 : 0;
  const size_t start = beginPacket(firstByte(a.type, flags), out);
  put16(a.packet_id, out);
  if (isV5(version)) {
    // Shortest form allowed by 5.0 3.4.2.1: drop what is implied.
    const bool has_props = propertiesSize(a.props, kAck) > 0;
    if (a.reason != Reason::Success || has_props) put8(static_cast<uint8_t>(a.reason), out);
    if (has_props) putProperties(a.props, kAck, out);
  }
  finishPacket(start, out);
}

void encodeOne(const Subscribe& s, Version version, Buffer& out) {
  const bool v5 = isV5(version);
  const size_t start = beginPacket(firstByte(PacketType::Subscribe, 0x02), out);
  put16(s.packet_id, out);
  if (v5) putProperties(s.props, kSubscribe, out);
  for (const Subscription& sub : s.subscriptions) {
    putString(sub.filter, out);
    const SubscribeOptions& o = sub.options;
    uint8_t bits = o.qos & 0x03;
    if (v5) {
      bits =
          static_cast<uint8_t>(bits | (o.no_local ? 0x04 : 0) | (o.retain_as_published ? 0x08 : 0) |
                               (o.retain_handling & 0x03) << 4);
    }
    put8(bits, out);
  }
  finishPacket(start, out);
}

void encodeOne(const Suback& s, Version version, Buffer& out) {
  const bool v5 = isV5(version);
  const size_t start = beginPacket(firstByte(PacketType::Suback), out);
  put16(s.packet_id, out);
  if (v5) putProperties(s.props, kSuback, out);
  for (Reason r : s.reasons) put8(v5 ? static_cast<uint8_t>(r) : subackCode311(r), out);
  finishPacket(start, out);
}

void encodeOne(const Unsubscribe& u, Version version, Buffer& out) {
  const size_t start = beginPacket(firstByte(PacketType::Unsubscribe, 0x02), out);
  put16(u.packet_id, out);
  if (isV5(version)) putProperties(u.props, kUnsubscribe, out);
  for (const std::string& f : u.filters) putString(f, out);
  finishPacket(start, out);
}

void encodeOne(const Unsuback& u, Version version, Buffer& out) {
  const size_t start = beginPacket(firstByte(PacketType::Unsuback), out);
  put16(u.packet_id, out);
  if (isV5(version)) {
    putProperties(u.props, kUnsuback, out);
    for (Reason r : u.reasons) put8(static_cast<uint8_t>(r), out);
  }
  finishPacket(start, out);
}

void encodeOne(const Pingreq&, Version, Buffer& out) {
  out.push_back(firstByte(PacketType::Pingreq));
  out.push_back(0);
}
void encodeOne(const Pingresp&, Version, Buffer& out) {
  out.push_back(firstByte(PacketType::Pingresp));
  out.push_back(0);
}

void encodeOne(const Disconnect& d, Version version, Buffer& out) {
  const size_t start = beginPacket(firstByte(PacketType::Disconnect), out);
  if (isV5(version)) {
    // 5.0 3.14.2.1: remaining length 0 for Success without properties, 1 without properties.
    const bool has_props = propertiesSize(d.props, kDisconnect) > 0;
    if (d.reason != Reason::Success || has_props) put8(static_cast<uint8_t>(d.reason), out);
    if (has_props) putProperties(d.props, kDisconnect, out);
  }
  finishPacket(start, out);
}

// AUTH exists only in 5.0; for 3.1.1 nothing is written.
void encodeOne(const Auth& a, Version version, Buffer& out) {
  if (!isV5(version)) return;
  const size_t start = beginPacket(firstByte(PacketType::Auth), out);
  if (a.reason != Reason::Success || propertiesSize(a.props, kAuth) > 0) {
    put8(static_cast<uint8_t>(a.reason), out);
    putProperties(a.props, kAuth, out);
  }
  finishPacket(start, out);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public functions

size_t varintSize(uint32_t value) {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  return 4;
}

void putVarint(uint32_t value, Buffer& out) {
  uint8_t bytes[4];
  const size_t used = writeVarint(value, bytes);
  out.insert(out.end(), bytes, bytes + used);
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<uint8_t>(s[i]);
    if (lead < 0x80) {  // ASCII: the common case for topics
      if (lead == 0) return false;
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t cp = 0;
    if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      cp = lead & 0x07;
    } else {
      return false;  // continuation byte or 0xF8..0xFF as a lead byte
    }
    if (s.size() - i - 1 < extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = cp << 6 | (b & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra]) return false;     // overlong form
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // UTF-16 surrogate
    if (cp > 0x10FFFF) return false;
    i += 1 + extra;
  }
  return true;
}

Result<FrameScan, DecodeError> readFrame(Bytes buf, uint32_t max_packet_size) {
  FrameScan scan;
  if (buf.empty()) return scan;
  if (const char* bad = badFixedHeader(buf[0])) return Err{malformed(bad)};
  uint32_t remaining = 0;
  size_t used = 0;
  switch (parseVarint(buf.subspan(1), remaining, used)) {
    case VarintStatus::Short:
      return scan;  // header_size stays 0: length not known yet
    case VarintStatus::Bad:
      return Err{malformed("bad remaining length")};
    case VarintStatus::Ok:
      break;
  }
  scan.frame.first_byte = buf[0];
  scan.frame.header_size = 1 + used;
  scan.frame.remaining_length = remaining;
  // Refuse before the body arrives, so a client cannot make us buffer it (5.0 3.1.2.11.4).
  if (scan.frame.total() > max_packet_size)
    return Err{DecodeError{Reason::PacketTooLarge, "packet larger than the maximum size"}};
  scan.complete = buf.size() >= scan.frame.total();
  return scan;
}

Result<Packet, DecodeError> decode(const Frame& frame, Bytes packet, Version version) {
  if (frame.header_size == 0 || packet.size() < frame.total())
    return Err{malformed("packet shorter than its frame")};
  if (const char* bad = badFixedHeader(frame.first_byte)) return Err{malformed(bad)};
  Reader r(packet.subspan(frame.header_size, frame.remaining_length));
  const bool v5 = isV5(version);
  switch (frame.type()) {
    case PacketType::Connect:
      return decodeConnect(r);
    case PacketType::Connack:
      return decodeConnack(r, v5);
    case PacketType::Publish:
      return decodePublish(r, frame.first_byte & 0x0F, v5);
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return decodeAck(r, frame.type(), v5);
    case PacketType::Subscribe:
      return decodeSubscribe(r, v5);
    case PacketType::Suback:
      return decodeSuback(r, v5);
    case PacketType::Unsubscribe:
      return decodeUnsubscribe(r, v5);
    case PacketType::Unsuback:
      return decodeUnsuback(r, v5);
    case PacketType::Pingreq:
      return r.atEnd() ? Decoded{Packet{Pingreq{}}} : trailing();
    case PacketType::Pingresp:
      return r.atEnd() ? Decoded{Packet{Pingresp{}}} : trailing();
    case PacketType::Disconnect:
      if (!v5) return r.atEnd() ? Decoded{Packet{Disconnect{}}} : trailing();
      return decodeReasonAndProps<Disconnect>(r, PacketType::Disconnect, kDisconnect);
    case PacketType::Auth:
      if (!v5) return Err{malformed("AUTH is reserved in MQTT 3.1.1")};
      return decodeReasonAndProps<Auth>(r, PacketType::Auth, kAuth);
  }
  return Err{malformed("reserved packet type 0")};
}

void encode(const Packet& packet, Version version, Buffer& out) {
  std::visit([&](const auto& p) { encodeOne(p, version, out); }, packet);
}

size_t encodePublish(const Publish& p, Version version, Buffer& out) {
  const bool v5 = isV5(version);
  const size_t props_size = v5 ? propertiesSize(p.props, kPublish) : 0;
  const size_t remaining = stringSize(p.topic) + (p.qos ? 2 : 0) +
                           (v5 ? varintSize(static_cast<uint32_t>(props_size)) + props_size : 0) +
                           p.payload.size();
  // One allocation at most: this encoding is shared by every subscriber.
  out.reserve(out.size() + 5 + remaining);
  const size_t start = out.size();
  out.push_back(firstByte(
      PacketType::Publish,
      static_cast<uint8_t>((p.dup ? 0x08 : 0) | (p.qos & 0x03) << 1 | (p.retain ? 0x01 : 0))));
  putVarint(static_cast<uint32_t>(std::min<size_t>(remaining, kMaxVarint)), out);
  putString(p.topic, out);
  size_t id_offset = 0;
  if (p.qos) {
    id_offset = out.size() - start;
    put16(p.packet_id, out);
  }
  if (v5) putProperties(p.props, kPublish, out);
  out.insert(out.end(), p.payload.begin(), p.payload.end());
  return id_offset;
}

}  // namespace parley::mqtt
