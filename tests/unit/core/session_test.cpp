// The broker core's behaviour without sockets: CONNECT/CONNACK, QoS flows, queues, persistence
// across a restart, keep-alive with an injected clock.
#include <set>

#include "core_harness.hpp"

namespace parley::testing {
namespace {

using mqtt::Ack;
using mqtt::Connack;
using mqtt::PacketType;
using mqtt::Publish;
using mqtt::Reason;

TEST_F(CoreTest, ConnectAnswersConnack) {
  auto& c = connect("dev1");
  auto out = c.transport.take(c.version);
  ASSERT_EQ(out.size(), 1u);
  auto ack = std::get<Connack>(out[0]);
  EXPECT_EQ(ack.reason, Reason::Success);
  EXPECT_FALSE(ack.session_present);
}

TEST_F(CoreTest, QoS1RoundTrip) {
  auto& sub = connect("sub");
  subscribe(sub, "a/+", 1);
  sub.transport.take(sub.version);
  auto& pub = connect("pub");
  pub.transport.take(pub.version);
  publish(pub, "a/b", "hello", 1, 7);

  auto acks = only<Ack>(pub.transport.take(pub.version));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].type, PacketType::Puback);
  EXPECT_EQ(acks[0].packet_id, 7);

  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].topic, "a/b");
  EXPECT_EQ(pubs[0].payload, "hello");
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_FALSE(pubs[0].retain);
}

TEST_F(CoreTest, QoSIsDowngradedToSubscription) {
  auto& sub = connect("sub");
  subscribe(sub, "t", 0);
  auto& pub = connect("pub");
  publish(pub, "t", "x", 2, 3);
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].qos, 0);
  auto acks = only<Ack>(pub.transport.take(pub.version));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].type, PacketType::Pubrec);
  send(pub, Ack{PacketType::Pubrel, 3, Reason::Success, {}});
  acks = only<Ack>(pub.transport.take(pub.version));
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].type, PacketType::Pubcomp);
}

TEST_F(CoreTest, QoS2InboundDuplicateIsNotRoutedTwice) {
  auto& sub = connect("sub");
  subscribe(sub, "t", 2);
  auto& pub = connect("pub");
  publish(pub, "t", "once", 2, 9);
  publish(pub, "t", "once", 2, 9);  // retransmission before PUBREL
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  EXPECT_EQ(pubs.size(), 1u);
}

TEST_F(CoreTest, PersistentSessionGetsMessagesSentWhileOffline) {
  {
    auto& sub = connect("phone", mqtt::Version::V311, /*clean=*/false);
    subscribe(sub, "inbox", 1);
    drop(sub);
  }
  auto& pub = connect("pub");
  for (int i = 0; i < 20; ++i) publish(pub, "inbox", "m" + std::to_string(i), 1, uint16_t(i + 1));
  EXPECT_EQ(only<Ack>(pub.transport.take(pub.version)).size(), 20u);

  auto& back = connect("phone", mqtt::Version::V311, false);
  auto out = back.transport.take(back.version);
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(std::get<Connack>(out[0]).session_present);
  auto pubs = only<Publish>(out);
  ASSERT_EQ(pubs.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pubs[size_t(i)].payload, "m" + std::to_string(i));
}

TEST_F(CoreTest, QueuedMessagesSurviveRestart) {
  {
    auto& sub = connect("phone", mqtt::Version::V311, false);
    subscribe(sub, "inbox", 1);
    drop(sub);
    auto& pub = connect("pub");
    for (int i = 0; i < 5; ++i) publish(pub, "inbox", "m" + std::to_string(i), 1, uint16_t(i + 1));
  }
  restart();
  auto& back = connect("phone", mqtt::Version::V311, false);
  auto pubs = only<Publish>(back.transport.take(back.version));
  ASSERT_EQ(pubs.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pubs[size_t(i)].payload, "m" + std::to_string(i));
  // Acknowledge them all; after another restart nothing is redelivered.
  for (auto& p : pubs) send(back, Ack{PacketType::Puback, p.packet_id, Reason::Success, {}});
  drop(back);
  restart();
  auto& again = connect("phone", mqtt::Version::V311, false);
  EXPECT_TRUE(only<Publish>(again.transport.take(again.version)).empty());
}

TEST_F(CoreTest, UnackedInflightIsResentWithDupOnReconnect) {
  auto& sub = connect("phone", mqtt::Version::V311, false);
  subscribe(sub, "t", 1);
  auto& pub = connect("pub");
  publish(pub, "t", "x", 1, 1);
  auto first = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(first.size(), 1u);
  drop(sub);
  auto& back = connect("phone", mqtt::Version::V311, false);
  auto again = only<Publish>(back.transport.take(back.version));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].dup);
  EXPECT_EQ(again[0].packet_id, first[0].packet_id);
}

TEST_F(CoreTest, ReceiveMaximumBoundsInflight) {
  auto& sub = connectV5("slow", true, 0, /*receive_max=*/2);
  subscribe(sub, "t", 1);
  sub.transport.take(sub.version);
  auto& pub = connect("pub");
  for (int i = 0; i < 5; ++i) publish(pub, "t", "x", 1, uint16_t(i + 1));
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 2u);
  send(sub, Ack{PacketType::Puback, pubs[0].packet_id, Reason::Success, {}});
  EXPECT_EQ(only<Publish>(sub.transport.take(sub.version)).size(), 1u);
}

