// PUBLISH at QoS 0/1/2 in both directions with the complete acknowledgement flows, QoS
// downgrade to the subscription's maximum, ordering, exactly-once for QoS 2, and resending
// unacknowledged messages on reconnect.
#include "itest.hpp"

namespace itest {
namespace {

class PublishQos : public Versioned {};
ITEST_VERSIONS(PublishQos);

struct QosCase {
  int version, pub_qos, sub_qos;
};
class PublishQosMatrix : public ::testing::TestWithParam<QosCase> {};
INSTANTIATE_TEST_SUITE_P(Mqtt, PublishQosMatrix,
                         ::testing::Values(QosCase{4, 0, 0}, QosCase{4, 1, 1}, QosCase{4, 2, 2},
                                           QosCase{4, 2, 0}, QosCase{4, 1, 2}, QosCase{4, 2, 1},
                                           QosCase{5, 0, 0}, QosCase{5, 1, 1}, QosCase{5, 2, 2},
                                           QosCase{5, 2, 0}, QosCase{5, 1, 2}, QosCase{5, 2, 1}),
                         [](const auto& i) {
                           return std::string(i.param.version == 5 ? "V5" : "V311") + "_pub" +
                                  std::to_string(i.param.pub_qos) + "_sub" +
                                  std::to_string(i.param.sub_qos);
                         });

TEST_P(PublishQosMatrix, PahoDeliversAtMinimumOfPublishAndSubscriptionQos) {
  const auto [ver, pq, sq] = GetParam();
  BrokerProcess broker;
  PahoClient sub(broker.port(), uid("sub"), ver), pub(broker.port(), uid("pub"), ver);
  connectAll({&sub, &pub});
  sub.subscribe("qos/matrix", sq);
  pub.publish("qos/matrix", "payload-" + std::to_string(pq), pq);
  auto m = sub.next();
  ASSERT_TRUE(m) << "message not delivered";
  EXPECT_EQ(m->get_topic(), "qos/matrix");
  EXPECT_EQ(m->to_string(), "payload-" + std::to_string(pq));
  EXPECT_EQ(m->get_qos(), std::min(pq, sq));
  EXPECT_FALSE(m->is_retained());
}

TEST_P(PublishQos, InboundQos1GetsPubackWithSamePacketId) {
  BrokerProcess broker;
  auto sub = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(sub->subscribe(1, {{"in/q1", 1}}));
  auto pub = rawConnect(broker.port(), spec(uid("p")));
  ASSERT_TRUE(pub->send(publishPacket(v(), "in/q1", "hello", 1, 0x1234)));
  auto p = pub->read();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PUBACK) << typeName(p->type);
  auto ack = parseAck(*p, v());
  EXPECT_EQ(ack.id, 0x1234);
  EXPECT_EQ(ack.reason, 0x00);
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "hello");
  EXPECT_EQ(m->qos, 1);
  EXPECT_NE(m->id, 0);
}

TEST(PublishQosV5, PubackWithoutSubscribersIsSuccessOrNoMatchingSubscribers) {
  BrokerProcess broker;
  RawClient pub(broker.port(), 5);
  ASSERT_TRUE(pub.connect(cs(5, uid("p"))));
  ASSERT_TRUE(pub.send(publishPacket(5, "nobody/here", "x", 1, 3)));
  auto p = pub.read();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PUBACK);
  auto ack = parseAck(*p, 5);
  EXPECT_EQ(ack.id, 3);
  EXPECT_TRUE(ack.reason == 0x00 || ack.reason == 0x10) << int(ack.reason);
}

