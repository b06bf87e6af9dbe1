// Regression tests for conformance bugs found in review (each failed before its fix).
#include "core_harness.hpp"

namespace parley::testing {
namespace {

using mqtt::Ack;
using mqtt::Connack;
using mqtt::PacketType;
using mqtt::Publish;
using mqtt::Reason;

class ReviewFixes : public CoreTest {};

// Disconnecting while a chunk read from the disk backlog is still pending must not skip it.
TEST_F(ReviewFixes, DisconnectDuringBacklogReadLosesNothing) {
  {
    auto& sub = connectV5("phone", false, 3600, /*receive_max=*/5);
    subscribe(sub, "t", 1);
    drop(sub);
  }
  auto& pub = connect("pub");
  const int n = 300;  // more than one backlog chunk
  for (int i = 0; i < n; ++i) publish(pub, "t", std::to_string(i), 1, uint16_t(i + 1));

  auto& first = connectV5("phone", false, 3600, 5);
  auto got_first = only<Publish>(first.transport.take(first.version));
  ASSERT_EQ(got_first.size(), 5u);  // the window; the rest of the chunk waits in memory
  drop(first);

  auto& back = connectV5("phone", false, 3600, 5);
  auto got = receiveAll(back, size_t(n));
  ASSERT_EQ(got.size(), size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[size_t(i)], std::to_string(i));
}

// Clean Start 0 resumes a persistent session even if this connection asks for expiry 0.
TEST_F(ReviewFixes, CleanStartZeroResumesWhateverTheNewExpiry) {
  {
    auto& sub = connectV5("phone", false, 3600);
    subscribe(sub, "t", 1);
    drop(sub);
  }
  auto& pub = connect("pub");
  publish(pub, "t", "kept", 1, 1);
  auto& back = connectV5("phone", false, /*expiry=*/0);
  auto out = back.transport.take(back.version);
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(std::get<Connack>(out[0]).session_present);
  auto pubs = only<Publish>(out);
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "kept");
}

// A delayed will set off by a takeover is cancelled by that same new connection.
TEST_F(ReviewFixes, TakeoverDoesNotLeaveDelayedWillBehind) {
  auto& watcher = connect("watcher");
  subscribe(watcher, "wills", 0);
  watcher.transport.take(watcher.version);
  mqtt::Will w{"wills", "gone", 0, false, {}};
  w.props.will_delay_interval = 5;
  connectV5("dev", false, 3600, 0, 0, w);
  connectV5("dev", false, 3600);  // takes over
  clock_.advance(10'000);
  broker_->tick(0);
  settle();
  EXPECT_TRUE(only<Publish>(watcher.transport.take(watcher.version)).empty());
}

// A 5.0 DISCONNECT with an error reason still publishes the will; only 0x00 discards it.
TEST_F(ReviewFixes, DisconnectWithErrorReasonSendsWill) {
  auto& watcher = connect("watcher");
  subscribe(watcher, "wills", 0);
  watcher.transport.take(watcher.version);
  auto& dev = connectV5("dev", true, 0, 0, 0, mqtt::Will{"wills", "gone", 0, false, {}});
  mqtt::Disconnect d;
  d.reason = Reason::UnspecifiedError;
  send(dev, d);
  auto pubs = only<Publish>(watcher.transport.take(watcher.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "gone");
}

// Same topic, same QoS: a message that needs no write must not overtake one that does.
TEST_F(ReviewFixes, RetainedThenPlainKeepOrder) {
  auto& sub = connect("sub");
  subscribe(sub, "t", 0);
  sub.transport.take(sub.version);
  auto& pub = connect("pub");
  mqtt::Publish a;
  a.topic = "t";
  a.payload = "first";
  a.retain = true;
  mqtt::Publish b;
  b.topic = "t";
  b.payload = "second";
  mqtt::Packet pa = a, pb = b;
  pub.client->onPacket(pa);  // goes through the store (retained)
  pub.client->onPacket(pb);  // would not need the store
  settle();
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].payload, "first");
  EXPECT_EQ(pubs[1].payload, "second");
}

TEST_F(ReviewFixes, RetainedOnDollarTopicIsKept) {
  auto& pub = connect("pub");
  publish(pub, "$app/state", "on", 0, 0, true);
  auto& sub = connect("sub");
  sub.transport.take(sub.version);
  subscribe(sub, "$app/#", 0);
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "on");
}

// A delayed will's message expiry counts from when it is published, not from the disconnect.
TEST_F(ReviewFixes, DelayedWillExpiryStartsAtPublication) {
  auto& watcher = connectV5("watcher", false, 3600);
  subscribe(watcher, "wills", 1);
  drop(watcher);
  mqtt::Will w{"wills", "gone", 1, false, {}};
  w.props.will_delay_interval = 5;
  w.props.message_expiry_interval = 3;  // shorter than the delay
  auto& dev = connectV5("dev", false, 3600, 0, 0, w);
  drop(dev);
  clock_.advance(6000);
  broker_->tick(0);
  settle();
  auto& back = connectV5("watcher", false, 3600);
  auto pubs = only<Publish>(back.transport.take(back.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "gone");
}

// A PUBLISH too large for the client is skipped as if delivered: it must not hold a slot of
// the receive window (which would stall everything after it).
TEST_F(ReviewFixes, OversizePublishDoesNotHoldWindowSlot) {
  auto& sub = connectV5("small", true, 0, /*receive_max=*/1, /*max_packet=*/64);
  subscribe(sub, "t", 1);
  sub.transport.take(sub.version);
  auto& pub = connect("pub");
  publish(pub, "t", std::string(200, 'x'), 1, 1);
  publish(pub, "t", "fits", 1, 2);
  auto pubs = only<Publish>(sub.transport.take(sub.version));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "fits");
}

}  // namespace
}  // namespace parley::testing

namespace parley::testing {
namespace {

// Regression (found by the catch-up benchmark): deliveries to an OFFLINE persistent session
// were held in memory and counted against the publisher's backlog, which the offline session
// never drains — after ~256 messages the publisher stopped being read, for good.
TEST_F(CoreTest, OfflinePersistentSubscriberDoesNotStallThePublisher) {
  auto& sub = connect("sub", mqtt::Version::V311, false);
  subscribe(sub, "t/catchup", 1);
  drop(sub);
  auto& pub = connect("pub");
  for (int i = 0; i < 1000; ++i) {
    publish(pub, "t/catchup", "m" + std::to_string(i), 1, uint16_t(i + 1));
    ASSERT_FALSE(pub.client->readPaused()) << "publisher paused after " << i << " messages";
  }
  auto& back = connect("sub", mqtt::Version::V311, false);
  auto got = receiveAll(back, 1000);
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[size_t(i)], "m" + std::to_string(i));
}

}  // namespace
}  // namespace parley::testing