// Packet ids of unacknowledged PUBLISHes are never handed out again, across the 65,535 wrap, with
// few in flight (clashes found by scanning) and with many (the bitmap).
TEST_F(CoreTest, PacketIdsInFlightAreNotReusedAcrossTheWrap) {
  for (size_t held : {size_t(1), size_t(40)}) {
    SCOPED_TRACE(held);
    auto& sub = connect("sub" + std::to_string(held));
    subscribe(sub, "t", 1);
    sub.transport.take(sub.version);
    auto& pub = connect("pub" + std::to_string(held));
    std::set<uint16_t> unacked;
    for (size_t i = 0; i < held; ++i) {
      publish(pub, "t", "held", 1, uint16_t(i + 1));
      for (auto& p : only<Publish>(sub.transport.take(sub.version))) unacked.insert(p.packet_id);
    }
    ASSERT_EQ(unacked.size(), held);
    for (int i = 0; i < 70000; ++i) {
      publish(pub, "t", "x", 1, uint16_t(i % 60000 + 1));
      pub.transport.take(pub.version);
      auto pubs = only<Publish>(sub.transport.take(sub.version));
      ASSERT_EQ(pubs.size(), 1u) << i;
      ASSERT_EQ(unacked.count(pubs[0].packet_id), 0u) << "id " << pubs[0].packet_id << " reused";
      send(sub, Ack{PacketType::Puback, pubs[0].packet_id, Reason::Success, {}});
    }
    pub.transport.take(pub.version);
  }
}

TEST_F(CoreTest, KeepAliveTimeoutClosesAndSendsWill) {
  auto& watcher = connect("watcher");
  subscribe(watcher, "wills/#", 0);
  watcher.transport.take(watcher.version);

  auto tc = std::make_unique<TestClient>();
  tc->client = std::make_shared<core::Client>(*broker_, tc->transport);
  mqtt::Connect c;
  c.client_id = "sleepy";
  c.keep_alive = 2;
  c.will = mqtt::Will{"wills/sleepy", "gone", 0, false, {}};
  mqtt::Packet p = c;
  tc->client->onPacket(p);
  settle();
  auto& sleepy = *tc;
  clients_.push_back(std::move(tc));

  clock_.advance(2900);  // within 1.5 × keep-alive
  broker_->tick(0);
  settle();
  EXPECT_FALSE(sleepy.transport.closed());
  clock_.advance(200);
  broker_->tick(0);
  settle();
  EXPECT_TRUE(sleepy.transport.closed());
  auto pubs = only<Publish>(watcher.transport.take(watcher.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "gone");
}

TEST_F(CoreTest, RetainedMessageDeliveredOnSubscribeAndSurvivesRestart) {
  auto& pub = connect("pub");
  publish(pub, "status/a", "on", 1, 1, /*retain=*/true);
  restart();
  auto& sub = connect("sub");
  sub.transport.take(sub.version);
  subscribe(sub, "status/#", 1);
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "on");
  EXPECT_TRUE(pubs[0].retain);
}

TEST_F(CoreTest, TakeoverClosesOldConnection) {
  auto& a = connect("same", mqtt::Version::V5);
  auto& b = connect("same", mqtt::Version::V5);
  EXPECT_TRUE(a.transport.closed());
  EXPECT_FALSE(b.transport.closed());
  auto out = only<mqtt::Disconnect>(a.transport.take(a.version));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, Reason::SessionTakenOver);
}

TEST_F(CoreTest, SlowPersistentReaderFallsBackToDiskAndLosesNothing) {
  config_.max_queued_in_memory = 10;
  restart();
  auto& sub = connectV5("slow", false, 3600, /*receive_max=*/5);
  subscribe(sub, "t", 1);
  sub.transport.take(sub.version);
  auto& pub = connect("pub");
  const int n = 200;
  for (int i = 0; i < n; ++i) publish(pub, "t", std::to_string(i), 1, uint16_t(i + 1));
  auto got = receiveAll(sub, size_t(n));
  ASSERT_EQ(got.size(), size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[size_t(i)], std::to_string(i));
  EXPECT_LE(broker_->stats().publish_dropped.load(), 0u);
}

}  // namespace
}  // namespace parley::testing

namespace parley::testing {
namespace {

TEST_F(CoreTest, AbandonedV311PersistentSessionExpiresWhenConfigured) {
  config_.persistent_session_expiry_311 = 60;
  restart();
  {
    auto& dev = connect("old-phone", mqtt::Version::V311, /*clean=*/false);
    subscribe(dev, "t", 1);
    drop(dev);
  }
  clock_.advance(59'000);
  broker_->tick(0);
  settle();
  EXPECT_TRUE(
      std::get<mqtt::Connack>(
          connect("old-phone", mqtt::Version::V311, false).transport.take(mqtt::Version::V311)[0])
          .session_present);
  drop(*clients_.back());
  clock_.advance(61'000);
  broker_->tick(0);
  settle();
  EXPECT_FALSE(
      std::get<mqtt::Connack>(
          connect("old-phone", mqtt::Version::V311, false).transport.take(mqtt::Version::V311)[0])
          .session_present);
}

}  // namespace
}  // namespace parley::testing