TEST_P(PublishQos, InboundQos2FlowDeliversExactlyOnce) {
  BrokerProcess broker;
  auto sub = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(sub->subscribe(1, {{"in/q2", 2}}));
  auto pub = rawConnect(broker.port(), spec(uid("p")));
  ASSERT_TRUE(pub->send(publishPacket(v(), "in/q2", "once", 2, 77)));
  auto rec = pub->read();
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->type, PUBREC) << typeName(rec->type);
  EXPECT_EQ(parseAck(*rec, v()).id, 77);
  // The publisher retransmits the PUBLISH (DUP) before PUBREL: the broker must answer PUBREC
  // again and must not deliver the message a second time.
  ASSERT_TRUE(pub->send(publishPacket(v(), "in/q2", "once", 2, 77, false, {}, /*dup=*/true)));
  auto rec2 = pub->read();
  ASSERT_TRUE(rec2);
  ASSERT_EQ(rec2->type, PUBREC);
  EXPECT_EQ(parseAck(*rec2, v()).id, 77);
  ASSERT_TRUE(pub->send(ackPacket(PUBREL, 77, v())));
  auto comp = pub->read();
  ASSERT_TRUE(comp);
  ASSERT_EQ(comp->type, PUBCOMP) << typeName(comp->type);
  EXPECT_EQ(parseAck(*comp, v()).id, 77);

  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "once");
  EXPECT_EQ(m->qos, 2);
  // Complete the outbound flow too.
  ASSERT_TRUE(sub->send(ackPacket(PUBREC, m->id, v())));
  auto rel = sub->read();
  ASSERT_TRUE(rel);
  ASSERT_EQ(rel->type, PUBREL);
  EXPECT_EQ(rel->flags, 2) << "PUBREL fixed-header flags must be 0010";
  EXPECT_EQ(parseAck(*rel, v()).id, m->id);
  ASSERT_TRUE(sub->send(ackPacket(PUBCOMP, m->id, v())));
  // A second copy would arrive promptly; 500 ms of silence proves there is none.
  EXPECT_FALSE(sub->nextPublish(500ms)) << "QoS 2 message delivered twice";
}

TEST_P(PublishQos, PubrelForUnknownIdStillGetsPubcomp) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  ASSERT_TRUE(c->send(ackPacket(PUBREL, 999, v())));
  auto p = c->read();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, PUBCOMP);
  auto ack = parseAck(*p, v());
  EXPECT_EQ(ack.id, 999);
  if (v() == 5) { EXPECT_TRUE(ack.reason == 0x00 || ack.reason == 0x92) << int(ack.reason); }
}

TEST_P(PublishQos, OutboundQos1NotResentAfterPuback) {
  BrokerProcess broker;
  auto sub = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(sub->subscribe(1, {{"out/q1", 1}}));
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("out/q1", "a", 1);
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->qos, 1);
  EXPECT_FALSE(m->dup);
  ASSERT_TRUE(sub->send(ackPacket(PUBACK, m->id, v())));
  pub.publish("out/q1", "b", 1);
  auto m2 = sub->nextPublish();
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->payload, "b") << "first message was resent after its PUBACK";
}

TEST_P(PublishQos, UnackedQos1ResentWithDupOnSessionResume) {
  BrokerProcess broker;
  const std::string id = uid("dup");
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  uint16_t first_id = 0;
  {
    auto sub = rawConnect(broker.port(), spec(id, false, 300));
    ASSERT_TRUE(sub->subscribe(1, {{"dup/q1", 1}}));
    pub.publish("dup/q1", "unacked", 1);
    auto m = sub->nextPublish();
    ASSERT_TRUE(m);
    first_id = m->id;
    sub->abort();  // no PUBACK, no DISCONNECT
  }
  auto sub = std::make_unique<RawClient>(broker.port(), v());
  std::optional<ConnAck> ack;
  // The broker may still be noticing the old socket's death; the resume itself must work.
  ack = sub->connect(spec(id, false, 300));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_TRUE(ack->session_present);
  auto m = sub->nextPublish();
  ASSERT_TRUE(m) << "unacknowledged QoS 1 message must be resent";
  EXPECT_EQ(m->payload, "unacked");
  EXPECT_TRUE(m->dup) << "resent PUBLISH must have DUP=1";
  EXPECT_EQ(m->id, first_id) << "resent PUBLISH keeps its packet id";
}

