// Will messages: sent (with their QoS and retain flag) when a client's socket dies, on
// keep-alive expiry and on a protocol error; not sent after a normal DISCONNECT; 5.0 will
// delay interval, its cancellation by a reconnect, and DISCONNECT with reason 0x04.
#include "itest.hpp"

namespace itest {
namespace {

using Clock = std::chrono::steady_clock;

class WillTest : public Versioned {
 protected:
  ConnectSpec willSpec(const std::string& id, const std::string& topic, int qos, bool retain,
                       uint16_t keep_alive = 60) const {
    ConnectSpec s = spec(id);
    s.keep_alive = keep_alive;
    s.will = Will{topic, "gone:" + id, qos, retain, {}};
    return s;
  }
};
ITEST_VERSIONS(WillTest);

TEST_P(WillTest, SentWhenSocketDies) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/#", 2);
  const std::string id = uid("dying");
  auto c = rawConnect(broker.port(), willSpec(id, "will/a", 1, false));
  c->abort();
  auto m = watcher.next(5s);
  ASSERT_TRUE(m) << "will not published after the socket died";
  EXPECT_EQ(m->get_topic(), "will/a");
  EXPECT_EQ(m->to_string(), "gone:" + id);
  EXPECT_EQ(m->get_qos(), 1) << "will QoS 1 delivered at QoS 1";
  EXPECT_FALSE(m->is_retained());
}

TEST_P(WillTest, SentWhenPeerClosesWithoutDisconnect) {
  // An orderly TCP close (FIN) without DISCONNECT is still an unclean end of the session.
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/#", 0);
  {
    auto c = rawConnect(broker.port(), willSpec(uid("fin"), "will/fin", 0, false));
  }  // destructor closes the socket normally
  auto m = watcher.next(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_topic(), "will/fin");
}

TEST_P(WillTest, QoS2WillDeliveredAtQoS2) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/q2", 2);
  auto c = rawConnect(broker.port(), willSpec(uid("q2"), "will/q2", 2, false));
  c->abort();
  auto m = watcher.next(5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_qos(), 2);
}

TEST_P(WillTest, RetainedWillKeptForLaterSubscribers) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/r", 1);
  const std::string id = uid("ret");
  auto c = rawConnect(broker.port(), willSpec(id, "will/r", 1, true));
  c->abort();
  ASSERT_TRUE(watcher.next(5s)) << "will not published";
  PahoClient late(broker.port(), uid("late"), v());
  late.connect();
  late.subscribe("will/r", 1);
  auto m = late.next(5s);
  ASSERT_TRUE(m) << "retained will not kept";
  EXPECT_EQ(m->to_string(), "gone:" + id);
  EXPECT_TRUE(m->is_retained());
}

TEST_P(WillTest, NotSentAfterNormalDisconnect) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/#", 1);
  auto c = rawConnect(broker.port(), willSpec(uid("polite"), "will/polite", 1, true));
  ASSERT_TRUE(c->send(disconnectPacket(v())));
  EXPECT_TRUE(c->waitClosed(5s)) << "broker must close after DISCONNECT";
  // A will would be published promptly on the close; 500 ms of silence proves it was discarded.
  EXPECT_TRUE(watcher.silentFor(500ms)) << "will published after a normal DISCONNECT";
  // And it was not stored as retained either.
  PahoClient late(broker.port(), uid("late"), v());
  late.connect();
  late.subscribe("will/polite", 1);
  EXPECT_TRUE(late.silentFor(400ms));
}

TEST_P(WillTest, SentOnKeepAliveExpiry) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/ka", 1);
  auto c = rawConnect(broker.port(), willSpec(uid("silent"), "will/ka", 1, false, 1));
  const auto t0 = Clock::now();
  auto m = watcher.next(5s);  // the client stays connected but silent
  ASSERT_TRUE(m) << "no will after keep-alive expiry";
  const auto dt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  EXPECT_LE(dt.count(), 3000) << "keep-alive 1 s: expiry due at 1.5 s";
  EXPECT_GE(dt.count(), 900) << "disconnected before the keep-alive allowed";
}

TEST_P(WillTest, SentOnProtocolError) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/err", 1);
  auto c = rawConnect(broker.port(), willSpec(uid("bad"), "will/err", 1, false));
  ASSERT_TRUE(c->send({0x36, 0x05, 0x00, 0x01, 'x', 0x00, 0x01}));  // PUBLISH QoS 3
  EXPECT_TRUE(c->waitClosed(5s));
  auto m = watcher.next(5s);
  ASSERT_TRUE(m) << "will must be published when the server closes on a protocol error";
  EXPECT_EQ(m->get_topic(), "will/err");
}

