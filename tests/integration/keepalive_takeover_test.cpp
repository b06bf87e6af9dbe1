// Keep-alive enforcement (1.5 × keep-alive), PINGREQ keeping a connection alive, the 5.0
// server keep-alive property, and session takeover by the same client id.
#include "itest.hpp"

namespace itest {
namespace {

using Clock = std::chrono::steady_clock;

class KeepAlive : public Versioned {};
ITEST_VERSIONS(KeepAlive);

TEST_P(KeepAlive, SilentClientDisconnectedAfterOneAndAHalfKeepAlives) {
  BrokerProcess broker;
  ConnectSpec s = spec(uid("silent"));
  s.keep_alive = 1;
  auto c = rawConnect(broker.port(), s);
  const auto t0 = Clock::now();
  std::vector<Packet> seen;
  ASSERT_TRUE(c->waitClosed(5s, &seen)) << "silent client not disconnected within 5 s";
  const auto dt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  EXPECT_GE(dt.count(), 900) << "disconnected before the keep-alive period";
  EXPECT_LE(dt.count(), 3000) << "keep-alive 1 s must be enforced by ~1.5 s (+ slack)";
  if (v() == 5 && !seen.empty()) {
    ASSERT_EQ(seen.back().type, DISCONNECT);
    EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x8D) << "Keep Alive timeout";
  }
}

TEST_P(KeepAlive, PingsKeepConnectionAlive) {
  BrokerProcess broker;
  ConnectSpec s = spec(uid("pinger"));
  s.keep_alive = 1;
  auto c = rawConnect(broker.port(), s);
  const auto end = Clock::now() + 3s;
  while (Clock::now() < end) {
    ASSERT_TRUE(c->send(pingreqPacket()));
    auto p = c->read(2s);
    ASSERT_TRUE(p) << "connection dropped although the client pinged";
    EXPECT_EQ(p->type, PINGRESP);
    std::this_thread::sleep_for(400ms);  // pacing of the pings, not a wait for a condition
  }
  EXPECT_FALSE(c->closed());
}

TEST_P(KeepAlive, PublishTrafficCountsAsActivity) {
  BrokerProcess broker;
  ConnectSpec s = spec(uid("busy"));
  s.keep_alive = 1;
  auto c = rawConnect(broker.port(), s);
  const auto end = Clock::now() + 3s;
  uint16_t id = 1;
  while (Clock::now() < end) {
    ASSERT_TRUE(c->send(publishPacket(v(), "ka/busy", "x", 1, id)));
    auto p = c->read(2s);
    ASSERT_TRUE(p) << "connection dropped although the client was publishing";
    EXPECT_EQ(p->type, PUBACK);
    ++id;
    std::this_thread::sleep_for(400ms);  // pacing
  }
}

TEST(KeepAliveV5, ServerKeepAliveAnnouncedAndEnforced) {
  BrokerProcess broker({"--max-keepalive", "1"});
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("ska"));
  s.keep_alive = 60;
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  auto ska = ack->props.getInt(P_SERVER_KEEP_ALIVE);
  ASSERT_TRUE(ska) << "CONNACK must carry Server Keep Alive when it overrides the client's";
  EXPECT_EQ(*ska, 1u);
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.waitClosed(5s)) << "server keep-alive of 1 s not enforced";
  const auto dt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  EXPECT_LE(dt.count(), 3000);
}

TEST(KeepAliveV5, ZeroKeepAliveReplacedByServerKeepAlive) {
  BrokerProcess broker({"--max-keepalive", "30"});
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, uid("ka0"));
  s.keep_alive = 0;
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  auto ska = ack->props.getInt(P_SERVER_KEEP_ALIVE);
  ASSERT_TRUE(ska) << "a 0 keep-alive exceeds a 30 s maximum: server keep-alive expected";
  EXPECT_EQ(*ska, 30u);
}

class Takeover : public Versioned {};
ITEST_VERSIONS(Takeover);

TEST_P(Takeover, SameClientIdClosesOldConnection) {
  BrokerProcess broker;
  const std::string id = uid("dup");
  auto first = rawConnect(broker.port(), spec(id));
  auto second = rawConnect(broker.port(), spec(id));
  std::vector<Packet> seen;
  ASSERT_TRUE(first->waitClosed(5s, &seen)) << "old connection must be closed on takeover";
  if (v() == 5) {
    ASSERT_FALSE(seen.empty()) << "5.0: DISCONNECT 0x8E expected before the close";
    ASSERT_EQ(seen.back().type, DISCONNECT);
    EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x8E) << "Session taken over";
  } else {
    EXPECT_TRUE(seen.empty()) << "3.1.1 server never sends DISCONNECT";
  }
  // The new connection works.
  ASSERT_TRUE(second->send(pingreqPacket()));
  auto p = second->read();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PINGRESP);
}

TEST_P(Takeover, TakeoverKeepsPersistentSubscriptions) {
  BrokerProcess broker;
  const std::string id = uid("tk");
  auto first = rawConnect(broker.port(), spec(id, false, 300));
  ASSERT_TRUE(first->subscribe(1, {{"tk/t", 1}}));
  auto second = std::make_unique<RawClient>(broker.port(), v());
  auto ack = second->connect(spec(id, false, 300));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_TRUE(ack->session_present);
  EXPECT_TRUE(first->waitClosed(5s));
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("tk/t", "to-new", 1);
  auto m = second->nextPublish();
  ASSERT_TRUE(m) << "subscription lost in takeover";
  EXPECT_EQ(m->payload, "to-new");
}

}  // namespace
}  // namespace itest
