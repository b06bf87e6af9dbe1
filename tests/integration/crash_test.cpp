// Crash tests (key acceptance): SIGKILL right after the last acknowledgement, restart on the
// same data directory, and check that every acknowledged message, retained message and
// subscription is still there, in order, exactly once for QoS 2.
#include <map>

#include "itest.hpp"

namespace itest {
namespace {

class Crash : public Versioned {
 protected:
  static constexpr uint32_t kExpiry = 3600;

  // Persistent session subscribing at `qos`, then going offline with a DISCONNECT.
  void persistentSubscriber(uint16_t port, const std::string& id, const std::string& filter,
                            int qos) {
    auto c = rawConnect(port, spec(id, false, kExpiry));
    auto ack = c->subscribe(1, {{filter, static_cast<uint8_t>(qos)}});
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->codes, std::vector<uint8_t>{static_cast<uint8_t>(qos)});
    c->send(disconnectPacket(v()));
    ASSERT_TRUE(c->waitClosed(5s));
  }

  // Publishes n QoS 1 messages pipelined and waits for every PUBACK; returns when the last
  // PUBACK has been read.
  void publishQos1(uint16_t port, const std::string& topic, int n, bool retain = false) {
    auto pub = rawConnect(port, spec(uid("pub")));
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(pub->send(publishPacket(v(), topic, payload(i), 1,
                                          static_cast<uint16_t>(i + 1), retain)));
    std::set<uint16_t> acked;
    while (acked.size() < size_t(n)) {
      auto p = pub->read(10s);
      ASSERT_TRUE(p) << "only " << acked.size() << " PUBACKs";
      ASSERT_EQ(p->type, PUBACK);
      auto a = parseAck(*p, v());
      ASSERT_LT(a.reason, 0x80) << "PUBACK refused the message";
      acked.insert(a.id);
    }
  }
  static std::string payload(int i) {
    char b[16];
    std::snprintf(b, sizeof b, "m%04d", i);
    return b;
  }
};
ITEST_VERSIONS(Crash);

TEST_P(Crash, SigkillAfterLastPubackLosesNoQueuedQos1Message) {
  BrokerProcess broker;
  const std::string id = uid("crash-q1");
  constexpr int kN = 200;
  persistentSubscriber(broker.port(), id, "crash/q1", 1);
  publishQos1(broker.port(), "crash/q1", kN);
  broker.kill();  // immediately after the last PUBACK
  broker.restart();

  auto c = std::make_unique<RawClient>(broker.port(), v());
  auto ack = c->connect(spec(id, false, kExpiry));
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->code, 0);
  EXPECT_TRUE(ack->session_present) << "persistent session lost in the crash";
  std::vector<std::string> got;
  while (got.size() < size_t(kN)) {
    auto m = c->nextPublish(5s);
    if (!m) break;
    EXPECT_EQ(m->qos, 1);
    c->send(ackPacket(PUBACK, m->id, v()));
    got.push_back(m->payload);
  }
  ASSERT_EQ(got.size(), size_t(kN)) << "acknowledged messages lost after SIGKILL";
  for (int i = 0; i < kN; ++i) ASSERT_EQ(got[i], payload(i)) << "out of order at " << i;
}

