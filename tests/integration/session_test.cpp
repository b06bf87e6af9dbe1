// Persistent sessions: subscriptions and queued QoS 1/2 messages across reconnects, a clean
// restart (SIGTERM) and a crash (SIGKILL); clean sessions discarding state; 5.0 session expiry.
#include "itest.hpp"

namespace itest {
namespace {

class Session : public Versioned {};
ITEST_VERSIONS(Session);

TEST_P(Session, SubscriptionsSurviveReconnect) {
  BrokerProcess broker;
  const std::string id = uid("keep");
  {
    PahoClient c(broker.port(), id, v());
    c.connect(persistentOpts(c));
    c.subscribe("sess/t", 1);
    c.disconnect();
  }
  PahoClient c(broker.port(), id, v());
  auto rsp = c.connect(persistentOpts(c));
  EXPECT_TRUE(rsp.is_session_present());
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("sess/t", "without-resubscribe", 1);
  auto m = c.next();
  ASSERT_TRUE(m) << "stored subscription not restored";
  EXPECT_EQ(m->to_string(), "without-resubscribe");
}

TEST_P(Session, QueuedWhileOfflineDeliveredInOrder) {
  BrokerProcess broker;
  const std::string id = uid("queue");
  {
    PahoClient c(broker.port(), id, v());
    c.connect(persistentOpts(c));
    c.subscribe("q/one", 1);
    c.subscribe("q/two", 2);
    c.disconnect();
  }
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  for (int i = 0; i < 10; ++i) pub.publish(i % 2 ? "q/two" : "q/one", std::to_string(i), i % 2 ? 2 : 1);
  PahoClient c(broker.port(), id, v());
  c.connect(persistentOpts(c));
  auto got = c.collect(10);
  ASSERT_EQ(got.size(), 10u);
  // Order is guaranteed per topic (each topic is an ordered topic), not across topics.
  std::vector<std::string> one, two;
  for (auto& m : got) {
    (m->get_topic() == "q/one" ? one : two).push_back(m->to_string());
    EXPECT_EQ(m->get_qos(), m->get_topic() == "q/one" ? 1 : 2);
  }
  EXPECT_EQ(one, (std::vector<std::string>{"0", "2", "4", "6", "8"}));
  EXPECT_EQ(two, (std::vector<std::string>{"1", "3", "5", "7", "9"}));
  EXPECT_TRUE(c.silentFor(400ms)) << "duplicates delivered";
}

TEST_P(Session, CleanSessionDiscardsStoredState) {
  BrokerProcess broker;
  const std::string id = uid("wipe");
  {
    PahoClient c(broker.port(), id, v());
    c.connect(persistentOpts(c));
    c.subscribe("wipe/t", 1);
    c.disconnect();
  }
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("wipe/t", "queued", 1);
  {
    PahoClient c(broker.port(), id, v());
    auto rsp = c.connect(true);
    EXPECT_FALSE(rsp.is_session_present());
    EXPECT_TRUE(c.silentFor(500ms)) << "clean session received the old session's queue";
    pub.publish("wipe/t", "live", 1);
    EXPECT_TRUE(c.silentFor(400ms)) << "clean session kept the old subscription";
    c.disconnect();
  }
  // And a later persistent connect finds no session either.
  PahoClient c(broker.port(), id, v());
  auto rsp = c.connect(persistentOpts(c));
  EXPECT_FALSE(rsp.is_session_present());
}

TEST_P(Session, CleanSessionOfflineQueueNotKept) {
  // A clean session ends at disconnect: nothing is queued for it.
  BrokerProcess broker;
  const std::string id = uid("clean");
  {
    PahoClient c(broker.port(), id, v());
    c.connect(true);
    c.subscribe("cl/t", 1);
    c.disconnect();
  }
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("cl/t", "x", 1);
  PahoClient c(broker.port(), id, v());
  auto rsp = c.connect(persistentOpts(c));
  EXPECT_FALSE(rsp.is_session_present());
  EXPECT_TRUE(c.silentFor(400ms));
}

// Shared body of the restart tests: a persistent session with QoS 1 and QoS 2 subscriptions
// goes offline, messages are queued, the broker restarts (how: `restart`), the session resumes.
void queuedSurvivesRestart(int v, const std::function<void(BrokerProcess&)>& restart) {
  BrokerProcess broker;
  const std::string id = uid("durable");
  auto opts = [&](PahoClient& c) {
    auto b = c.options(false);
    if (v == 5) b.properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 3600)});
    return b.finalize();
  };
  {
    PahoClient c(broker.port(), id, v);
    c.connect(opts(c));
    c.subscribe("dur/q1", 1);
    c.subscribe("dur/q2", 2);
    c.disconnect();
  }
  {
    PahoClient pub(broker.port(), uid("p"), v);
    pub.connect();
    for (int i = 0; i < 20; ++i) pub.publish(i < 10 ? "dur/q1" : "dur/q2", "m" + std::to_string(i), i < 10 ? 1 : 2);
    pub.disconnect();
  }
  restart(broker);
  PahoClient c(broker.port(), id, v);
  auto rsp = c.connect(opts(c));
  EXPECT_TRUE(rsp.is_session_present()) << "session lost in restart";
  auto got = c.collect(20);
  ASSERT_EQ(got.size(), 20u) << "queued messages lost in restart";
  // In order per topic (no order is promised across topics).
  std::vector<std::string> q1, q2, want1, want2;
  for (auto& m : got) (m->get_topic() == "dur/q1" ? q1 : q2).push_back(m->to_string());
  for (int i = 0; i < 20; ++i) (i < 10 ? want1 : want2).push_back("m" + std::to_string(i));
  EXPECT_EQ(q1, want1);
  EXPECT_EQ(q2, want2);
  // The subscriptions themselves also survived.
  PahoClient pub(broker.port(), uid("p2"), v);
  pub.connect();
  pub.publish("dur/q1", "after", 1);
  auto m = c.next();
  ASSERT_TRUE(m) << "subscription lost in restart";
  EXPECT_EQ(m->to_string(), "after");
}

