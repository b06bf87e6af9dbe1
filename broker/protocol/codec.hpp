// The MQTT codec: pure functions over byte spans. No I/O, no allocation beyond the packet values
// and the caller's output buffer. Decoding is two steps: `readFrame` finds one whole packet in a
// stream buffer (or says more bytes are needed), `decode` turns that packet's body into a value and
// checks everything the specs call malformed or a protocol error. Errors carry the 5.0 reason code
// the broker sends in DISCONNECT (or CONNACK); for 3.1.1 the broker simply closes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "packets.hpp"
#include "result.hpp"

namespace parley::mqtt {

using Bytes = std::span<const uint8_t>;
using Buffer = std::vector<uint8_t>;

struct DecodeError {
  Reason reason = Reason::MalformedPacket;  // MalformedPacket, ProtocolError, PacketTooLarge, ...
  const char* what = "";                    // static text for the log line
};

// One packet located in a stream buffer.
struct Frame {
  uint8_t first_byte = 0;      // packet type << 4 | flags
  size_t header_size = 0;      // fixed header: 1 byte + 1..4 bytes of remaining length
  uint32_t remaining_length = 0;
  size_t total() const { return header_size + remaining_length; }
  PacketType type() const { return static_cast<PacketType>(first_byte >> 4); }
};

// Result of looking for a frame: `complete == false` means "need more bytes".
struct FrameScan {
  bool complete = false;
  Frame frame;
};

// Looks at the start of `buf`. Errors: bad variable-length integer (MalformedPacket), a total size
// above `max_packet_size` (PacketTooLarge), packet type 0 or reserved flag bits wrong
// (MalformedPacket). Never reads past `buf`.
Result<FrameScan, DecodeError> readFrame(Bytes buf, uint32_t max_packet_size);

// Decodes one whole packet: `packet` is exactly `frame.total()` bytes starting at the fixed header.
// `version` is the connection's negotiated version; for CONNECT it is ignored (CONNECT carries its
// own). Checks: field lengths, UTF-8 validity of strings (spec 1.5.4: no U+0000, no surrogates, no
// overlong forms), properties allowed for the packet type and not repeated where forbidden, QoS 3,
// packet id 0 where one is required, reserved bits, empty SUBSCRIBE/UNSUBSCRIBE payloads, wildcard
// characters in a PUBLISH topic, CONNECT protocol name/level (UnsupportedProtocolVersion).
// Does not check topic filter syntax (the topics library does that, to answer per filter).
Result<Packet, DecodeError> decode(const Frame& frame, Bytes packet, Version version);

// Appends the encoding of `packet` for `version` to `out`. Properties are written only for 5.0.
// For 3.1.1 the 5.0-only fields are dropped (Reason in PUBACK etc., reason codes in UNSUBACK).
void encode(const Packet& packet, Version version, Buffer& out);

// Encodes a PUBLISH and returns the offset within `out` (from the position encoding started) of its
// 2-byte packet identifier, or 0 for QoS 0. Lets one encoding be shared by many subscribers with
// only the packet id patched in each copy (see patchPacketId).
size_t encodePublish(const Publish& publish, Version version, Buffer& out);
inline void patchPacketId(uint8_t* at, uint16_t id) {
  at[0] = static_cast<uint8_t>(id >> 8);
  at[1] = static_cast<uint8_t>(id & 0xFF);
}

// Helpers exposed for tests and for the bench tool.
size_t varintSize(uint32_t value);
void putVarint(uint32_t value, Buffer& out);
bool validUtf8(std::string_view s);  // MQTT rules: well-formed, no U+0000, no surrogates

}  // namespace parley::mqtt