TEST_P(Crash, SigkillAfterLastPubackQueuedDeliveredToPahoSession) {
  BrokerProcess broker;
  const std::string id = uid("crash-paho");
  constexpr int kN = 200;
  {
    PahoClient c(broker.port(), id, v());
    c.connect(persistentOpts(c));
    c.subscribe("crash/paho", 1);
    c.disconnect();
  }
  publishQos1(broker.port(), "crash/paho", kN);
  broker.kill();
  broker.restart();
  PahoClient c(broker.port(), id, v());
  auto rsp = c.connect(persistentOpts(c));
  EXPECT_TRUE(rsp.is_session_present());
  auto got = c.collect(kN);
  ASSERT_EQ(got.size(), size_t(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(got[i]->to_string(), payload(i)) << "at " << i;
}

TEST_P(Crash, SigkillAfterPubackKeepsRetainedMessage) {
  BrokerProcess broker;
  {
    auto pub = rawConnect(broker.port(), spec(uid("pub")));
    pub->send(publishPacket(v(), "crash/ret/a", "keep-a", 1, 1, true));
    pub->send(publishPacket(v(), "crash/ret/b", "doomed", 1, 2, true));
    pub->send(publishPacket(v(), "crash/ret/b", "", 1, 3, true));  // clears b
    pub->send(publishPacket(v(), "crash/ret/c", "old", 1, 4, true));
    pub->send(publishPacket(v(), "crash/ret/c", "keep-c", 1, 5, true));
    for (int i = 0; i < 5; ++i) {
      auto p = pub->read();
      ASSERT_TRUE(p && p->type == PUBACK);
    }
  }
  broker.kill();
  broker.restart();
  auto c = rawConnect(broker.port(), spec(uid("late")));
  ASSERT_TRUE(c->subscribe(1, {{"crash/ret/#", 1}}));
  std::map<std::string, std::string> got;
  while (got.size() < 2) {
    auto m = c->nextPublish(5s);
    if (!m) break;
    EXPECT_TRUE(m->retain);
    got[m->topic] = m->payload;
  }
  EXPECT_FALSE(c->nextPublish(400ms)) << "cleared retained message came back";  // absence
  EXPECT_EQ(got, (std::map<std::string, std::string>{{"crash/ret/a", "keep-a"},
                                                     {"crash/ret/c", "keep-c"}}));
}

TEST_P(Crash, SigkillAfterLastPubcompQos2DeliveredExactlyOnce) {
  BrokerProcess broker;
  const std::string id = uid("crash-q2");
  constexpr int kN = 50;
  persistentSubscriber(broker.port(), id, "crash/q2", 2);
  {
    auto pub = rawConnect(broker.port(), spec(uid("pub")));
    for (int i = 0; i < kN; ++i) {
      const auto pid = static_cast<uint16_t>(i + 1);
      ASSERT_TRUE(pub->send(publishPacket(v(), "crash/q2", payload(i), 2, pid)));
      auto rec = pub->read();
      ASSERT_TRUE(rec && rec->type == PUBREC);
      ASSERT_EQ(parseAck(*rec, v()).id, pid);
      ASSERT_TRUE(pub->send(ackPacket(PUBREL, pid, v())));
      auto comp = pub->read();
      ASSERT_TRUE(comp && comp->type == PUBCOMP);
      ASSERT_EQ(parseAck(*comp, v()).id, pid);
    }
  }
  broker.kill();
  broker.restart();
  auto c = std::make_unique<RawClient>(broker.port(), v());
  auto ack = c->connect(spec(id, false, kExpiry));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  std::vector<std::string> got;
  for (;;) {
    auto p = c->readSkippingPings(got.size() < size_t(kN) ? 5s : 500ms);  // 500 ms: absence
    if (!p) break;
    if (p->type == PUBLISH) {
      auto m = parsePublish(*p, v());
      EXPECT_EQ(m.qos, 2);
      got.push_back(m.payload);
      c->send(ackPacket(PUBREC, m.id, v()));
    } else if (p->type == PUBREL) {
      c->send(ackPacket(PUBCOMP, parseAck(*p, v()).id, v()));
    }
  }
  ASSERT_EQ(got.size(), size_t(kN)) << "QoS 2 messages lost or duplicated after SIGKILL";
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], payload(i)) << "at " << i;
}

TEST_P(Crash, SigkillBetweenPubrecAndPubrelStillExactlyOnce) {
  BrokerProcess broker;
  const std::string sub_id = uid("sub"), pub_id = uid("pub");
  persistentSubscriber(broker.port(), sub_id, "crash/half", 2);
  {
    auto pub = rawConnect(broker.port(), spec(pub_id, false, kExpiry));
    ASSERT_TRUE(pub->send(publishPacket(v(), "crash/half", "half", 2, 11)));
    auto rec = pub->read();
    ASSERT_TRUE(rec && rec->type == PUBREC);
  }
  broker.kill();
  broker.restart();
  {
    // The publisher resumes its session and completes the flow with PUBREL.
    auto pub = rawConnect(broker.port(), spec(pub_id, false, kExpiry));
    ASSERT_TRUE(pub->send(ackPacket(PUBREL, 11, v())));
    auto comp = pub->readSkippingPings();
    ASSERT_TRUE(comp && comp->type == PUBCOMP);
  }
  auto c = rawConnect(broker.port(), spec(sub_id, false, kExpiry));
  int copies = 0;
  for (;;) {
    auto p = c->readSkippingPings(copies ? 500ms : 5s);  // after the first: absence window
    if (!p) break;
    if (p->type == PUBLISH) {
      auto m = parsePublish(*p, v());
      EXPECT_EQ(m.payload, "half");
      ++copies;
      c->send(ackPacket(PUBREC, m.id, v()));
    } else if (p->type == PUBREL) {
      c->send(ackPacket(PUBCOMP, parseAck(*p, v()).id, v()));
    }
  }
  EXPECT_EQ(copies, 1) << "PUBREC'd QoS 2 message must survive the crash and arrive once";
}