TEST_P(Session, QueuedMessagesSurviveSigtermRestart) {
  queuedSurvivesRestart(v(), [](BrokerProcess& b) {
    EXPECT_EQ(b.stop(), 0) << "SIGTERM must exit 0";
    b.restart();
  });
}

TEST_P(Session, QueuedMessagesSurviveSigkillRestart) {
  queuedSurvivesRestart(v(), [](BrokerProcess& b) {
    b.kill();
    b.restart();
  });
}

TEST(SessionProcess, SigtermExitsZeroWithClientsConnected) {
  BrokerProcess broker;
  PahoClient a(broker.port(), uid("a"), 4), b(broker.port(), uid("b"), 5);
  a.connect(false);
  b.connect();
  a.subscribe("x/#", 1);
  EXPECT_EQ(broker.stop(), 0);
}

TEST(SessionV5, SessionGoneAfterExpiry) {
  BrokerProcess broker;
  const std::string id = uid("exp");
  {
    RawClient c(broker.port(), 5);
    ConnectSpec s = cs(5, id);
    s.clean = false;
    s.props.u32(P_SESSION_EXPIRY, 1);
    ASSERT_TRUE(c.connect(s));
    ASSERT_TRUE(c.subscribe(1, {{"exp/t", 1}}));
    c.send(disconnectPacket(5));
    ASSERT_TRUE(c.waitClosed(5s));
  }
  PahoClient pub(broker.port(), uid("p"), 5);
  pub.connect();
  pub.publish("exp/t", "for-expired-session", 1);
  // The session expires 1 s after the disconnect; nothing can be polled without resuming it,
  // so this wait is the expiry itself.
  std::this_thread::sleep_for(2200ms);
  RawClient c(broker.port(), 5);
  ConnectSpec s = cs(5, id);
  s.clean = false;
  s.props.u32(P_SESSION_EXPIRY, 60);
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present) << "session outlived its expiry interval";
  EXPECT_FALSE(c.nextPublish(400ms)) << "expired session's queue delivered";
}

TEST(SessionV5, SessionKeptWithinExpiry) {
  BrokerProcess broker;
  const std::string id = uid("keep5");
  ConnectSpec s = cs(5, id);
  s.clean = false;
  s.props.u32(P_SESSION_EXPIRY, 30);
  {
    RawClient c(broker.port(), 5);
    ASSERT_TRUE(c.connect(s));
    ASSERT_TRUE(c.subscribe(1, {{"k5/t", 1}}));
    c.send(disconnectPacket(5));
    ASSERT_TRUE(c.waitClosed(5s));
  }
  PahoClient pub(broker.port(), uid("p"), 5);
  pub.connect();
  pub.publish("k5/t", "kept", 1);
  RawClient c(broker.port(), 5);
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  auto m = c.nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "kept");
}

TEST(SessionV5, ZeroExpiryEndsSessionAtDisconnect) {
  BrokerProcess broker;
  const std::string id = uid("zero");
  ConnectSpec s = cs(5, id);
  s.clean = false;  // but no Session Expiry Interval property: 0
  {
    RawClient c(broker.port(), 5);
    ASSERT_TRUE(c.connect(s));
    ASSERT_TRUE(c.subscribe(1, {{"z/t", 1}}));
    c.send(disconnectPacket(5));
    ASSERT_TRUE(c.waitClosed(5s));
  }
  RawClient c(broker.port(), 5);
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present) << "expiry 0: the session ends with the connection";
}

TEST(SessionV5, DisconnectCanShortenSessionExpiry) {
  BrokerProcess broker;
  const std::string id = uid("short");
  ConnectSpec s = cs(5, id);
  s.clean = false;
  s.props.u32(P_SESSION_EXPIRY, 300);
  {
    RawClient c(broker.port(), 5);
    ASSERT_TRUE(c.connect(s));
    ASSERT_TRUE(c.subscribe(1, {{"sh/t", 1}}));
    c.send(disconnectPacket(5, 0x00, Props().u32(P_SESSION_EXPIRY, 0)));
    ASSERT_TRUE(c.waitClosed(5s));
  }
  RawClient c(broker.port(), 5);
  auto ack = c.connect(s);
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present) << "DISCONNECT set the session expiry to 0";
}

}  // namespace
}  // namespace itest
