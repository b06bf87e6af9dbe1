// Malformed and out-of-order input over raw sockets. Each case must close the offending
// connection (5.0: with a CONNACK/DISCONNECT reason code first where the spec says so) while a
// healthy pair of clients connected at the same time keeps exchanging messages.
#include "itest.hpp"

namespace itest {
namespace {

class Malformed : public Versioned {
 protected:
  void SetUp() override {
    sub_ = std::make_unique<PahoClient>(broker_.port(), uid("healthy-sub"), v());
    pub_ = std::make_unique<PahoClient>(broker_.port(), uid("healthy-pub"), v());
    connectAll({sub_.get(), pub_.get()});
    sub_->subscribe("healthy/t", 1);
    expectHealthy("before");
  }
  void expectHealthy(const std::string& tag) {
    pub_->publish("healthy/t", tag, 1);
    auto m = sub_->next(5s);
    ASSERT_TRUE(m) << "healthy clients stopped exchanging messages (" << tag << ")";
    EXPECT_EQ(m->to_string(), tag);
    EXPECT_TRUE(sub_->connected());
  }
  // Sends `bytes` on a fresh connection (after a valid CONNECT if `connect_first`) and checks
  // that the broker closes it. Returns the packets received before the close.
  std::vector<Packet> expectClosed(const Bytes& bytes, bool connect_first) {
    RawClient c(broker_.port(), v());
    if (connect_first) {
      auto ack = c.connect(spec(uid("bad")));
      EXPECT_TRUE(ack && ack->code == 0);
    }
    c.send(bytes);
    std::vector<Packet> seen;
    EXPECT_TRUE(c.waitClosed(5s, &seen)) << "broker kept a connection open after bad input";
    return seen;
  }
  // 5.0: if the broker sent a DISCONNECT, its reason code must be one of `allowed`.
  void expectDisconnectReason(const std::vector<Packet>& seen, std::set<uint8_t> allowed,
                              bool required = true) {
    if (v() != 5) {
      for (auto& p : seen) EXPECT_NE(p.type, DISCONNECT) << "3.1.1 server sent DISCONNECT";
      return;
    }
    if (seen.empty() || seen.back().type != DISCONNECT) {
      if (required) ADD_FAILURE() << "5.0: DISCONNECT with a reason code expected before close";
      return;
    }
    auto reason = parseDisconnect(seen.back()).reason;
    EXPECT_TRUE(allowed.count(reason)) << "DISCONNECT reason 0x" << std::hex << int(reason);
  }
  void TearDown() override {
    if (!HasFatalFailure()) expectHealthy("after");
    EXPECT_TRUE(broker_.running()) << "broker died";
  }

