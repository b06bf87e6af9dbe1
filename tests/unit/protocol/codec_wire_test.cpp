// Byte-exact checks against wire bytes written by hand from the 3.1.1 and 5.0 specs.
#include "codec_test_util.hpp"

namespace parley::mqtt::test {
namespace {

struct WireCase {
  const char* name;
  Packet packet;
  Version version;
  const char* wire;
};

Connect minimalConnect(Version v) {
  Connect c;
  c.version = v;
  c.keep_alive = 60;
  c.client_id = v == Version::V31 ? "c" : "abc";
  return c;
}

Connect fullConnect311() {
  Connect c;
  c.version = Version::V311;
  c.keep_alive = 10;
  c.client_id = "c";
  c.will = Will{"w", "bye", 1, true, {}};
  c.username = "u";
  c.password = "p";
  return c;
}

Connect connect5() {
  Connect c = minimalConnect(Version::V5);
  c.props.session_expiry_interval = 10;
  c.props.receive_maximum = 20;
  return c;
}

Publish publish(uint8_t qos, uint16_t id, std::string_view topic, std::string_view payload) {
  Publish p;
  p.qos = qos;
  p.packet_id = id;
  p.topic = topic;
  p.payload = payload;
  return p;
}

Publish aliasedPublish() {
  Publish p = publish(0, 0, "", "hi");
  p.props.topic_alias = 1;
  return p;
}

Subscribe subscribe(SubscribeOptions o) {
  return Subscribe{1, {}, {{"a/b", o}}};
}

Subscribe subscribeWithId() {
  Subscribe s = subscribe({1, true, true, 2});
  s.props.subscription_identifiers = {300};
  return s;
}

Connack connackWithReasonString() {
  Connack c{false, Reason::NotAuthorized, {}};
  c.props.reason_string = "no";
  return c;
}

Ack ackWithReasonString() {
  Ack a{PacketType::Pubrec, 1, Reason::UnspecifiedError, {}};
  a.props.reason_string = "x";
  return a;
}

Disconnect disconnectWithExpiry() {
  Disconnect d;
  d.props.session_expiry_interval = 0;
  return d;
}

Auth authContinue() {
  Auth a{Reason::ContinueAuthentication, {}};
  a.props.authentication_method = "m";
  return a;
}

const WireCase kCases[] = {
    {"connect311", minimalConnect(Version::V311), Version::V311,
     "10 0f  00 04 4d 51 54 54  04  02  00 3c  00 03 61 62 63"},
    {"connect311_will_user_password", fullConnect311(), Version::V311,
     "10 1b  00 04 4d 51 54 54  04  ee  00 0a  00 01 63  00 01 77  00 03 62 79 65  00 01 75  "
     "00 01 70"},
    {"connect31_mqisdp", minimalConnect(Version::V31), Version::V311,
     "10 0f  00 06 4d 51 49 73 64 70  03  02  00 3c  00 01 63"},
    {"connect5_properties", connect5(), Version::V5,
     "10 18  00 04 4d 51 54 54  05  02  00 3c  08 11 00 00 00 0a 21 00 14  00 03 61 62 63"},
    {"connack311_session_present", Connack{true, Reason::Success, {}}, Version::V311,
     "20 02 01 00"},
    {"connack311_not_authorized", Connack{false, Reason::NotAuthorized, {}}, Version::V311,
     "20 02 00 05"},
    {"connack5", Connack{}, Version::V5, "20 03 00 00 00"},
    {"connack5_reason_string", connackWithReasonString(), Version::V5,
     "20 08 00 87 05 1f 00 02 6e 6f"},
    {"publish311_qos1", publish(1, 10, "a/b", "hi"), Version::V311,
     "32 09 00 03 61 2f 62 00 0a 68 69"},
    {"publish5_qos0_alias", aliasedPublish(), Version::V5, "30 08 00 00 03 23 00 01 68 69"},
    {"puback5_short", Ack{PacketType::Puback, 1, Reason::Success, {}}, Version::V5, "40 02 00 01"},
    {"puback5_reason_only", Ack{PacketType::Puback, 1, Reason::NoMatchingSubscribers, {}},
     Version::V5, "40 03 00 01 10"},
    {"pubrec5_reason_string", ackWithReasonString(), Version::V5, "50 08 00 01 80 04 1f 00 01 78"},
    {"pubrel311", Ack{PacketType::Pubrel, 5, Reason::Success, {}}, Version::V311, "62 02 00 05"},
    {"pubcomp5", Ack{PacketType::Pubcomp, 0x1234, Reason::Success, {}}, Version::V5, "70 02 12 34"},
    {"subscribe311", subscribe({1, false, false, 0}), Version::V311,
     "82 08 00 01 00 03 61 2f 62 01"},
    {"subscribe5_options", subscribe({1, true, true, 2}), Version::V5,
     "82 09 00 01 00 00 03 61 2f 62 2d"},
    {"subscribe5_subscription_id", subscribeWithId(), Version::V5,
     "82 0c 00 01 03 0b ac 02 00 03 61 2f 62 2d"},
    {"suback311", Suback{1, {}, {Reason::Success, Reason::GrantedQoS2, Reason::UnspecifiedError}},
     Version::V311, "90 05 00 01 00 02 80"},
    {"suback5", Suback{1, {}, {Reason::GrantedQoS2, Reason::NotAuthorized}}, Version::V5,
     "90 05 00 01 00 02 87"},
    {"unsubscribe311", Unsubscribe{2, {}, {"x"}}, Version::V311, "a2 05 00 02 00 01 78"},
    {"unsubscribe5", Unsubscribe{2, {}, {"x"}}, Version::V5, "a2 06 00 02 00 00 01 78"},
    {"unsuback311", Unsuback{2, {}, {}}, Version::V311, "b0 02 00 02"},
    {"unsuback5", Unsuback{2, {}, {Reason::NoSubscriptionExisted}}, Version::V5,
     "b0 04 00 02 00 11"},
    {"pingreq", Pingreq{}, Version::V311, "c0 00"},
    {"pingresp", Pingresp{}, Version::V5, "d0 00"},
    {"disconnect311", Disconnect{}, Version::V311, "e0 00"},
    {"disconnect5_success", Disconnect{}, Version::V5, "e0 00"},
    {"disconnect5_taken_over", Disconnect{Reason::SessionTakenOver, {}}, Version::V5, "e0 01 8e"},
    {"disconnect5_expiry", disconnectWithExpiry(), Version::V5, "e0 07 00 05 11 00 00 00 00"},
    {"auth5_success", Auth{}, Version::V5, "f0 00"},
    {"auth5_continue", authContinue(), Version::V5, "f0 06 18 04 15 00 01 6d"},
};

void PrintTo(const WireCase& c, std::ostream* os) {
  *os << c.name;
}

class Wire : public ::testing::TestWithParam<WireCase> {};

TEST_P(Wire, EncodesToSpecBytes) {
  EXPECT_EQ(toHex(encoded(GetParam().packet, GetParam().version)), toHex(hex(GetParam().wire)));
}

TEST_P(Wire, DecodesSpecBytes) {
  const Buffer bytes = hex(GetParam().wire);  // outlives the decoded PUBLISH views
  auto r = decodeAll(bytes, GetParam().version);
  ASSERT_TRUE(r) << r.error().what;
  EXPECT_TRUE(*r == GetParam().packet);
}

INSTANTIATE_TEST_SUITE_P(Codec, Wire, ::testing::ValuesIn(kCases),
                         [](const auto& i) { return std::string(i.param.name); });

// 3.1.1 has no place for these 5.0 fields, so the encoder drops them.
TEST(Wire311, DropsFiveOnlyFields) {
  EXPECT_EQ(toHex(encoded(Ack{PacketType::Puback, 1, Reason::NotAuthorized, {}}, Version::V311)),
            "40 02 00 01");
  EXPECT_EQ(toHex(encoded(Unsuback{2, {}, {Reason::Success}}, Version::V311)), "b0 02 00 02");
  EXPECT_EQ(toHex(encoded(Disconnect{Reason::ServerShuttingDown, {}}, Version::V311)), "e0 00");
  EXPECT_EQ(encoded(Auth{Reason::ContinueAuthentication, {}}, Version::V311), Buffer{});
  Publish p = publish(0, 0, "t", "");
  p.props.message_expiry_interval = 5;
  EXPECT_EQ(toHex(encoded(p, Version::V311)), "30 03 00 01 74");
}

TEST(Wire311, ConnackCodesAndSubackCodes) {
  EXPECT_EQ(toHex(encoded(Connack{false, Reason::UnsupportedProtocolVersion, {}}, Version::V311)),
            "20 02 00 01");
  EXPECT_EQ(toHex(encoded(Connack{false, Reason::ServerBusy, {}}, Version::V311)), "20 02 00 03");
  EXPECT_EQ(
      toHex(encoded(Suback{1, {}, {Reason::NotAuthorized, Reason::GrantedQoS1}}, Version::V311)),
      "90 04 00 01 80 01");
  auto r = decodeAll(hex("20 02 00 04"), Version::V311);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Connack>(*r).reason, Reason::BadUserNameOrPassword);
}

// 5.0 3.4.2.1 / 3.14.2.1: the longer encodings of the same meaning also decode.
TEST(Wire5, AcceptsLongFormsOfAcks) {
  for (const char* wire : {"40 03 00 01 00", "40 04 00 01 00 00"}) {
    auto r = decodeAll(hex(wire), Version::V5);
    ASSERT_TRUE(r) << wire;
    EXPECT_TRUE((*r == Packet{Ack{PacketType::Puback, 1, Reason::Success, {}}})) << wire;
  }
  for (const char* wire : {"e0 01 00", "e0 02 00 00"}) {
    auto r = decodeAll(hex(wire), Version::V5);
    ASSERT_TRUE(r) << wire;
    EXPECT_TRUE((*r == Packet{Disconnect{}})) << wire;
  }
  auto r = decodeAll(hex("f0 01 19"), Version::V5);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Auth>(*r).reason, Reason::ReAuthenticate);
}

