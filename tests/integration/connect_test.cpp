// CONNECT / CONNACK: session present flag, refusal reason codes, assigned client ids, AUTH
// methods, PING, and a Paho connect in both protocol versions.
#include "itest.hpp"

namespace itest {
namespace {

class Connect : public Versioned {};
ITEST_VERSIONS(Connect);

TEST_P(Connect, SessionPresentFlagFollowsStoredSession) {
  BrokerProcess broker;
  const std::string id = uid("sp");
  {
    RawClient c(broker.port(), v());
    auto ack = c.connect(spec(id, /*clean=*/false, 300));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    EXPECT_FALSE(ack->session_present) << "no session existed yet";
    ASSERT_TRUE(c.subscribe(1, {{"sp/t", 1}}));
    c.send(disconnectPacket(v()));
    EXPECT_TRUE(c.waitClosed(5s));
  }
  {
    RawClient c(broker.port(), v());
    auto ack = c.connect(spec(id, false, 300));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    EXPECT_TRUE(ack->session_present) << "persistent session must be resumed";
    c.send(disconnectPacket(v()));
    EXPECT_TRUE(c.waitClosed(5s));
  }
  {
    RawClient c(broker.port(), v());
    auto ack = c.connect(spec(id, /*clean=*/true));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    EXPECT_FALSE(ack->session_present) << "clean session/start must report no session";
  }
}

TEST_P(Connect, PahoConnectReportsSessionPresent) {
  BrokerProcess broker;
  const std::string id = uid("paho-sp");
  {
    PahoClient c(broker.port(), id, v());
    auto rsp = c.connect(persistentOpts(c));
    EXPECT_FALSE(rsp.is_session_present());
    EXPECT_EQ(rsp.get_mqtt_version(), v() == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    c.subscribe("paho/sp", 1);
    c.disconnect();
  }
  PahoClient c(broker.port(), id, v());
  auto rsp = c.connect(persistentOpts(c));
  EXPECT_TRUE(rsp.is_session_present());
}

TEST_P(Connect, PingReqGetsPingResp) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("ping")));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->send(pingreqPacket()));
    auto p = c->read(5s);
    ASSERT_TRUE(p) << "no PINGRESP";
    EXPECT_EQ(p->type, PINGRESP);
    EXPECT_TRUE(p->body.empty());
  }
}

TEST_P(Connect, UnsupportedProtocolLevelRefused) {
  BrokerProcess broker;
  RawClient c(broker.port(), v());
  ConnectSpec s = spec(uid("lvl"));
  Bytes pkt = connectPacket(s);
  // Byte 0 fixed header, 1 remaining length, 2..7 "\0\4MQTT", 8 protocol level.
  ASSERT_EQ(pkt[8], v());
  pkt[8] = 6;  // no such MQTT version
  ASSERT_TRUE(c.send(pkt));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen)) << "connection must be closed";
  ASSERT_FALSE(seen.empty()) << "expected a CONNACK refusing the protocol level";
  ASSERT_EQ(seen[0].type, CONNACK);
  ASSERT_GE(seen[0].body.size(), 2u);
  const uint8_t code = seen[0].body[1];
  EXPECT_TRUE(code == 0x01 || code == 0x84) << "CONNACK code " << int(code);
}

TEST(ConnectV311, Level3WithMqttNameRefusedWith0x01) {
  // MQTT 3.1 used protocol name "MQIsdp" and level 3: a 3.1.1-format CONNECT with level 3 is an
  // unacceptable protocol level for a 3.1.1/5.0 broker: CONNACK 0x01 then close.
  BrokerProcess broker;
  RawClient c(broker.port(), 4);
  Bytes pkt = connectPacket(cs(4, uid("l3")));
  pkt[8] = 3;
  ASSERT_TRUE(c.send(pkt));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty()) << "expected CONNACK 0x01";
  ASSERT_EQ(seen[0].type, CONNACK);
  ASSERT_EQ(seen[0].body.size(), 2u) << "3.1.1-format CONNACK";
  EXPECT_EQ(seen[0].body[1], 0x01);
}

TEST(ConnectV5, WrongVersionCodeForV5ClientIs0x84Or0x01) {
  // A 5.0-format CONNECT (with properties) whose level is 7: the broker may answer 0x84
  // (5.0 Unsupported Protocol Version) or the 3.1.1 code 0x01; either way it must close.
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("l7"));
  s.props.u32(P_SESSION_EXPIRY, 10);
  Bytes pkt = connectPacket(s);
  pkt[8] = 7;
  ASSERT_TRUE(c.send(pkt));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen[0].type, CONNACK);
  ASSERT_GE(seen[0].body.size(), 2u);
  EXPECT_TRUE(seen[0].body[1] == 0x84 || seen[0].body[1] == 0x01) << int(seen[0].body[1]);
}