TEST_P(Crash, SigkillWithUnackedInflightRedelivers) {
  BrokerProcess broker;
  const std::string id = uid("inflight");
  auto c = rawConnect(broker.port(), spec(id, false, kExpiry));
  ASSERT_TRUE(c->subscribe(1, {{"crash/inf", 1}}));
  publishQos1(broker.port(), "crash/inf", 5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->nextPublish()) << "live delivery " << i;
  // No PUBACKs sent: all 5 are in flight when the broker dies.
  broker.kill();
  c.reset();
  broker.restart();
  c = std::make_unique<RawClient>(broker.port(), v());
  auto ack = c->connect(spec(id, false, kExpiry));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  for (int i = 0; i < 5; ++i) {
    auto m = c->nextPublish();
    ASSERT_TRUE(m) << "unacknowledged in-flight message " << i << " lost";
    EXPECT_EQ(m->payload, payload(i));
    c->send(ackPacket(PUBACK, m->id, v()));
  }
}

TEST_P(Crash, AckedDeliveriesNotRedeliveredAfterSigterm) {
  BrokerProcess broker;
  const std::string id = uid("acked");
  auto c = rawConnect(broker.port(), spec(id, false, kExpiry));
  ASSERT_TRUE(c->subscribe(1, {{"crash/acked", 1}}));
  publishQos1(broker.port(), "crash/acked", 3);
  for (int i = 0; i < 3; ++i) {
    auto m = c->nextPublish();
    ASSERT_TRUE(m);
    c->send(ackPacket(PUBACK, m->id, v()));
  }
  // A PING round trip ensures the PUBACKs were read before the shutdown.
  c->send(pingreqPacket());
  auto p = c->read();
  ASSERT_TRUE(p && p->type == PINGRESP);
  c->send(disconnectPacket(v()));
  ASSERT_TRUE(c->waitClosed(5s));
  EXPECT_EQ(broker.stop(), 0);
  broker.restart();
  c = rawConnect(broker.port(), spec(id, false, kExpiry));
  EXPECT_FALSE(c->nextPublish(500ms)) << "acknowledged messages redelivered after restart";
}

TEST_P(Crash, SubscriptionSurvivesSigkill) {
  BrokerProcess broker;
  const std::string id = uid("subkill");
  persistentSubscriber(broker.port(), id, "crash/sub/+", 1);
  broker.kill();
  broker.restart();
  auto c = std::make_unique<RawClient>(broker.port(), v());
  auto ack = c->connect(spec(id, false, kExpiry));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("crash/sub/x", "after-crash", 1);
  auto m = c->nextPublish();
  ASSERT_TRUE(m) << "acknowledged SUBSCRIBE lost in the crash";
  EXPECT_EQ(m->payload, "after-crash");
}

TEST_P(Crash, RepeatedSigkillsKeepEverything) {
  BrokerProcess broker;
  const std::string id = uid("repeat");
  persistentSubscriber(broker.port(), id, "crash/rep", 1);
  for (int round = 0; round < 3; ++round) {
    auto pub = rawConnect(broker.port(), spec(uid("pub")));
    for (int i = 0; i < 10; ++i) {
      pub->send(publishPacket(v(), "crash/rep", payload(round * 10 + i), 1,
                              static_cast<uint16_t>(i + 1)));
      auto a = pub->read();
      ASSERT_TRUE(a && a->type == PUBACK);
    }
    broker.kill();
    broker.restart();
  }
  auto c = rawConnect(broker.port(), spec(id, false, kExpiry));
  for (int i = 0; i < 30; ++i) {
    auto m = c->nextPublish();
    ASSERT_TRUE(m) << "message " << i << " lost";
    EXPECT_EQ(m->payload, payload(i));
    c->send(ackPacket(PUBACK, m->id, v()));
  }
}

}  // namespace
}  // namespace itest
