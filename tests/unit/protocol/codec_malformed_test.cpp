// Every way a packet can be malformed or break a protocol rule, as wire bytes, with the reason
// code the broker will answer with. Where the 5.0 spec names the error ("It is a Protocol
// Error ...") the codec reports ProtocolError; other grammar violations are MalformedPacket.
#include "codec_test_util.hpp"

namespace parley::mqtt::test {
namespace {

constexpr Reason kMalformed = Reason::MalformedPacket;
constexpr Reason kProtocol = Reason::ProtocolError;
constexpr Reason kUnsupported = Reason::UnsupportedProtocolVersion;
constexpr Reason kOk = Reason::Success;
constexpr Version k311 = Version::V311;
constexpr Version k5 = Version::V5;

struct BadCase {
  const char* name;
  Version version;
  const char* wire;
  Reason expected;
};

const BadCase kCases[] = {
    // Lengths and strings.
    {"string_past_end", k311, "30 04 00 05 61 62", kMalformed},
    {"string_past_end_5", k5, "30 04 00 05 61 62", kMalformed},
    {"packet_id_cut_off", k311, "32 04 00 01 74 00", kMalformed},
    {"ping_with_body", k311, "c0 01 00", kMalformed},
    {"pingresp_with_body", k5, "d0 01 00", kMalformed},
    {"unsuback311_with_payload", k311, "b0 03 00 01 00", kMalformed},
    {"ack311_too_long", k311, "40 03 00 01 00", kMalformed},
    {"ack_too_short", k5, "40 01 00", kMalformed},
    {"ack5_bytes_after_properties", k5, "40 05 00 01 00 00 00", kMalformed},
    {"disconnect311_with_body", k311, "e0 01 00", kMalformed},
    {"connack311_too_long", k311, "20 03 00 00 00", kMalformed},

    // UTF-8 (1.5.4): overlong, surrogate, U+0000, above U+10FFFF, cut-off sequence.
    {"utf8_overlong", k311, "30 04 00 02 c0 af", kMalformed},
    {"utf8_overlong_3byte", k5, "30 06 00 03 e0 80 af 00", kMalformed},
    {"utf8_surrogate", k311, "30 05 00 03 ed a0 80", kMalformed},
    {"utf8_nul", k311, "30 03 00 01 00", kMalformed},
    {"utf8_above_10ffff", k311, "30 06 00 04 f4 90 80 80", kMalformed},
    {"utf8_cut_off", k311, "30 04 00 02 e2 82", kMalformed},
    {"utf8_lone_continuation", k5, "30 04 00 01 80 00", kMalformed},
    {"utf8_bad_filter", k311, "82 06 00 01 00 01 00 00", kMalformed},
    {"utf8_bad_user_property", k5, "30 0b 00 01 74 07 26 00 01 61 00 01 ff", kMalformed},
    {"binary_may_hold_any_byte", k5, "30 08 00 01 74 04 09 00 01 ff", kOk},
    {"utf8_cut_off_4byte", k311, "30 09 00 07 c3 bc e2 9c 93 f0 9f", kMalformed},
    {"utf8_valid_4byte", k311, "30 06 00 04 f0 9f 99 82", kOk},

    // PUBLISH.
    {"publish_plus", k311, "30 05 00 03 61 2f 2b", kMalformed},
    {"publish_hash", k5, "30 04 00 01 23 00", kMalformed},
    {"publish_packet_id_0", k311, "32 05 00 01 74 00 00", kMalformed},
    {"publish_qos2_packet_id_0", k5, "34 06 00 01 74 00 00 00", kMalformed},
    {"publish_dup_on_qos0", k311, "38 03 00 01 74", kMalformed},
    {"publish311_empty_topic", k311, "30 02 00 00", kProtocol},
    {"publish5_empty_topic_without_alias", k5, "30 03 00 00 00", kProtocol},

    // CONNECT.
    {"connect_reserved_flag", k311, "10 0f 00 04 4d 51 54 54 04 03 00 3c 00 03 61 62 63",
     kMalformed},
    {"connect_will_qos_without_will", k311, "10 0f 00 04 4d 51 54 54 04 0a 00 3c 00 03 61 62 63",
     kMalformed},
    {"connect_will_retain_without_will", k5,
     "10 10 00 04 4d 51 54 54 05 22 00 3c 00 00 03 61 62 63", kMalformed},
    {"connect_will_qos3", k311, "10 0f 00 04 4d 51 54 54 04 1e 00 3c 00 03 61 62 63", kMalformed},
    {"connect311_password_without_user", k311,
     "10 12 00 04 4d 51 54 54 04 42 00 3c 00 03 61 62 63 00 01 70", kMalformed},
    {"connect5_password_without_user_is_fine", k5,
     "10 13 00 04 4d 51 54 54 05 42 00 3c 00 00 03 61 62 63 00 01 70", kOk},
    {"connect_trailing_byte", k311, "10 10 00 04 4d 51 54 54 04 02 00 3c 00 03 61 62 63 00",
     kMalformed},
    {"connect_client_id_past_end", k311, "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 04 61 62 63",
     kMalformed},
    {"connect_missing_password", k311, "10 10 00 04 4d 51 54 54 04 c2 00 3c 00 01 63 00 01 75",
     kMalformed},
    {"connect_cut_before_level", k311, "10 06 00 04 4d 51 54 54", kMalformed},
    {"connect_level_6", k311, "10 0f 00 04 4d 51 54 54 06 02 00 3c 00 03 61 62 63", kUnsupported},
    {"connect_level_0", k5, "10 0f 00 04 4d 51 54 54 00 02 00 3c 00 03 61 62 63", kUnsupported},
    {"connect_mqtt_level_3", k311, "10 0f 00 04 4d 51 54 54 03 02 00 3c 00 03 61 62 63",
     kUnsupported},
    {"connect_mqisdp_level_4", k311, "10 11 00 06 4d 51 49 73 64 70 04 02 00 3c 00 03 61 62 63",
     kUnsupported},
    {"connect_unknown_name", k311, "10 0f 00 04 48 54 54 50 04 02 00 3c 00 03 61 62 63",
     kUnsupported},
    {"connect5_auth_data_without_method", k5,
     "10 14 00 04 4d 51 54 54 05 02 00 3c 04 16 00 01 78 00 03 61 62 63", kProtocol},
    {"connect5_topic_alias_not_allowed", k5,
     "10 13 00 04 4d 51 54 54 05 02 00 3c 03 23 00 01 00 03 61 62 63", kMalformed},
    {"connect5_will_delay_outside_will", k5,
     "10 15 00 04 4d 51 54 54 05 02 00 3c 05 18 00 00 00 01 00 03 61 62 63", kMalformed},
    {"connect5_receive_maximum_0", k5,
     "10 13 00 04 4d 51 54 54 05 02 00 3c 03 21 00 00 00 03 61 62 63", kProtocol},
    {"connect5_request_problem_information_2", k5,
     "10 12 00 04 4d 51 54 54 05 02 00 3c 02 17 02 00 03 61 62 63", kProtocol},
    {"connect5_maximum_packet_size_0", k5,
     "10 15 00 04 4d 51 54 54 05 02 00 3c 05 27 00 00 00 00 00 03 61 62 63", kProtocol},
    {"connect5_will_properties_past_end", k5,
     "10 11 00 04 4d 51 54 54 05 06 00 3c 00 00 03 61 62 63 09", kMalformed},

    // CONNACK.
    {"connack311_code_6", k311, "20 02 00 06", kMalformed},
    {"connack_reserved_flags", k311, "20 02 02 00", kMalformed},
    {"connack5_unknown_reason", k5, "20 03 00 01 00", kMalformed},
    {"connack5_maximum_qos_2", k5, "20 05 00 00 02 24 02", kProtocol},

    // PUBACK family.
    {"puback_packet_id_0", k311, "40 02 00 00", kMalformed},
    {"pubcomp5_packet_id_0", k5, "70 02 00 00", kMalformed},
    {"pubrel5_reason_not_allowed", k5, "62 03 00 01 10", kMalformed},
    {"puback5_unknown_reason", k5, "40 03 00 01 05", kMalformed},
    {"puback5_property_not_allowed", k5, "40 07 00 01 00 03 23 00 01", kMalformed},
    {"puback5_reason_string_twice", k5, "40 0c 00 01 00 08 1f 00 01 61 1f 00 01 62", kProtocol},
    {"puback5_two_user_properties", k5, "40 10 00 01 00 0c 26 00 01 61 00 00 26 00 01 61 00 00",
     kOk},
    {"puback5_property_length_past_end", k5, "40 04 00 01 00 05", kMalformed},

    // SUBSCRIBE / UNSUBSCRIBE.
    {"subscribe311_empty", k311, "82 02 00 01", kProtocol},
    {"subscribe5_empty", k5, "82 03 00 01 00", kProtocol},
    {"subscribe_packet_id_0", k311, "82 06 00 00 00 01 61 00", kMalformed},
    {"subscribe_missing_options", k311, "82 05 00 01 00 01 61", kMalformed},
    {"subscribe311_reserved_option_bit", k311, "82 06 00 01 00 01 61 04", kMalformed},
    {"subscribe311_qos3", k311, "82 06 00 01 00 01 61 03", kMalformed},
    {"subscribe5_reserved_option_bits", k5, "82 07 00 01 00 00 01 61 40", kMalformed},
    {"subscribe5_retain_handling_3", k5, "82 07 00 01 00 00 01 61 30", kProtocol},
    {"subscribe5_qos3", k5, "82 07 00 01 00 00 01 61 03", kProtocol},
    {"subscribe5_all_option_bits", k5, "82 07 00 01 00 00 01 61 2e", kOk},
    {"subscribe5_subscription_id_0", k5, "82 09 00 01 02 0b 00 00 01 61 00", kProtocol},
    {"subscribe5_two_subscription_ids", k5, "82 0b 00 01 04 0b 01 0b 02 00 01 61 00", kProtocol},
    {"subscribe5_second_filter_cut", k5, "82 0a 00 01 00 00 01 61 00 00 02 62", kMalformed},
    {"unsubscribe311_empty", k311, "a2 02 00 01", kProtocol},
    {"unsubscribe5_empty", k5, "a2 03 00 01 00", kProtocol},
    {"unsubscribe_packet_id_0", k311, "a2 05 00 00 00 01 61", kMalformed},
    {"unsubscribe5_filter_past_end", k5, "a2 06 00 01 00 00 05 61", kMalformed},

    // SUBACK / UNSUBACK.
    {"suback311_code_3", k311, "90 03 00 01 03", kMalformed},
    {"suback5_unknown_reason", k5, "90 04 00 01 00 05", kMalformed},
    {"suback_empty", k311, "90 02 00 01", kProtocol},
    {"unsuback5_empty", k5, "b0 03 00 01 00", kProtocol},
    {"unsuback5_suback_only_reason", k5, "b0 04 00 01 00 01", kMalformed},

    // DISCONNECT / AUTH.
    {"disconnect5_unknown_reason", k5, "e0 01 01", kMalformed},
    {"disconnect5_will_delay_not_allowed", k5, "e0 07 00 05 18 00 00 00 01", kMalformed},
    {"auth311_reserved", k311, "f0 00", kMalformed},
    {"auth5_reason_not_allowed", k5, "f0 01 87", kMalformed},
    {"auth5_session_expiry_not_allowed", k5, "f0 07 18 05 11 00 00 00 01", kMalformed},

    // PUBLISH properties.
    {"publish5_message_expiry_twice", k5, "30 0e 00 01 74 0a 02 00 00 00 01 02 00 00 00 02",
     kProtocol},
    {"publish5_unknown_property", k5, "30 05 00 01 74 01 7f", kMalformed},
    {"publish5_subscription_id_0", k5, "30 06 00 01 74 02 0b 00", kProtocol},
    {"publish5_two_subscription_ids", k5, "30 08 00 01 74 04 0b 01 0b 02", kOk},
    {"publish5_non_minimal_varint", k5, "30 07 00 01 74 03 0b 81 00", kMalformed},
    {"publish5_value_cut_off", k5, "30 06 00 01 74 02 02 00", kMalformed},
    {"publish5_property_length_past_end", k5, "30 05 00 01 74 09 00", kMalformed},
    {"publish5_session_expiry_not_allowed", k5, "30 09 00 01 74 05 11 00 00 00 01", kMalformed},
    {"publish5_topic_alias_twice", k5, "30 0a 00 01 74 06 23 00 01 23 00 02", kProtocol},
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.name;
}

class Bad : public ::testing::TestWithParam<BadCase> {};

TEST_P(Bad, ReportsTheRightReason) {
  const BadCase& c = GetParam();
  const Buffer bytes = hex(c.wire);
  auto r = decodeAll(bytes, c.version);
  if (c.expected == kOk) {
    EXPECT_TRUE(r) << r.error().what;
    return;
  }
  ASSERT_FALSE(r) << "decoded although invalid";
  EXPECT_EQ(r.error().reason, c.expected) << r.error().what;
  ASSERT_NE(r.error().what, nullptr);
  EXPECT_STRNE(r.error().what, "");
}

INSTANTIATE_TEST_SUITE_P(Codec, Bad, ::testing::ValuesIn(kCases),
                         [](const auto& i) { return std::string(i.param.name); });

TEST(Malformed, PublishQoS3IsRefusedByFrameAndDecode) {
  const Buffer b = hex("36 05 00 01 74 00 01");
  auto scan = readFrame(b, 1024);
  ASSERT_FALSE(scan);
  EXPECT_EQ(scan.error().reason, kMalformed);
  // decode checks the fixed header again, for callers that build the Frame themselves.
  Frame f{0x36, 2, 5};
  auto r = decode(f, b, Version::V5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, kMalformed);
}

TEST(Malformed, ReservedFlagsRefusedByDecodeToo) {
  const Buffer b = hex("80 06 00 01 00 01 61 00");
  auto r = decode(Frame{0x80, 2, 6}, b, Version::V311);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, kMalformed);
}

TEST(Malformed, UnsupportedVersionIsDistinctForEveryConnectVersion) {
  // decode ignores the connection version for CONNECT: the answer does not depend on it.
  for (Version v : {Version::V311, Version::V5}) {
    auto r = decodeAll(hex("10 0f 00 04 4d 51 54 54 07 02 00 3c 00 03 61 62 63"), v);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, kUnsupported);
  }
}

