// Retained messages: set, replace, clear with an empty payload, delivery on subscribe with the
// retain flag, and the 5.0 subscription options retain handling 0/1/2 and retain-as-published.
#include <map>

#include "itest.hpp"

namespace itest {
namespace {

class Retained : public Versioned {};
ITEST_VERSIONS(Retained);

// Subscribes a fresh raw client to `filter`, waits for `expected` messages (bounded), then
// listens 400 ms more to prove nothing else arrives. Retained messages for a wildcard filter
// may arrive in any order, so callers compare sets.
std::vector<PublishIn> retainedFor(uint16_t port, int ver, const std::string& filter,
                                   size_t expected) {
  RawClient c(port, ver);
  EXPECT_TRUE(c.connect(cs(ver, uid("rs"))));
  EXPECT_TRUE(c.subscribe(1, {{filter, 1}}));
  std::vector<PublishIn> out;
  while (out.size() < expected) {
    auto m = c.nextPublish(5s);
    if (!m) break;
    if (m->qos == 1) c.send(ackPacket(PUBACK, m->id, ver));
    out.push_back(*m);
  }
  while (auto m = c.nextPublish(400ms)) out.push_back(*m);  // absence window
  return out;
}

std::map<std::string, std::string> byTopic(const std::vector<PublishIn>& msgs) {
  std::map<std::string, std::string> m;
  for (auto& p : msgs) {
    EXPECT_TRUE(p.retain) << p.topic;
    EXPECT_TRUE(m.emplace(p.topic, p.payload).second) << "duplicate " << p.topic;
  }
  return m;
}

TEST_P(Retained, DeliveredOnSubscribeWithRetainFlag) {
  BrokerProcess broker;
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("ret/a", "kept", 1, /*retain=*/true);
  PahoClient sub(broker.port(), uid("s"), v());
  sub.connect();
  sub.subscribe("ret/a", 1);
  auto m = sub.next();
  ASSERT_TRUE(m) << "retained message not delivered on subscribe";
  EXPECT_EQ(m->to_string(), "kept");
  EXPECT_TRUE(m->is_retained()) << "retain flag must be 1 for a retained delivery";
  EXPECT_EQ(m->get_qos(), 1);
}

TEST_P(Retained, ReplacedByNewerAndClearedByEmptyPayload) {
  BrokerProcess broker;
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("rc/a", "old", 1, true);
  pub.publish("rc/a", "new", 1, true);
  pub.publish("rc/b", "to-clear", 1, true);
  pub.publish("rc/b", "", 1, true);  // clears rc/b
  pub.publish("rc/c", "other", 1, true);
  auto got = byTopic(retainedFor(broker.port(), v(), "rc/#", 2));
  EXPECT_EQ(got, (std::map<std::string, std::string>{{"rc/a", "new"}, {"rc/c", "other"}}));
}

TEST_P(Retained, EmptyRetainedPublishIsStillForwardedLive) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), uid("s"), v()), pub(broker.port(), uid("p"), v());
  connectAll({&sub, &pub});
  sub.subscribe("rl/t", 1);
  pub.publish("rl/t", "", 1, true);
  auto m = sub.next();
  ASSERT_TRUE(m) << "a zero-length retained PUBLISH is delivered to current subscribers";
  EXPECT_EQ(m->to_string(), "");
}

TEST_P(Retained, LiveDeliveryHasRetainFlagCleared) {
  BrokerProcess broker;
  auto sub = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(sub->subscribe(1, {{"live/t", 0}}));
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("live/t", "x", 0, true);
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->retain) << "live delivery of a retained PUBLISH clears RETAIN (3.1.1 "
                             "3.3.1.3; 5.0 when retain-as-published is 0)";
}

TEST_P(Retained, WildcardSubscribeGetsAllMatchingRetained) {
  BrokerProcess broker;
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  for (const char* t : {"w/1", "w/2/x", "w/3", "other/1"}) pub.publish(t, t, 0, true);
  pub.publish("w/4", "last", 1, true);
  auto got = byTopic(retainedFor(broker.port(), v(), "w/#", 4));
  EXPECT_EQ(got, (std::map<std::string, std::string>{
                     {"w/1", "w/1"}, {"w/2/x", "w/2/x"}, {"w/3", "w/3"}, {"w/4", "last"}}));
}