  BrokerProcess broker_;
  std::unique_ptr<PahoClient> sub_, pub_;
};
ITEST_VERSIONS(Malformed);

TEST_P(Malformed, GarbageBytesBeforeConnect) {
  Bytes junk;
  for (int i = 0; i < 64; ++i) junk.push_back(static_cast<uint8_t>(0xA5 ^ (i * 37)));
  auto seen = expectClosed(junk, false);
  for (auto& p : seen) EXPECT_NE(p.type, PUBLISH);
}

TEST_P(Malformed, GarbageBytesAfterConnect) {
  // 0x00 is a reserved packet type.
  auto seen = expectClosed({0x00, 0x03, 0xDE, 0xAD, 0xBE}, true);
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, MaximumRemainingLengthAnnouncedButNeverSent) {
  // A PUBLISH header announcing 268,435,455 bytes: far above the maximum packet size.
  auto seen = expectClosed({0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 'x'}, true);
  expectDisconnectReason(seen, {0x95, 0x81}, false);
}

TEST_P(Malformed, RemainingLengthWithFiveBytes) {
  auto seen = expectClosed({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, true);
  expectDisconnectReason(seen, {0x81, 0x95}, false);
}

TEST_P(Malformed, HugeRemainingLengthOnConnect) {
  expectClosed({0x10, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x04, 'M', 'Q', 'T', 'T'}, false);
}

TEST_P(Malformed, InvalidUtf8InTopicName) {
  // 0xC0 0xAF is an overlong encoding of '/', forbidden in MQTT UTF-8 strings.
  Bytes body{0x00, 0x04, 'a', '/', 0xC0, 0xAF};
  if (v() == 5) body.push_back(0x00);
  body.push_back('p');
  auto seen = expectClosed(packet(0x30, body), true);
  expectDisconnectReason(seen, {0x81, 0x82, 0x90}, false);
}

TEST_P(Malformed, NullCharacterInTopicName) {
  Bytes body{0x00, 0x03, 'a', 0x00, 'b'};
  if (v() == 5) body.push_back(0x00);
  body.push_back('p');
  auto seen = expectClosed(packet(0x30, body), true);
  expectDisconnectReason(seen, {0x81, 0x82, 0x90}, false);
}

TEST_P(Malformed, SurrogateInSubscribeFilter) {
  Bytes body{0x00, 0x01};  // packet id
  if (v() == 5) body.push_back(0x00);
  Bytes f{0x00, 0x05, 'a', '/', 0xED, 0xA0, 0x80, 0x01};
  body.insert(body.end(), f.begin(), f.end());
  auto seen = expectClosed(packet(0x82, body), true);
  for (auto& p : seen) EXPECT_NE(p.type, SUBACK) << "SUBACK for a malformed filter";
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, WildcardInPublishTopic) {
  auto seen = expectClosed(publishPacket(v(), "a/+/b", "x", 0), true);
  expectDisconnectReason(seen, {0x90, 0x82, 0x81}, false);
}

TEST_P(Malformed, WrongProtocolName) {
  Bytes pkt = connectPacket(spec(uid("name")));
  pkt[4] = 'X';  // "MXTT"
  auto seen = expectClosed(pkt, false);
  for (auto& p : seen)
    if (p.type == CONNACK) { EXPECT_NE(p.body.at(1), 0) << "CONNECT with a wrong name accepted"; }
}

TEST_P(Malformed, WrongProtocolLevel) {
  Bytes pkt = connectPacket(spec(uid("lvl")));
  pkt[8] = 9;
  auto seen = expectClosed(pkt, false);
  ASSERT_FALSE(seen.empty()) << "CONNACK with 0x01/0x84 expected";
  ASSERT_EQ(seen[0].type, CONNACK);
  EXPECT_TRUE(seen[0].body.at(1) == 0x01 || seen[0].body.at(1) == 0x84);
}

TEST_P(Malformed, ConnectReservedFlagSet) {
  Bytes pkt = connectPacket(spec(uid("rsv")));
  pkt[9] |= 0x01;  // connect flags, bit 0 is reserved
  auto seen = expectClosed(pkt, false);
  for (auto& p : seen)
    if (p.type == CONNACK) { EXPECT_NE(p.body.at(1), 0) << "reserved flag accepted"; }
}

TEST_P(Malformed, SecondConnect) {
  auto seen = expectClosed(connectPacket(spec(uid("again"))), true);
  for (auto& p : seen) EXPECT_NE(p.type, CONNACK) << "second CONNECT answered with CONNACK";
  expectDisconnectReason(seen, {0x82}, false);
}

TEST_P(Malformed, PublishWithQos3) {
  Bytes body{0x00, 0x01, 'q', 0x00, 0x01};
  if (v() == 5) body.push_back(0x00);
  body.push_back('x');
  auto seen = expectClosed(packet(0x36, body), true);
  for (auto& p : seen) EXPECT_NE(p.type, PUBACK);
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, PublishQos1WithPacketIdZero) {
  auto seen = expectClosed(publishPacket(v(), "pid/zero", "x", 1, 0), true);
  for (auto& p : seen) EXPECT_NE(p.type, PUBACK);
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, SubscribeWithWrongFixedHeaderFlags) {
  Bytes pkt = subscribePacket(v(), 1, {{"flags/t", 0}});
  pkt[0] = 0x80;  // must be 0x82
  auto seen = expectClosed(pkt, true);
  for (auto& p : seen) EXPECT_NE(p.type, SUBACK);
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, SubscribeWithoutTopicFilters) {
  Bytes body{0x00, 0x01};
  if (v() == 5) body.push_back(0x00);
  auto seen = expectClosed(packet(0x82, body), true);
  for (auto& p : seen) EXPECT_NE(p.type, SUBACK);
  expectDisconnectReason(seen, {0x81, 0x82}, false);
}

TEST_P(Malformed, PacketBeforeConnect) {
  auto seen = expectClosed(subscribePacket(v(), 1, {{"early/t", 0}}), false);
  for (auto& p : seen) EXPECT_NE(p.type, SUBACK) << "SUBACK sent before CONNECT";
}

TEST_P(Malformed, PublishBeforeConnectIsNotForwarded) {
  sub_->subscribe("early/pub", 0);
  auto seen = expectClosed(publishPacket(v(), "early/pub", "sneaky", 0), false);
  // The healthy subscriber's next message (TearDown's) must be its own, not "sneaky": checked
  // here directly with a marker message that follows.
  pub_->publish("early/pub", "marker", 0);
  auto m = sub_->next(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->to_string(), "marker") << "PUBLISH before CONNECT was forwarded";
}

TEST_P(Malformed, TruncatedPacketThenClose) {
  // The connection closes half-way through a packet: the broker must not wait or crash.
  RawClient c(broker_.port(), v());
  ASSERT_TRUE(c.connect(spec(uid("trunc"))));
  Bytes pkt = publishPacket(v(), "trunc/t", std::string(100, 'x'), 1, 1);
  pkt.resize(20);
  c.send(pkt);
  c.abort();
}

TEST_P(Malformed, ManyBadClientsAtOnce) {
  std::vector<std::unique_ptr<RawClient>> bad;
  for (int i = 0; i < 30; ++i) {
    bad.push_back(std::make_unique<RawClient>(broker_.port(), v()));
    Bytes junk{static_cast<uint8_t>(i * 16), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    bad.back()->send(junk);
  }
  for (auto& c : bad) EXPECT_TRUE(c->waitClosed(5s));
}

TEST(MalformedV5, UnknownPropertyIdentifierIsMalformed) {
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ASSERT_TRUE(c.connect(cs(5, uid("prop"))));
  // PUBLISH with a property section holding id 0x7F (undefined).
  Bytes body{0x00, 0x01, 'p', 0x02, 0x7F, 0x00, 'x'};
  c.send(packet(0x30, body));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().type, DISCONNECT);
  auto r = parseDisconnect(seen.back()).reason;
  EXPECT_TRUE(r == 0x81 || r == 0x82) << int(r);
}

TEST(MalformedV5, ConnectWithInvalidPropertyGetsConnackError) {
  // A CONNECT carrying a PUBLISH-only property (Topic Alias) is malformed/protocol error:
  // the broker answers CONNACK 0x81 or 0x82 and closes.
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("cprop"));
  s.props.u16(P_TOPIC_ALIAS, 1);
  c.send(connectPacket(s));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  // The CONNACK with the error is optional (MAY); accepting the connection is not.
  for (auto& p : seen) {
    ASSERT_EQ(p.type, CONNACK);
    auto code = parseConnack(p, 5).code;
    EXPECT_TRUE(code == 0x81 || code == 0x82) << int(code);
  }
}

TEST(MalformedV5, ReceiveMaximumZeroInConnectIsProtocolError) {
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("rm0"));
  s.props.u16(P_RECEIVE_MAXIMUM, 0);
  c.send(connectPacket(s));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  for (auto& p : seen)
    if (p.type == CONNACK) { EXPECT_NE(parseConnack(p, 5).code, 0) << "Receive Maximum 0 accepted"; }
}

}  // namespace
}  // namespace itest