TEST(ConnectV311, EmptyClientIdWithPersistentSessionRejected0x02) {
  BrokerProcess broker;
  RawClient c(broker.port(), 4);
  ConnectSpec s = cs(4, "");
  s.clean = false;
  ASSERT_TRUE(c.send(connectPacket(s)));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen)) << "must close after refusing";
  ASSERT_FALSE(seen.empty()) << "expected CONNACK 0x02";
  auto ack = parseConnack(seen[0], 4);
  EXPECT_EQ(ack.code, 0x02);
  EXPECT_FALSE(ack.session_present);
}

TEST(ConnectV311, EmptyClientIdWithCleanSessionAccepted) {
  BrokerProcess broker;
  RawClient c(broker.port(), 4);
  auto ack = c.connect(cs(4, ""));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  // And it is usable.
  auto sub = c.subscribe(1, {{"anon/t", 0}});
  ASSERT_TRUE(sub);
  c.send(publishPacket(4, "anon/t", "x", 0));
  auto m = c.nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "x");
}

TEST(ConnectV5, EmptyClientIdGetsAssignedIdentifier) {
  BrokerProcess broker;
  RawClient a(broker.port(), 5), b(broker.port(), 5);
  auto ackA = a.connect(cs(5, ""));
  auto ackB = b.connect(cs(5, ""));
  ASSERT_TRUE(ackA && ackB);
  EXPECT_EQ(ackA->code, 0);
  EXPECT_EQ(ackB->code, 0);
  auto idA = ackA->props.getStr(P_ASSIGNED_CLIENT_ID);
  auto idB = ackB->props.getStr(P_ASSIGNED_CLIENT_ID);
  ASSERT_TRUE(idA && idB) << "CONNACK must carry an Assigned Client Identifier";
  EXPECT_FALSE(idA->empty());
  EXPECT_NE(*idA, *idB) << "assigned ids must be unique";
  // Both connections still work (neither took over the other).
  ASSERT_TRUE(a.subscribe(1, {{"anon5/t", 0}}));
  b.send(publishPacket(5, "anon5/t", "y", 0));
  auto m = a.nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "y");
}

TEST(ConnectV5, PahoGetsAssignedClientIdentifier) {
  BrokerProcess broker;
  PahoClient c(broker.port(), "", 5);
  auto rsp = c.connect(true);
  const auto& props = rsp.get_properties();
  ASSERT_TRUE(props.contains(mqtt::property::ASSIGNED_CLIENT_IDENTIFER));
  EXPECT_FALSE(mqtt::get<std::string>(props, mqtt::property::ASSIGNED_CLIENT_IDENTIFER).empty());
}

TEST(ConnectV5, UnsupportedAuthenticationMethodRefused0x8C) {
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("auth"));
  s.props.str(P_AUTH_METHOD, "SCRAM-SHA-1").str(P_AUTH_DATA, "client-first");
  ASSERT_TRUE(c.send(connectPacket(s)));
  std::vector<Packet> seen;
  EXPECT_TRUE(c.waitClosed(5s, &seen)) << "must close after refusing";
  ASSERT_FALSE(seen.empty()) << "expected CONNACK 0x8C";
  ASSERT_EQ(seen[0].type, CONNACK) << "no AUTH exchange for an unsupported method";
  auto ack = parseConnack(seen[0], 5);
  EXPECT_EQ(ack.code, 0x8C);
}

TEST(ConnectV5, ConnackReasonCodeZeroHasNoSessionForCleanStart) {
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  auto ack = c.connect(cs(5, uid("cs")));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_FALSE(ack->session_present);
  // Retain, wildcard, subscription id and shared subscriptions are all supported: if the
  // broker advertises them at all, it must not say "unavailable".
  for (uint8_t id : {P_RETAIN_AVAILABLE, P_WILDCARD_SUB_AVAILABLE, P_SUB_ID_AVAILABLE,
                     P_SHARED_SUB_AVAILABLE}) {
    if (auto val = ack->props.getInt(id)) { EXPECT_EQ(*val, 1u) << "property " << int(id); }
  }
}

}  // namespace
}  // namespace itest