TEST(EncodePublish, ReturnsPacketIdOffsetForPatching) {
  Buffer out = {0xAA, 0xBB};  // encoding appends; the offset is from where it started
  const size_t offset = encodePublish(publish(1, 10, "a/b", "hi"), Version::V311, out);
  EXPECT_EQ(offset, 7u);  // first byte, 1-byte length, 2 + 3 topic bytes
  patchPacketId(out.data() + 2 + offset, 0x1234);
  EXPECT_EQ(toHex(out), "aa bb 32 09 00 03 61 2f 62 12 34 68 69");
}

TEST(EncodePublish, OffsetWithLongLengthAndProperties) {
  const std::string payload(200, 'z');  // two-byte remaining length
  Publish p = publish(2, 1, "t", payload);
  p.props.message_expiry_interval = 60;
  Buffer out;
  const size_t offset = encodePublish(p, Version::V5, out);
  EXPECT_EQ(offset, 6u);
  patchPacketId(out.data() + offset, 0xBEEF);
  auto r = decodeAll(out, Version::V5);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Publish>(*r).packet_id, 0xBEEF);
  EXPECT_EQ(std::get<Publish>(*r).payload, payload);
}

TEST(EncodePublish, QoS0HasNoPacketId) {
  Buffer out;
  EXPECT_EQ(encodePublish(publish(0, 0, "t", "x"), Version::V5, out), 0u);
  EXPECT_EQ(toHex(out), "30 05 00 01 74 00 78");
}

}  // namespace
}  // namespace parley::mqtt::test
