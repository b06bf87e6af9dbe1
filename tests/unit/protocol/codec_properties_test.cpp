// 5.0 properties: the per-packet allowed table (spec 2.2.2.2, restated here per packet from
// sections 3.1-3.15 so the codec's table is checked against an independent copy), and the
// encoder keeping its output valid.
#include <map>
#include <set>

#include "codec_test_util.hpp"

namespace parley::mqtt::test {
namespace {

// A valid encoding of each property, identifier first.
const std::map<uint8_t, const char*> kSampleProperty = {
    {0x01, "01 01"},
    {0x02, "02 00 00 00 01"},
    {0x03, "03 00 01 61"},
    {0x08, "08 00 01 61"},
    {0x09, "09 00 01 61"},
    {0x0B, "0b 01"},
    {0x11, "11 00 00 00 01"},
    {0x12, "12 00 01 61"},
    {0x13, "13 00 01"},
    {0x15, "15 00 01 61"},
    {0x16, "16 00 01 61"},
    {0x17, "17 01"},
    {0x18, "18 00 00 00 01"},
    {0x19, "19 01"},
    {0x1A, "1a 00 01 61"},
    {0x1C, "1c 00 01 61"},
    {0x1F, "1f 00 01 61"},
    {0x21, "21 00 01"},
    {0x22, "22 00 01"},
    {0x23, "23 00 01"},
    {0x24, "24 01"},
    {0x25, "25 01"},
    {0x26, "26 00 01 61 00 01 62"},
    {0x27, "27 00 00 00 01"},
    {0x28, "28 01"},
    {0x29, "29 01"},
    {0x2A, "2a 01"},
};

struct PacketShape {
  const char* name;
  uint8_t first_byte;
  const char* before;  // bytes before the property block
  const char* after;   // bytes after it
  std::set<uint8_t> allowed;
};

const PacketShape kShapes[] = {
    {"connect",
     0x10,
     "00 04 4d 51 54 54 05 02 00 3c",
     "00 01 63",
     {0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16}},
    {"will",
     0x10,
     "00 04 4d 51 54 54 05 06 00 3c 00 00 01 63",
     "00 01 77 00 00",
     {0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26}},
    {"connack",
     0x20,
     "00 00",
     "",
     {0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1F, 0x26, 0x28, 0x29, 0x2A, 0x13, 0x1A, 0x1C,
      0x15, 0x16}},
    {"publish", 0x30, "00 01 74", "", {0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0B, 0x03}},
    {"puback", 0x40, "00 01 00", "", {0x1F, 0x26}},
    {"pubrec", 0x50, "00 01 00", "", {0x1F, 0x26}},
    {"pubrel", 0x62, "00 01 00", "", {0x1F, 0x26}},
    {"pubcomp", 0x70, "00 01 00", "", {0x1F, 0x26}},
    {"subscribe", 0x82, "00 01", "00 01 61 00", {0x0B, 0x26}},
    {"suback", 0x90, "00 01", "00", {0x1F, 0x26}},
    {"unsubscribe", 0xA2, "00 01", "00 01 61", {0x26}},
    {"unsuback", 0xB0, "00 01", "00", {0x1F, 0x26}},
    {"disconnect", 0xE0, "00", "", {0x11, 0x1F, 0x26, 0x1C}},
    {"auth", 0xF0, "00", "", {0x15, 0x16, 0x1F, 0x26}},
};

Buffer packetWith(const PacketShape& shape, const Buffer& props) {
  Buffer body = hex(shape.before);
  putVarint(static_cast<uint32_t>(props.size()), body);
  body.insert(body.end(), props.begin(), props.end());
  const Buffer after = hex(shape.after);
  body.insert(body.end(), after.begin(), after.end());
  Buffer out{shape.first_byte};
  putVarint(static_cast<uint32_t>(body.size()), out);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void PrintTo(const PacketShape& s, std::ostream* os) {
  *os << s.name;
}

class AllowedTable : public ::testing::TestWithParam<PacketShape> {};

TEST_P(AllowedTable, MatchesTheSpec) {
  const PacketShape& shape = GetParam();
  ASSERT_EQ(errorOf(packetWith(shape, {}), Version::V5), Reason::Success) << "base packet";
  for (const auto& [id, wire] : kSampleProperty) {
    SCOPED_TRACE(testing::Message() << "property 0x" << std::hex << int{id});
    const Reason got = errorOf(packetWith(shape, hex(wire)), Version::V5);
    if (shape.allowed.count(id)) {
      // Authentication Data alone in CONNECT is a Protocol Error (3.1.2.11.10), not a grammar
      // error: it is still an allowed identifier.
      const bool lone_auth_data = id == 0x16 && shape.first_byte == 0x10;
      EXPECT_EQ(got, lone_auth_data ? Reason::ProtocolError : Reason::Success);
    } else {
      EXPECT_EQ(got, Reason::MalformedPacket);  // 2.2.2.2: not valid for the packet type
    }
  }
}

TEST_P(AllowedTable, OnlyUserPropertyRepeats) {
  const PacketShape& shape = GetParam();
  for (uint8_t id : shape.allowed) {
    SCOPED_TRACE(testing::Message() << "property 0x" << std::hex << int{id});
    Buffer twice = hex(kSampleProperty.at(id));
    const Buffer once = twice;
    twice.insert(twice.end(), once.begin(), once.end());
    if (id == 0x15 || id == 0x16) {  // keep CONNECT's method/data rule out of the way
      continue;
    }
    const bool may_repeat = id == 0x26 || (id == 0x0B && shape.first_byte == 0x30);
    EXPECT_EQ(errorOf(packetWith(shape, twice), Version::V5),
              may_repeat ? Reason::Success : Reason::ProtocolError);
  }
}

INSTANTIATE_TEST_SUITE_P(Codec, AllowedTable, ::testing::ValuesIn(kShapes),
                         [](const auto& i) { return std::string(i.param.name); });

TEST(Properties, AuthenticationPairRepeatedIsProtocolError) {
  const PacketShape& auth = kShapes[std::size(kShapes) - 1];
  EXPECT_EQ(errorOf(packetWith(auth, hex("15 00 01 61 15 00 01 62")), Version::V5),
            Reason::ProtocolError);
  EXPECT_EQ(errorOf(packetWith(auth, hex("15 00 01 61 16 00 01 62 16 00 01 63")), Version::V5),
            Reason::ProtocolError);
}

TEST(Properties, EncoderWritesOnlyWhatThePacketAllows) {
  Connack c;
  c.props.topic_alias = 4;          // PUBLISH only
  c.props.will_delay_interval = 9;  // will only
  c.props.reason_string = "kept";
  auto r = decodeAll(encoded(c, Version::V5), Version::V5);
  ASSERT_TRUE(r) << r.error().what;
  Connack expected;
  expected.props.reason_string = "kept";
  EXPECT_TRUE(std::get<Connack>(*r) == expected);

  Subscribe s{1, {}, {{"a", {}}}};
  s.props.subscription_identifiers = {5, 6};  // only one is allowed outside PUBLISH
  r = decodeAll(encoded(s, Version::V5), Version::V5);
  ASSERT_TRUE(r) << r.error().what;
  EXPECT_EQ(std::get<Subscribe>(*r).props.subscription_identifiers, std::vector<uint32_t>{5});
}

TEST(Properties, AckWithOnlyDisallowedPropertiesUsesShortForm) {
  Ack a{PacketType::Puback, 1, Reason::Success, {}};
  a.props.topic_alias = 2;
  EXPECT_EQ(toHex(encoded(a, Version::V5)), "40 02 00 01");
}

TEST(Properties, ValuesKeepTheirTypes) {
  // Four-byte and two-byte integers at their extremes, a 3-byte varint, binary with zeros.
  Publish p;
  p.topic = "t";
  p.props.message_expiry_interval = 0xFFFFFFFF;
  p.props.topic_alias = 0xFFFF;
  p.props.subscription_identifiers = {2097151};
  p.props.correlation_data = std::string("\0\0", 2);
  const Buffer b = encoded(p, Version::V5);
  EXPECT_EQ(toHex(b), "30 15 00 01 74 11 02 ff ff ff ff 09 00 02 00 00 0b ff ff 7f 23 ff ff");
  auto r = decodeAll(b, Version::V5);
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::get<Publish>(*r) == p);
}

}  // namespace
}  // namespace parley::mqtt::test
