// MQTT 5.0 flow control and limits: receive maximum in both directions, maximum packet size in
// both directions, and the limits the broker advertises in CONNACK.
#include "itest.hpp"

namespace itest {
namespace {

std::unique_ptr<RawClient> v5(uint16_t port, const std::string& id, Props props = {},
                              ConnAck* out = nullptr) {
  auto c = std::make_unique<RawClient>(port, 5);
  ConnectSpec s = cs(5, id);
  s.props = std::move(props);
  auto ack = c->connect(s);
  EXPECT_TRUE(ack) << "no CONNACK";
  if (ack) {
    EXPECT_EQ(ack->code, 0);
    if (out) *out = *ack;
  }
  return c;
}

TEST(ConnackLimits, AdvertisesConfiguredLimits) {
  BrokerProcess broker({"--receive-maximum", "7", "--max-packet-size", "5000"});
  ConnAck ack;
  auto c = v5(broker.port(), uid("c"), {}, &ack);
  EXPECT_EQ(ack.props.getInt(P_RECEIVE_MAXIMUM), 7u);
  EXPECT_EQ(ack.props.getInt(P_MAXIMUM_PACKET_SIZE), 5000u);
  auto tam = ack.props.getInt(P_TOPIC_ALIAS_MAXIMUM);
  EXPECT_TRUE(tam && *tam > 0) << "Topic Alias Maximum not advertised";
}

TEST(ReceiveMaximum, BrokerNeverExceedsClientReceiveMaximum) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"), Props().u16(P_RECEIVE_MAXIMUM, 3));
  ASSERT_TRUE(sub->subscribe(1, {{"rm/t", 1}}));
  auto pub = v5(broker.port(), uid("p"));
  constexpr int kN = 10;
  for (int i = 0; i < kN; ++i)
    pub->send(publishPacket(5, "rm/t", std::to_string(i), 1, static_cast<uint16_t>(i + 1)));
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(pub->read()) << "PUBACK " << i;

  std::vector<PublishIn> unacked;
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto m = sub->nextPublish();
    ASSERT_TRUE(m) << "first three messages must flow";
    unacked.push_back(*m);
  }
  // The window is full: a fourth PUBLISH would arrive promptly; 500 ms proves it is held back.
  EXPECT_FALSE(sub->nextPublish(500ms)) << "broker exceeded the client's Receive Maximum of 3";
  // Ack one at a time: each ack admits exactly one more, never more than 3 outstanding.
  while (got.size() < size_t(kN)) {
    ASSERT_FALSE(unacked.empty());
    got.push_back(unacked.front().payload);
    sub->send(ackPacket(PUBACK, unacked.front().id, 5));
    unacked.erase(unacked.begin());
    if (got.size() + unacked.size() < size_t(kN)) {
      auto m = sub->nextPublish();
      ASSERT_TRUE(m) << "window did not reopen after PUBACK";
      unacked.push_back(*m);
    }
    ASSERT_LE(unacked.size(), 3u);
  }
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST(ReceiveMaximum, Qos2CountsUntilPubcomp) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"), Props().u16(P_RECEIVE_MAXIMUM, 1));
  ASSERT_TRUE(sub->subscribe(1, {{"rm2/t", 2}}));
  PahoClient pub(broker.port(), uid("p"), 5);
  pub.connect();
  pub.publish("rm2/t", "a", 2);
  pub.publish("rm2/t", "b", 2);
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "a");
  sub->send(ackPacket(PUBREC, m->id, 5));
  auto rel = sub->read();
  ASSERT_TRUE(rel && rel->type == PUBREL);
  // Until PUBCOMP the quota is still used: no second PUBLISH (500 ms proves absence).
  EXPECT_FALSE(sub->nextPublish(500ms)) << "PUBLISH sent before PUBCOMP freed the quota";
  sub->send(ackPacket(PUBCOMP, m->id, 5));
  auto m2 = sub->nextPublish();
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->payload, "b");
}

TEST(ReceiveMaximum, ClientExceedingBrokerReceiveMaximumDisconnected0x93) {
  BrokerProcess broker({"--receive-maximum", "2"});
  ConnAck ack;
  auto c = v5(broker.port(), uid("c"), {}, &ack);
  ASSERT_EQ(ack.props.getInt(P_RECEIVE_MAXIMUM), 2u);
  // QoS 2 PUBLISHes stay in the quota until PUBCOMP; never send PUBREL.
  for (uint16_t id = 1; id <= 3; ++id) c->send(publishPacket(5, "rmx/t", "x", 2, id));
  std::vector<Packet> seen;
  EXPECT_TRUE(c->waitClosed(5s, &seen)) << "third unacknowledged QoS 2 PUBLISH must disconnect";
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().type, DISCONNECT) << typeName(seen.back().type);
  EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x93) << "Receive Maximum exceeded";
  int pubrecs = 0;
  for (auto& p : seen) pubrecs += p.type == PUBREC;
  EXPECT_LE(pubrecs, 2);
}

