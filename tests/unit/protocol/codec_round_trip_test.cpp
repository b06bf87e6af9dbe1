// Every packet type encodes and decodes back to the same value, for 3.1.1 and 5.0. 5.0 packets
// carry every property their type allows, so the property table is exercised in both directions.
#include <cstdlib>
#include <new>
#include <set>

#include "codec_test_util.hpp"

namespace parley::mqtt::test {
namespace {

UserProperties users() {
  return {{"k", "v"}, {"k", "second value"}, {"", "ünïcødé ✓"}};
}

Properties connectProps() {
  Properties p;
  p.session_expiry_interval = 3600;
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = std::string("\0\x01\xff", 3);
  p.request_problem_information = 0;
  p.request_response_information = 1;
  p.receive_maximum = 100;
  p.topic_alias_maximum = 10;
  p.maximum_packet_size = 1 << 20;
  p.user_properties = users();
  return p;
}

Properties willProps() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 0xFFFFFFFF;
  p.content_type = "text/plain";
  p.response_topic = "reply/here";
  p.correlation_data = std::string("\0corr", 5);
  p.will_delay_interval = 30;
  p.user_properties = users();
  return p;
}

Properties connackProps() {
  Properties p;
  p.session_expiry_interval = 0;
  p.assigned_client_identifier = "auto-123";
  p.server_keep_alive = 30;
  p.authentication_method = "m";
  p.authentication_data = "d";
  p.response_information = "resp/";
  p.server_reference = "other:1883";
  p.reason_string = "ok";
  p.receive_maximum = 65535;
  p.topic_alias_maximum = 0;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.user_properties = users();
  p.maximum_packet_size = 268435460;
  p.wildcard_subscription_available = 1;
  p.subscription_identifier_available = 0;
  p.shared_subscription_available = 1;
  return p;
}

Properties publishProps() {
  Properties p;
  p.payload_format_indicator = 0;
  p.message_expiry_interval = 60;
  p.content_type = "application/json";
  p.response_topic = "rpc/reply/dev1";
  p.correlation_data = "c0rr";
  p.subscription_identifiers = {1, 127, 128, 268435455};
  p.topic_alias = 3;
  p.user_properties = users();
  return p;
}

Properties reasonProps() {
  Properties p;
  p.reason_string = "because";
  p.user_properties = users();
  return p;
}

Properties disconnectProps() {
  Properties p = reasonProps();
  p.session_expiry_interval = 10;
  p.server_reference = "elsewhere";
  return p;
}

Properties authProps() {
  Properties p = reasonProps();
  p.authentication_method = "SCRAM-SHA-1";
  p.authentication_data = std::string("\xde\xad\0\xbe\xef", 5);
  return p;
}

// Packets of every type as they may be sent in `v`. 5.0-only content appears only for 5.0.
std::vector<Packet> samplePackets(Version v) {
  const bool v5 = isV5(v);
  auto props = [&](Properties p) { return v5 ? p : Properties{}; };
  std::vector<Packet> out;

  Connect c;
  c.version = v;
  c.clean_start = false;
  c.keep_alive = 65535;
  c.client_id = "device-1";
  c.username = "alice";
  c.password = std::string("jwt\0bin", 7);
  c.will = Will{"presence/alice", "offline", 2, true, props(willProps())};
  c.props = props(connectProps());
  out.push_back(c);
  Connect bare;
  bare.version = v;
  out.push_back(bare);  // empty client id, no flags
  if (v5) {
    Connect password_only;  // allowed in 5.0 only (3.1.2.9)
    password_only.version = v;
    password_only.password = "secret";
    out.push_back(password_only);
  }

  out.push_back(Connack{true, Reason::Success, props(connackProps())});
  out.push_back(Connack{false, Reason::BadUserNameOrPassword, {}});
  if (v5) out.push_back(Connack{false, Reason::QuotaExceeded, {}});

  Publish p0;
  p0.topic = "sensors/1/temp";
  p0.payload = "21.5";
  out.push_back(p0);
  Publish p1;
  p1.qos = 1;
  p1.retain = true;
  p1.packet_id = 1;
  p1.topic = "conv/42";
  p1.payload = std::string_view("\0\x01\x02", 3);
  p1.props = props(publishProps());
  out.push_back(p1);
  Publish p2;
  p2.qos = 2;
  p2.dup = true;
  p2.packet_id = 65535;
  p2.topic = "ü/🙂";
  out.push_back(p2);  // empty payload
  if (v5) {
    Publish alias;
    alias.props.topic_alias = 7;
    alias.payload = "x";
    out.push_back(alias);  // empty topic: the alias names it
  }

  for (PacketType t :
       {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
    out.push_back(Ack{t, 513, Reason::Success, {}});
    if (v5) {
      const Reason failure = t == PacketType::Pubrel || t == PacketType::Pubcomp
                                 ? Reason::PacketIdentifierNotFound
                                 : Reason::QuotaExceeded;
      out.push_back(Ack{t, 2, failure, {}});
      out.push_back(Ack{t, 3, failure, reasonProps()});
      out.push_back(Ack{t, 4, Reason::Success, reasonProps()});
    }
  }

  Subscribe s{9, {}, {}};
  s.subscriptions.push_back({"conv/+", {1, false, false, 0}});
  s.subscriptions.push_back({"#", {2, v5, v5, static_cast<uint8_t>(v5 ? 2 : 0)}});
  s.subscriptions.push_back({"$share/g/a/b", {0, false, v5, static_cast<uint8_t>(v5 ? 1 : 0)}});
  if (v5) {
    s.props.subscription_identifiers = {268435455};
    s.props.user_properties = users();
  }
  out.push_back(s);

  Suback sa{9,
            props(reasonProps()),
            {Reason::GrantedQoS1, Reason::GrantedQoS2, Reason::Success, Reason::UnspecifiedError}};
  if (v5) sa.reasons.push_back(Reason::SharedSubscriptionsNotSupported);
  out.push_back(sa);

  Unsubscribe u{10, {}, {"conv/+", "a", "ü"}};
  if (v5) u.props.user_properties = users();
  out.push_back(u);
  if (v5) {
    out.push_back(Unsuback{10, reasonProps(), {Reason::Success, Reason::NoSubscriptionExisted}});
  } else {
    out.push_back(Unsuback{10, {}, {}});
  }

  out.push_back(Pingreq{});
  out.push_back(Pingresp{});
  out.push_back(Disconnect{});
  if (v5) {
    out.push_back(Disconnect{Reason::DisconnectWithWill, {}});
    out.push_back(Disconnect{Reason::Success, disconnectProps()});
    out.push_back(Disconnect{Reason::ServerShuttingDown, disconnectProps()});
    out.push_back(Auth{});
    out.push_back(Auth{Reason::ContinueAuthentication, authProps()});
    out.push_back(Auth{Reason::ReAuthenticate, {}});
  }
  return out;
}

class RoundTrip : public ::testing::TestWithParam<Version> {};

TEST_P(RoundTrip, EveryPacketType) {
  const Version v = GetParam();
  std::set<size_t> kinds;
  for (const Packet& original : samplePackets(v)) {
    SCOPED_TRACE(testing::Message() << "packet kind " << original.index());
    const Buffer bytes = encoded(original, v);
    auto decoded = decodeAll(bytes, v);
    ASSERT_TRUE(decoded) << decoded.error().what << " in " << toHex(bytes);
    EXPECT_TRUE(*decoded == original) << toHex(bytes);
    // Encoding is deterministic: the decoded value encodes to the same bytes.
    EXPECT_EQ(encoded(*decoded, v), bytes);
    kinds.insert(original.index());
  }
  const size_t expected_kinds = std::variant_size_v<Packet> - (isV5(v) ? 0 : 1);  // no AUTH
  EXPECT_EQ(kinds.size(), expected_kinds);
}

INSTANTIATE_TEST_SUITE_P(Codec, RoundTrip, ::testing::Values(Version::V311, Version::V5),
                         [](const auto& i) { return std::string(isV5(i.param) ? "V5" : "V311"); });

TEST(RoundTrip, Mqtt31ConnectKeepsItsVersion) {
  Connect c;
  c.version = Version::V31;
  c.client_id = "old";
  c.username = "u";
  const Buffer bytes = encoded(c, Version::V311);
  auto r = decodeAll(bytes, Version::V311);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Connect>(*r).version, Version::V31);
  EXPECT_TRUE((*r == Packet{c}));
}

TEST(RoundTrip, LargePublishUsesFourByteLength) {
  const std::string payload(2'100'000, 'p');
  Publish p;
  p.qos = 1;
  p.packet_id = 77;
  p.topic = "big";
  p.payload = payload;
  Buffer b;
  encodePublish(p, Version::V5, b);
  EXPECT_EQ(b[1] & 0x80, 0x80);
  EXPECT_EQ(b[4] & 0x80, 0);
  auto r = decodeAll(b, Version::V5);
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::get<Publish>(*r) == p);
}

