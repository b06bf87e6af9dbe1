// SUBSCRIBE/SUBACK (granted QoS, invalid filters), UNSUBSCRIBE/UNSUBACK, the + and #
// wildcards, and $-topics not matched by filters that start with a wildcard.
#include "itest.hpp"

namespace itest {
namespace {

class Subscribe : public Versioned {};
ITEST_VERSIONS(Subscribe);

TEST_P(Subscribe, SubackGrantsRequestedQos) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  auto ack = c->subscribe(42, {{"g/0", 0}, {"g/1", 1}, {"g/2", 2}, {"g/+/x", 1}, {"g/#", 2}});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->id, 42);
  EXPECT_EQ(ack->codes, (std::vector<uint8_t>{0, 1, 2, 1, 2}));
}

TEST_P(Subscribe, InvalidFilterRefusedOthersGranted) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  const uint8_t bad = v() == 5 ? 0x8F : 0x80;
  auto ack = c->subscribe(7, {{"ok/1", 1}, {"a/#/b", 1}, {"a+/b", 0}, {"x#", 0}, {"ok/2", 2}});
  ASSERT_TRUE(ack) << "expected a SUBACK";
  EXPECT_EQ(ack->codes, (std::vector<uint8_t>{1, bad, bad, bad, 2}));
  // The connection is still usable and the valid subscriptions work.
  ASSERT_TRUE(c->send(publishPacket(v(), "ok/2", "fine", 0)));
  auto m = c->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "ok/2");
}

TEST_P(Subscribe, UnsubscribeStopsDelivery) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  ASSERT_TRUE(c->subscribe(1, {{"u/a", 0}, {"u/b", 0}}));
  ASSERT_TRUE(c->send(unsubscribePacket(v(), 2, {"u/a"})));
  auto p = c->read();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, UNSUBACK) << typeName(p->type);
  auto ack = parseAck(*p, v());
  EXPECT_EQ(ack.id, 2);
  if (v() == 5) { EXPECT_EQ(ack.codes, std::vector<uint8_t>{0x00}); }
  // u/a is published first; ordering means u/b arriving first proves u/a was not delivered.
  ASSERT_TRUE(c->send(publishPacket(v(), "u/a", "gone", 0)));
  ASSERT_TRUE(c->send(publishPacket(v(), "u/b", "here", 0)));
  auto m = c->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "u/b");
}

TEST(SubscribeV5, UnsubscribeUnknownFilterReportsNoSubscriptionExisted) {
  BrokerProcess broker;
  RawClient c(broker.port(), 5);
  ASSERT_TRUE(c.connect(cs(5, uid("c"))));
  ASSERT_TRUE(c.subscribe(1, {{"known", 0}}));
  ASSERT_TRUE(c.send(unsubscribePacket(5, 9, {"known", "never/subscribed"})));
  auto p = c.read();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->type, UNSUBACK);
  auto ack = parseAck(*p, 5);
  EXPECT_EQ(ack.id, 9);
  EXPECT_EQ(ack.codes, (std::vector<uint8_t>{0x00, 0x11}));
}

TEST_P(Subscribe, PlusWildcardMatchesExactlyOneLevel) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), uid("s"), v()), pub(broker.port(), uid("p"), v());
  connectAll({&sub, &pub});
  sub.subscribe("a/+/c", 1);
  sub.subscribe("+", 1);
  for (const char* t : {"a/b/c", "a/b/d", "a/b/c/d", "a//c", "a/c", "x/b/c", "top", "/top",
                        "a/zz/c"})
    pub.publish(t, t, 1);
  pub.publish("a/end/c", "sentinel", 1);
  std::vector<std::string> got;
  for (;;) {
    auto m = sub.next();
    ASSERT_TRUE(m) << "sentinel never arrived";
    if (m->to_string() == "sentinel") break;
    got.push_back(m->get_topic());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a/b/c", "a//c", "top", "a/zz/c"}));
}

TEST_P(Subscribe, HashWildcardMatchesParentAndAllChildren) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), uid("s"), v()), pub(broker.port(), uid("p"), v());
  connectAll({&sub, &pub});
  sub.subscribe("h/#", 1);
  for (const char* t : {"h", "h/1", "h/1/2/3", "hx", "x/h", "h/", "/h"}) pub.publish(t, t, 1);
  pub.publish("h/end", "sentinel", 1);
  std::vector<std::string> got;
  for (;;) {
    auto m = sub.next();
    ASSERT_TRUE(m) << "sentinel never arrived";
    if (m->to_string() == "sentinel") break;
    got.push_back(m->get_topic());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"h", "h/1", "h/1/2/3", "h/"}));
}

TEST_P(Subscribe, OverlappingSubscriptionsUseHighestQosOrOneCopyEach) {
  // A message matching two subscriptions of one client is delivered (at least once) with the
  // maximum of the subscriptions' QoS, never above the publish QoS.
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  ASSERT_TRUE(c->subscribe(1, {{"ov/#", 0}, {"ov/+", 2}}));
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("ov/x", "m", 1);
  pub.publish("zz", "unrelated", 0);
  int max_qos = -1, copies = 0;
  while (auto m = c->nextPublish(1s)) {
    ++copies;
    max_qos = std::max(max_qos, m->qos);
    if (m->qos == 1) c->send(ackPacket(PUBACK, m->id, v()));
    if (m->qos == 2) c->send(ackPacket(PUBREC, m->id, v()));
  }
  EXPECT_GE(copies, 1);
  EXPECT_LE(copies, 2);
  EXPECT_EQ(max_qos, 1);
}

TEST_P(Subscribe, DollarTopicsNotMatchedByLeadingWildcards) {
  BrokerProcess broker({"--sys-interval", "1"});
  PahoClient all(broker.port(), uid("all"), v()), sys(broker.port(), uid("sys"), v()),
      pub(broker.port(), uid("p"), v());
  connectAll({&all, &sys, &pub});
  all.subscribe("#", 0);
  all.subscribe("+/broker/#", 0);
  all.subscribe("+/+/uptime", 0);
  sys.subscribe("$SYS/broker/uptime", 0);
  // Two $SYS rounds reach the explicit subscriber...
  ASSERT_TRUE(sys.next(4s)) << "no $SYS/broker/uptime within 4 s";
  ASSERT_TRUE(sys.next(4s));
  // ...and then a normal message must be the only thing the wildcard subscriber has.
  pub.publish("normal/topic", "n", 0);
  for (;;) {
    auto m = all.next(3s);
    ASSERT_TRUE(m) << "normal message not received by '#'";
    ASSERT_NE(m->get_topic().rfind('$', 0), 0u) << "'#' matched " << m->get_topic();
    if (m->get_topic() == "normal/topic") break;
  }
}

TEST_P(Subscribe, ResubscribeReplacesQos) {
  BrokerProcess broker;
  auto c = rawConnect(broker.port(), spec(uid("c")));
  ASSERT_TRUE(c->subscribe(1, {{"re/t", 0}}));
  auto ack = c->subscribe(2, {{"re/t", 1}});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->codes, std::vector<uint8_t>{1});
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("re/t", "x", 1);
  auto m = c->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->qos, 1);
  c->send(ackPacket(PUBACK, m->id, v()));
  EXPECT_FALSE(c->nextPublish(400ms)) << "one subscription, one copy";
}

}  // namespace
}  // namespace itest