TEST_P(WillTest, PahoClientWillOnConnectionLoss) {
  BrokerProcess broker;
  PahoClient watcher(broker.port(), uid("w"), v());
  watcher.connect();
  watcher.subscribe("will/paho", 1);
  // Paho sets the will; a raw client with the same client id then takes the session over:
  // a takeover is not a normal DISCONNECT, so the old connection's will is published.
  const std::string id = uid("paho-will");
  PahoClient c(broker.port(), id, v());
  auto opts = c.options(true)
                  .will(mqtt::message("will/paho", "paho-gone", 1, false))
                  .finalize();
  c.connect(opts);
  auto taker = rawConnect(broker.port(), spec(id));
  auto m = watcher.next(5s);
  ASSERT_TRUE(m) << "will of the taken-over connection not published";
  EXPECT_EQ(m->to_string(), "paho-gone");
}

class WillV5 : public ::testing::Test {
 protected:
  ConnectSpec delayed(const std::string& id, uint32_t delay_s, uint32_t expiry_s) {
    ConnectSpec s = cs(5, id);
    s.clean = false;
    s.props.u32(P_SESSION_EXPIRY, expiry_s);
    s.will = Will{"will5/" + id, "bye", 1, false, {}};
    s.will->props.u32(P_WILL_DELAY, delay_s);
    return s;
  }
  BrokerProcess broker_;
};

TEST_F(WillV5, WillDelayIntervalPostponesWill) {
  PahoClient watcher(broker_.port(), uid("w"), 5);
  watcher.connect();
  watcher.subscribe("will5/#", 1);
  RawClient c(broker_.port(), 5);
  ASSERT_TRUE(c.connect(delayed(uid("d"), 2, 60)));
  const auto t0 = Clock::now();
  c.abort();
  auto m = watcher.next(6s);
  ASSERT_TRUE(m) << "delayed will never published";
  const auto dt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  EXPECT_GE(dt.count(), 1700) << "will published before its 2 s delay";
  EXPECT_LE(dt.count(), 4500);
}

TEST_F(WillV5, ReconnectWithinWillDelaySuppressesWill) {
  PahoClient watcher(broker_.port(), uid("w"), 5);
  watcher.connect();
  watcher.subscribe("will5/#", 1);
  const std::string id = uid("back");
  {
    RawClient c(broker_.port(), 5);
    ASSERT_TRUE(c.connect(delayed(id, 2, 60)));
    c.abort();
  }
  RawClient again(broker_.port(), 5);
  ConnectSpec s = cs(5, id);
  s.clean = false;
  s.props.u32(P_SESSION_EXPIRY, 60);
  auto ack = again.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  // The will would have fired 2 s after the drop: 3 s of silence proves it was cancelled.
  EXPECT_TRUE(watcher.silentFor(3s)) << "will sent although the client came back in time";
}

TEST_F(WillV5, SessionExpiryShorterThanWillDelaySendsWillAtExpiry) {
  PahoClient watcher(broker_.port(), uid("w"), 5);
  watcher.connect();
  watcher.subscribe("will5/#", 1);
  RawClient c(broker_.port(), 5);
  ASSERT_TRUE(c.connect(delayed(uid("exp"), 30, 1)));
  const auto t0 = Clock::now();
  c.abort();
  auto m = watcher.next(5s);
  ASSERT_TRUE(m) << "will must be sent when the session ends (expiry 1 s < delay 30 s)";
  const auto dt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  EXPECT_GE(dt.count(), 700);
}

TEST_F(WillV5, DisconnectWithWillMessage0x04SendsWill) {
  PahoClient watcher(broker_.port(), uid("w"), 5);
  watcher.connect();
  watcher.subscribe("will5/#", 1);
  const std::string id = uid("x04");
  RawClient c(broker_.port(), 5);
  ConnectSpec s = cs(5, id);
  s.will = Will{"will5/" + id, "asked-for", 1, false, {}};
  ASSERT_TRUE(c.connect(s));
  ASSERT_TRUE(c.send(disconnectPacket(5, 0x04)));
  EXPECT_TRUE(c.waitClosed(5s));
  auto m = watcher.next(5s);
  ASSERT_TRUE(m) << "DISCONNECT 0x04 must publish the will";
  EXPECT_EQ(m->to_string(), "asked-for");
}

TEST_F(WillV5, WillPropertiesForwarded) {
  PahoClient watcher(broker_.port(), uid("w"), 5);
  watcher.connect();
  watcher.subscribe("will5/#", 1);
  RawClient c(broker_.port(), 5);
  ConnectSpec s = cs(5, uid("props"));
  s.will = Will{"will5/props", "{}", 1, false, {}};
  s.will->props.str(P_CONTENT_TYPE, "application/json").user("why", "crash");
  ASSERT_TRUE(c.connect(s));
  c.abort();
  auto m = watcher.next(5s);
  ASSERT_TRUE(m);
  const auto& p = m->get_properties();
  ASSERT_TRUE(p.contains(mqtt::property::CONTENT_TYPE));
  EXPECT_EQ(mqtt::get<std::string>(p, mqtt::property::CONTENT_TYPE), "application/json");
  ASSERT_TRUE(p.contains(mqtt::property::USER_PROPERTY));
  auto up = mqtt::get<mqtt::string_pair>(p, mqtt::property::USER_PROPERTY);
  EXPECT_EQ(std::get<0>(up), "why");
  EXPECT_EQ(std::get<1>(up), "crash");
}

}  // namespace
}  // namespace itest