TEST(RoundTrip, PublishViewsPointIntoTheInput) {
  Publish p;
  p.topic = "a/b";
  p.payload = "payload";
  Buffer b;
  encodePublish(p, Version::V311, b);
  auto r = decodeAll(b, Version::V311);
  ASSERT_TRUE(r);
  const auto& d = std::get<Publish>(*r);
  const auto* begin = reinterpret_cast<const char*>(b.data());
  EXPECT_EQ(d.topic.data(), begin + 4);
  EXPECT_EQ(d.payload.data(), begin + 7);
}

// Counting allocations: the replaced global operator new below counts while `g_counting` is set.
bool g_counting = false;
size_t g_allocations = 0;

TEST(HotPath, DecodingAPublishWithoutPropertiesDoesNotAllocate) {
  const std::string payload(1000, 'm');
  for (Version v : {Version::V311, Version::V5}) {
    Publish p;
    p.qos = 1;
    p.packet_id = 5;
    p.topic = "conv/12345";
    p.payload = payload;
    Buffer b;
    encodePublish(p, v, b);

    g_allocations = 0;
    g_counting = true;
    auto scan = readFrame(b, UINT32_MAX);
    auto r = decode(scan->frame, b, v);
    g_counting = false;
    ASSERT_TRUE(r);
    EXPECT_EQ(g_allocations, 0u) << (isV5(v) ? "5.0" : "3.1.1");
  }
}

TEST(HotPath, EncodingAcksAndPublishesAllocatesOnlyTheOutputBuffer) {
  Buffer out;
  out.reserve(4096);
  Publish p;
  p.qos = 1;
  p.packet_id = 5;
  p.topic = "conv/12345";
  p.payload = "hello";

  g_allocations = 0;
  g_counting = true;
  encode(Ack{PacketType::Puback, 5, Reason::Success, {}}, Version::V5, out);
  encode(Ack{PacketType::Pubrec, 6, Reason::QuotaExceeded, {}}, Version::V5, out);
  encodePublish(p, Version::V5, out);
  encodePublish(p, Version::V311, out);
  encode(Pingresp{}, Version::V311, out);
  g_counting = false;
  EXPECT_EQ(g_allocations, 0u);
}

}  // namespace
}  // namespace parley::mqtt::test

// Replacing the global allocation functions to count allocations: with inlining, g++ 12 sees
// malloc'd memory reach free() through operator delete and warns, wrongly, about a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  if (parley::mqtt::test::g_counting) ++parley::mqtt::test::g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
