// readFrame: finding packets in a byte stream, variable-length integers, size limits.
#include "codec_test_util.hpp"

namespace parley::mqtt::test {
namespace {

TEST(Varint, SizesAndSpecExamples) {
  // 3.1.1 table 2.4 / 5.0 table 1-1: the boundaries of each length.
  const std::pair<uint32_t, const char*> cases[] = {{0, "00"},
                                                    {127, "7f"},
                                                    {128, "80 01"},
                                                    {16383, "ff 7f"},
                                                    {16384, "80 80 01"},
                                                    {2097151, "ff ff 7f"},
                                                    {2097152, "80 80 80 01"},
                                                    {268435455, "ff ff ff 7f"}};
  for (const auto& [value, wire] : cases) {
    Buffer out;
    putVarint(value, out);
    EXPECT_EQ(toHex(out), toHex(hex(wire))) << value;
    EXPECT_EQ(varintSize(value), out.size()) << value;
  }
}

TEST(ReadFrame, EmptyBufferNeedsMore) {
  auto scan = readFrame(Bytes{}, 1024);
  ASSERT_TRUE(scan);
  EXPECT_FALSE(scan->complete);
  EXPECT_EQ(scan->frame.header_size, 0u);
}

TEST(ReadFrame, FindsOnePacket) {
  const Buffer b = hex("30 05 00 01 61 68 69  c0");  // PUBLISH "a" "hi", then the start of a ping
  auto scan = readFrame(b, 1024);
  ASSERT_TRUE(scan);
  ASSERT_TRUE(scan->complete);
  EXPECT_EQ(scan->frame.type(), PacketType::Publish);
  EXPECT_EQ(scan->frame.first_byte, 0x30);
  EXPECT_EQ(scan->frame.header_size, 2u);
  EXPECT_EQ(scan->frame.remaining_length, 5u);
  EXPECT_EQ(scan->frame.total(), 7u);
}

TEST(ReadFrame, EveryPrefixNeedsMoreBytes) {
  Publish p;
  p.qos = 1;
  p.packet_id = 7;
  p.topic = "chat/room";
  const std::string payload(300, 'x');  // two-byte remaining length
  p.payload = payload;
  Buffer b;
  encodePublish(p, Version::V5, b);
  for (size_t n = 0; n < b.size(); ++n) {
    auto scan = readFrame(Bytes(b.data(), n), UINT32_MAX);
    ASSERT_TRUE(scan) << n;
    EXPECT_FALSE(scan->complete) << n;
    // Once the length field is complete the caller learns how much to wait for.
    if (n >= 3) {
      EXPECT_EQ(scan->frame.total(), b.size()) << n;
    } else {
      EXPECT_EQ(scan->frame.header_size, 0u) << n;
    }
  }
  auto scan = readFrame(b, UINT32_MAX);
  ASSERT_TRUE(scan);
  EXPECT_TRUE(scan->complete);
}

TEST(ReadFrame, SplitsAStreamOfPackets) {
  Buffer stream;
  encode(Pingreq{}, Version::V311, stream);
  Publish p;
  p.topic = "t";
  p.payload = "one";
  encode(p, Version::V311, stream);
  encode(Ack{PacketType::Puback, 9, Reason::Success, {}}, Version::V311, stream);

  std::vector<PacketType> types;
  Bytes rest(stream);
  while (!rest.empty()) {
    auto scan = readFrame(rest, 1024);
    ASSERT_TRUE(scan);
    ASSERT_TRUE(scan->complete);
    auto pkt = decode(scan->frame, rest.first(scan->frame.total()), Version::V311);
    ASSERT_TRUE(pkt) << pkt.error().what;
    types.push_back(scan->frame.type());
    rest = rest.subspan(scan->frame.total());
  }
  EXPECT_EQ(types, (std::vector{PacketType::Pingreq, PacketType::Publish, PacketType::Puback}));
}

TEST(ReadFrame, VarintLongerThanFourBytesIsMalformed) {
  auto scan = readFrame(hex("30 ff ff ff ff 01"), UINT32_MAX);
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, Reason::MalformedPacket);
  // Already decidable after the fourth continuation byte.
  scan = readFrame(hex("30 ff ff ff ff"), UINT32_MAX);
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, Reason::MalformedPacket);
}

TEST(ReadFrame, NonMinimalVarintIsMalformed) {
  auto scan = readFrame(hex("c0 80 00"), UINT32_MAX);  // 0 written in two bytes (5.0 1.5.5-1)
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, Reason::MalformedPacket);
}

TEST(ReadFrame, PacketTypeZeroIsMalformed) {
  auto scan = readFrame(hex("00 00"), 1024);
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, Reason::MalformedPacket);
  EXPECT_STRNE(scan.error().what, "");
}

TEST(ReadFrame, ReservedFlagBits) {
  // SUBSCRIBE, UNSUBSCRIBE and PUBREL must carry 0010; every other type except PUBLISH 0000.
  for (const char* ok : {"82 00", "a2 00", "62 00", "10 00", "20 00", "40 00", "c0 00", "e0 00",
                         "f0 00", "3b 00", "30 00", "35 00"}) {
    auto scan = readFrame(hex(ok), 1024);
    EXPECT_TRUE(scan) << ok;
  }
  for (const char* bad :
       {"80 00", "83 00", "a0 00", "a3 00", "60 00", "64 00", "11 00", "28 00", "41 00", "58 00",
        "72 00", "92 00", "b1 00", "c1 00", "d8 00", "e2 00", "f1 00", "36 00", "3f 00"}) {
    auto scan = readFrame(hex(bad), 1024);
    ASSERT_FALSE(scan) << bad;
    EXPECT_EQ(scan.error().reason, Reason::MalformedPacket) << bad;
  }
}

TEST(ReadFrame, MaxPacketSize) {
  Publish p;
  p.topic = "t";
  const std::string payload(100, 'x');
  p.payload = payload;
  Buffer b;
  encodePublish(p, Version::V311, b);
  const auto size = static_cast<uint32_t>(b.size());

  auto at_limit = readFrame(b, size);
  ASSERT_TRUE(at_limit);
  EXPECT_TRUE(at_limit->complete);

  auto over = readFrame(b, size - 1);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().reason, Reason::PacketTooLarge);

  // Refused from the header alone, before the body is buffered.
  auto header_only = readFrame(Bytes(b.data(), 2), size - 1);
  ASSERT_FALSE(header_only);
  EXPECT_EQ(header_only.error().reason, Reason::PacketTooLarge);
}

TEST(ReadFrame, HugeRemainingLengthIsTooLargeNotAnOverflow) {
  auto scan = readFrame(hex("30 ff ff ff 7f"), 256 * 1024);
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, Reason::PacketTooLarge);
  scan = readFrame(hex("30 ff ff ff 7f"), UINT32_MAX);
  ASSERT_TRUE(scan);
  EXPECT_FALSE(scan->complete);
  EXPECT_EQ(scan->frame.total(), 5u + 268435455u);
}

TEST(Decode, FrameLongerThanTheSpanIsRefused) {
  const Buffer b = hex("30 05 00 01 61 68 69");
  auto scan = readFrame(b, 1024);
  ASSERT_TRUE(scan);
  auto r = decode(scan->frame, Bytes(b.data(), b.size() - 1), Version::V311);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, Reason::MalformedPacket);
}

}  // namespace
}  // namespace parley::mqtt::test