TEST_P(Retained, RetainedDeliveredAtMinimumQos) {
  BrokerProcess broker;
  PahoClient pub(broker.port(), uid("p"), v());
  pub.connect();
  pub.publish("rq/t", "q2", 2, true);
  auto c = rawConnect(broker.port(), spec(uid("s")));
  ASSERT_TRUE(c->subscribe(1, {{"rq/t", 1}}));
  auto m = c->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->qos, 1);
  EXPECT_TRUE(m->retain);
}

class RetainedV5 : public ::testing::Test {
 protected:
  void SetUp() override {
    pub_ = std::make_unique<PahoClient>(broker_.port(), uid("p"), 5);
    pub_->connect();
    pub_->publish("rh/t", "retained", 1, true);
    c_ = std::make_unique<RawClient>(broker_.port(), 5);
    ASSERT_TRUE(c_->connect(cs(5, uid("c"))));
  }
  // Subscribes with the given options, then publishes a live sentinel on another topic of
  // the same filter; returns whether the retained message came before the sentinel.
  bool retainedSentOnSubscribe(uint16_t pid, uint8_t options) {
    auto ack = c_->subscribe(pid, {{"rh/#", options}});
    EXPECT_TRUE(ack);
    pub_->publish("rh/sentinel", "s", 1, false);
    bool got = false;
    for (;;) {
      auto m = c_->nextPublish(5s);
      if (!m) {
        ADD_FAILURE() << "sentinel not received";
        return got;
      }
      if (m->qos == 1) c_->send(ackPacket(PUBACK, m->id, 5));
      if (m->topic == "rh/sentinel") return got;
      if (m->topic == "rh/t") got = true;
    }
  }
  BrokerProcess broker_;
  std::unique_ptr<PahoClient> pub_;
  std::unique_ptr<RawClient> c_;
};

TEST_F(RetainedV5, RetainHandling0SendsOnEverySubscribe) {
  EXPECT_TRUE(retainedSentOnSubscribe(1, 0x01 | (0 << 4)));
  EXPECT_TRUE(retainedSentOnSubscribe(2, 0x01 | (0 << 4))) << "resubscribe sends again";
}

TEST_F(RetainedV5, RetainHandling1SendsOnlyForNewSubscription) {
  EXPECT_TRUE(retainedSentOnSubscribe(1, 0x01 | (1 << 4)));
  EXPECT_FALSE(retainedSentOnSubscribe(2, 0x01 | (1 << 4)))
      << "subscription already existed: no retained messages";
}

TEST_F(RetainedV5, RetainHandling2NeverSends) {
  EXPECT_FALSE(retainedSentOnSubscribe(1, 0x01 | (2 << 4)));
}

TEST_F(RetainedV5, RetainAsPublishedKeepsFlagOnLiveDelivery) {
  RawClient rap(broker_.port(), 5), norap(broker_.port(), 5);
  ASSERT_TRUE(rap.connect(cs(5, uid("rap"))));
  ASSERT_TRUE(norap.connect(cs(5, uid("norap"))));
  ASSERT_TRUE(rap.subscribe(1, {{"rap/t", 0x00 | 0x08 | (2 << 4)}}));
  ASSERT_TRUE(norap.subscribe(1, {{"rap/t", 0x00 | (2 << 4)}}));
  pub_->publish("rap/t", "r", 0, true);
  auto a = rap.nextPublish();
  auto b = norap.nextPublish();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->retain) << "retain-as-published=1 keeps RETAIN on live delivery";
  EXPECT_FALSE(b->retain) << "retain-as-published=0 clears RETAIN on live delivery";
}

TEST_F(RetainedV5, RetainedOnSubscribeAlwaysHasRetainFlag) {
  // Even with retain-as-published 0, messages sent because of a new subscription carry RETAIN.
  auto ack = c_->subscribe(1, {{"rh/t", 0x01}});
  ASSERT_TRUE(ack);
  auto m = c_->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->retain);
}

}  // namespace
}  // namespace itest
