// libFuzzer target for the MQTT codec (broker/protocol). The input is a byte stream as it would
// arrive on a socket. It is split into frames and decoded three ways: as a 3.1.1 connection, as a
// 5.0 connection, and as a real connection would (3.1.1 until a CONNECT names its version). Every
// packet that decodes is encoded again and must decode to the same value and re-encode to the
// same bytes. Any violated expectation aborts, so libFuzzer keeps the input.
//
// The same function replays the checked-in corpus in the normal test suite (test_fuzz_corpus).
#include <cstdio>
#include <cstdlib>

#include "codec.hpp"

namespace {

using namespace parley::mqtt;

constexpr uint32_t kMaxPacketSize = 1 << 20;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_codec: %s\n", what);
  std::abort();
}

void checkError(const DecodeError& e) {
  check(e.what != nullptr && e.what[0] != '\0', "error without a description");
  check(e.reason == Reason::MalformedPacket || e.reason == Reason::ProtocolError ||
            e.reason == Reason::UnsupportedProtocolVersion || e.reason == Reason::PacketTooLarge,
        "unexpected error reason");
}

// encode → decode must give back `packet`, and encoding must be deterministic.
void checkRoundTrip(const Packet& packet, Version version) {
  Buffer first;
  encode(packet, version, first);
  auto scan = readFrame(first, UINT32_MAX);
  check(scan.ok() && scan->complete && scan->frame.total() == first.size(),
        "re-encoded packet is not one whole frame");
  auto again = decode(scan->frame, first, version);
  if (!again) std::fprintf(stderr, "fuzz_codec: %s\n", again.error().what);
  check(again.ok(), "re-encoded packet does not decode");
  check(*again == packet, "round trip changed the packet");
  Buffer second;
  encode(*again, version, second);
  check(second == first, "encoding is not deterministic");
}

// Decodes every whole frame in `stream`. With `follow_connect`, a CONNECT switches the version
// for the packets after it, as the broker does.
void decodeStream(Bytes stream, Version version, bool follow_connect) {
  while (!stream.empty()) {
    auto scan = readFrame(stream, kMaxPacketSize);
    if (!scan) {
      checkError(scan.error());
      return;
    }
    if (!scan->complete) return;
    const Frame frame = scan->frame;
    check(frame.header_size >= 2 && frame.header_size <= 5, "bad header size");
    check(frame.total() <= stream.size() && frame.total() <= kMaxPacketSize, "frame overruns");

    // One byte fewer must mean "need more bytes", never an error.
    auto shorter = readFrame(stream.first(frame.total() - 1), kMaxPacketSize);
    check(shorter.ok() && !shorter->complete, "a prefix of a whole frame was not incomplete");

    auto packet = decode(frame, stream.first(frame.total()), version);
    if (!packet) {
      checkError(packet.error());
      return;  // the broker closes the connection here
    }
    check(!std::holds_alternative<Auth>(*packet) || isV5(version), "AUTH decoded in 3.1.1");
    checkRoundTrip(*packet, version);
    if (follow_connect) {
      if (const auto* c = std::get_if<Connect>(&*packet))
        version = c->version == Version::V31 ? Version::V311 : c->version;
    }
    stream = stream.subspan(frame.total());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes input(data, size);
  decodeStream(input, Version::V311, false);
  decodeStream(input, Version::V5, false);
  decodeStream(input, Version::V311, true);
  // The UTF-8 checker on its own: it must never read out of bounds.
  (void)validUtf8(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