TEST(Utf8, MqttRules) {
  using namespace std::string_view_literals;
  EXPECT_TRUE(validUtf8(""));
  EXPECT_TRUE(validUtf8("plain/ascii"));
  EXPECT_TRUE(validUtf8("\u00fc\u20ac\U0001F642"));
  EXPECT_TRUE(validUtf8("\xef\xbf\xbf"));           // U+FFFF: a non-character, allowed
  EXPECT_TRUE(validUtf8("\xf4\x8f\xbf\xbf"));       // U+10FFFF, the last code point
  EXPECT_TRUE(validUtf8("\xed\x9f\xbf"));           // U+D7FF, just below the surrogates
  EXPECT_FALSE(validUtf8("a\0b"sv));                // U+0000
  EXPECT_FALSE(validUtf8("\xc0\x80"));              // overlong U+0000
  EXPECT_FALSE(validUtf8("\xc1\xbf"));              // overlong 2-byte
  EXPECT_FALSE(validUtf8("\xe0\x9f\xbf"));          // overlong 3-byte
  EXPECT_FALSE(validUtf8("\xf0\x8f\xbf\xbf"));      // overlong 4-byte
  EXPECT_FALSE(validUtf8("\xed\xa0\x80"));          // U+D800
  EXPECT_FALSE(validUtf8("\xed\xbf\xbf"));          // U+DFFF
  EXPECT_FALSE(validUtf8("\xf4\x90\x80\x80"));      // U+110000
  EXPECT_FALSE(validUtf8("\xf8\x88\x80\x80\x80"));  // 5-byte form
  EXPECT_FALSE(validUtf8("\xff"));
  EXPECT_FALSE(validUtf8("\x80"));          // lone continuation byte
  EXPECT_FALSE(validUtf8("\xe2\x82"));      // cut off
  EXPECT_FALSE(validUtf8("\xe2\x28\xa1"));  // bad continuation
}

}  // namespace
}  // namespace parley::mqtt::test
