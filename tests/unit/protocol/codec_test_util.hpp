// Helpers shared by the codec tests: hex literals for wire bytes, and one-call encode/decode.
#pragma once
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>

#include "codec.hpp"

namespace parley::mqtt::test {

// "10 0f 00 04" -> bytes. Spaces are ignored so packets can be laid out field by field.
inline Buffer hex(std::string_view s) {
  Buffer out;
  int high = -1;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const int v = std::isdigit(static_cast<unsigned char>(c))
                      ? c - '0'
                      : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

inline std::string toHex(const Buffer& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t byte : b) {
    if (!s.empty()) s += ' ';
    s += kDigits[byte >> 4];
    s += kDigits[byte & 0x0F];
  }
  return s;
}

inline Buffer encoded(const Packet& p, Version v) {
  Buffer out;
  encode(p, v, out);
  return out;
}

// Frames and decodes exactly one packet that must fill `bytes`.
inline Result<Packet, DecodeError> decodeAll(const Buffer& bytes, Version v,
                                             uint32_t max_packet_size = UINT32_MAX) {
  auto scan = readFrame(bytes, max_packet_size);
  if (!scan) return Err{scan.error()};
  if (!scan->complete) return Err{DecodeError{Reason::UnspecifiedError, "incomplete frame"}};
  EXPECT_EQ(scan->frame.total(), bytes.size()) << "frame does not cover the whole buffer";
  return decode(scan->frame, bytes, v);
}

// The decode error for `bytes`, or Success when it decoded.
inline Reason errorOf(const Buffer& bytes, Version v) {
  auto r = decodeAll(bytes, v);
  return r ? Reason::Success : r.error().reason;
}

}  // namespace parley::mqtt::test

namespace parley::mqtt {
// Lets gtest print reason codes as hex instead of raw bytes.
inline void PrintTo(Reason r, std::ostream* os) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(r));
  *os << buf;
}
}  // namespace parley::mqtt