TEST(ReceiveMaximum, WithinBrokerReceiveMaximumIsFine) {
  BrokerProcess broker({"--receive-maximum", "2"});
  auto c = v5(broker.port(), uid("c"));
  for (uint16_t round = 0; round < 5; ++round) {
    const uint16_t a = static_cast<uint16_t>(2 * round + 1), b = static_cast<uint16_t>(a + 1);
    c->send(publishPacket(5, "rmok/t", "x", 2, a));
    c->send(publishPacket(5, "rmok/t", "y", 2, b));
    for (int i = 0; i < 2; ++i) {
      auto p = c->read();
      ASSERT_TRUE(p && p->type == PUBREC);
    }
    c->send(ackPacket(PUBREL, a, 5));
    c->send(ackPacket(PUBREL, b, 5));
    for (int i = 0; i < 2; ++i) {
      auto p = c->read();
      ASSERT_TRUE(p && p->type == PUBCOMP);
    }
  }
  EXPECT_FALSE(c->closed());
}

TEST(MaximumPacketSize, BrokerDropsWhatExceedsClientMaximum) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"), Props().u32(P_MAXIMUM_PACKET_SIZE, 200));
  ASSERT_TRUE(sub->subscribe(1, {{"mps/t", 1}}));
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "mps/t", std::string(500, 'B'), 1, 1));
  pub->send(publishPacket(5, "mps/t", "small", 1, 2));
  for (int i = 0; i < 2; ++i) {
    auto p = pub->read();
    ASSERT_TRUE(p && p->type == PUBACK);
  }
  // Same publisher, so the big one would arrive first: getting "small" first proves it was
  // discarded, not sent.
  auto m = sub->nextPublish();
  ASSERT_TRUE(m) << "the small message must still be delivered";
  EXPECT_EQ(m->payload, "small") << "broker sent a packet above the client's maximum size";
  EXPECT_FALSE(sub->closed());
}

TEST(MaximumPacketSize, ClientExceedingBrokerMaximumDisconnected0x95) {
  BrokerProcess broker({"--max-packet-size", "1024"});
  ConnAck ack;
  auto c = v5(broker.port(), uid("c"), {}, &ack);
  EXPECT_EQ(ack.props.getInt(P_MAXIMUM_PACKET_SIZE), 1024u);
  c->send(publishPacket(5, "big/t", std::string(2000, 'x'), 1, 1));
  std::vector<Packet> seen;
  EXPECT_TRUE(c->waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty()) << "DISCONNECT 0x95 expected";
  ASSERT_EQ(seen.back().type, DISCONNECT);
  EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x95) << "Packet too large";
  for (auto& p : seen) EXPECT_NE(p.type, PUBACK) << "oversized PUBLISH acknowledged";
}

TEST(MaximumPacketSize, ThreeOneOneClientExceedingBrokerMaximumClosed) {
  BrokerProcess broker({"--max-packet-size", "1024"});
  RawClient c(broker.port(), 4);
  ASSERT_TRUE(c.connect(cs(4, uid("c"))));
  c.send(publishPacket(4, "big/t", std::string(2000, 'x'), 1, 1));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  EXPECT_TRUE(seen.empty()) << "3.1.1: close without any packet";
}

TEST(MaximumPacketSize, PacketJustBelowLimitAccepted) {
  BrokerProcess broker({"--max-packet-size", "1024"});
  auto c = v5(broker.port(), uid("c"));
  ASSERT_TRUE(c->subscribe(1, {{"fit/t", 1}}));
  // Fixed header 1 + length 2 + topic 2+5 + id 2 + props 1 = 13 bytes of overhead.
  const std::string payload(1024 - 13, 'f');
  ASSERT_EQ(publishPacket(5, "fit/t", payload, 1, 1).size(), 1024u);
  c->send(publishPacket(5, "fit/t", payload, 1, 1));
  std::optional<PublishIn> m;
  bool acked = false;
  while (!(m && acked)) {
    auto p = c->read();
    ASSERT_TRUE(p) << "no PUBACK/PUBLISH for a packet of exactly the maximum size";
    if (p->type == PUBACK) acked = true;
    if (p->type == PUBLISH) m = parsePublish(*p, 5);
  }
  EXPECT_EQ(m->payload.size(), payload.size());
}

}  // namespace
}  // namespace itest