TEST_P(PublishQos, UnackedQos2PubrelResentOnSessionResume) {
  BrokerProcess broker;
  const std::string id = uid("rel");
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  uint16_t pid = 0;
  {
    auto sub = rawConnect(broker.port(), spec(id, false, 300));
    ASSERT_TRUE(sub->subscribe(1, {{"rel/q2", 2}}));
    pub.publish("rel/q2", "q2", 2);
    auto m = sub->nextPublish();
    ASSERT_TRUE(m);
    pid = m->id;
    ASSERT_TRUE(sub->send(ackPacket(PUBREC, pid, v())));
    auto rel = sub->read();
    ASSERT_TRUE(rel);
    ASSERT_EQ(rel->type, PUBREL);
    sub->abort();  // no PUBCOMP
  }
  auto sub = rawConnect(broker.port(), spec(id, false, 300));
  auto p = sub->readSkippingPings(5s);
  ASSERT_TRUE(p) << "PUBREL must be resent";
  ASSERT_EQ(p->type, PUBREL) << "after PUBREC the broker resends PUBREL, not " << typeName(p->type);
  EXPECT_EQ(parseAck(*p, v()).id, pid);
  ASSERT_TRUE(sub->send(ackPacket(PUBCOMP, pid, v())));
  EXPECT_FALSE(sub->nextPublish(500ms)) << "message must not be delivered again";
}

TEST_P(PublishQos, ManyQos1MessagesArriveInOrder) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), uid("s"), v()), pub(broker.port(), uid("p"), v());
  connectAll({&sub, &pub});
  sub.subscribe("order/t", 1);
  constexpr int kN = 200;
  // Pipelined, with at most 50 outstanding (Paho buffers at most 100 unacknowledged).
  std::vector<mqtt::delivery_token_ptr> toks;
  for (int i = 0; i < kN; ++i) {
    if (i >= 50) {
      ASSERT_TRUE(toks[size_t(i - 50)]->wait_for(std::chrono::seconds(10)));
    }
    toks.push_back(pub.raw().publish(mqtt::make_message("order/t", std::to_string(i), 1, false)));
  }
  for (auto& t : toks) ASSERT_TRUE(t->wait_for(std::chrono::seconds(10)));
  auto got = sub.collect(kN);
  ASSERT_EQ(got.size(), size_t(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i]->to_string(), std::to_string(i)) << "at " << i;
}

TEST_P(PublishQos, Qos0DeliveredToManySubscribers) {
  BrokerProcess broker;
  std::vector<std::unique_ptr<PahoClient>> subs;
  for (int i = 0; i < 5; ++i)
    subs.push_back(std::make_unique<PahoClient>(broker.port(), uid("s"), v()));
  PahoClient pub(broker.port(), uid("p"), v());
  connectAll({subs[0].get(), subs[1].get(), subs[2].get(), subs[3].get(), subs[4].get(), &pub});
  for (auto& s : subs) s->subscribe("fan/t", 0);
  pub.publish("fan/t", "all", 0);
  for (auto& s : subs) {
    auto m = s->next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->to_string(), "all");
  }
}

TEST_P(PublishQos, BinaryPayloadPreserved) {
  BrokerProcess broker;
  auto sub = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(sub->subscribe(1, {{"bin/t", 1}}));
  auto pub = rawConnect(broker.port(), spec(uid("p")));
  std::string payload;
  for (int i = 0; i < 70000; ++i) payload.push_back(static_cast<char>(i * 7));
  ASSERT_TRUE(pub->send(publishPacket(v(), "bin/t", payload, 1, 5)));
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload.size(), payload.size());
  EXPECT_TRUE(m->payload == payload);
}

}  // namespace
}  // namespace itest
