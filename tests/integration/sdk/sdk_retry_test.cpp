// Guarantee 2 through the SDK: a send retried with the same cmid gets the original seq back and
// is stored once — when the PUBACK is lost on the way (the SDK retries by itself), when the app
// retries after a broker crash and restart, and when a restarted app retries from its own
// outbox. The FaultProxy makes the failures happen on command; adminHistory shows what the
// broker stored.
#include "chat_harness.hpp"
#include "fault_proxy.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

using chattest::ChatBroker;

// How many stored messages of `conv` carry `cmid`.
size_t storedWithCmid(uint16_t admin_port, const std::string& conv, const std::string& cmid) {
  size_t n = 0;
  for (const auto& m : chattest::adminHistory(admin_port, conv)) n += m.value("cmid", "") == cmid;
  return n;
}

uint64_t storedSeq(uint16_t admin_port, const std::string& conv, const std::string& cmid) {
  for (const auto& m : chattest::adminHistory(admin_port, conv)) {
    if (m.value("cmid", "") == cmid) return m.value("seq", uint64_t{0});
  }
  return 0;
}

TEST(SdkRetry, LostPubackIsRetriedAndGetsTheOriginalSeq) {
  ChatBroker broker;
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  FaultProxy proxy(broker.port());
  SdkDevice alice(proxy.port(), "alice-phone", "alice");
  alice.connect();
  auto warmup = await(alice->send("ab", "before"));
  ASSERT_TRUE(warmup.ok()) << warmup.error().message;

  // The broker stores the message and answers; the answer never arrives and the connection
  // drops. The client reconnects and the publish goes again with the same cmid (the session
  // survived, so Paho retransmits its in-flight PUBLISH); the broker knows it and answers.
  const int pubacks_before = proxy.pubacksForwarded();
  proxy.dropNextPuback();
  sdk::OutgoingMessage m;
  m.conv = "ab";
  m.body = "the one that got lost";
  m.cmid = sdk::ChatClient::newCmid();
  auto r = await(alice->send(m));
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The send may have learned its seq from its own delivered copy, which can overtake the
  // PUBACK; the PUBACK is lost all the same, and the retry follows.
  ASSERT_TRUE(itest::waitFor([&] { return proxy.pubacksDropped() == 1; }, 10s))
      << "the fault did not happen";
  ASSERT_TRUE(itest::waitFor(
      [&] { return proxy.connectionsAccepted() >= 2 && proxy.pubacksForwarded() > pubacks_before; },
      15s))
      << "the retried publish was never answered";
  EXPECT_EQ(r.value().cmid, m.cmid);
  EXPECT_EQ(r.value().seq, warmup.value().seq + 1);
  EXPECT_EQ(storedWithCmid(broker.adminPort(), "ab", m.cmid), 1u);
  EXPECT_EQ(storedSeq(broker.adminPort(), "ab", m.cmid), r.value().seq);

  // Alice's app saw her message once, in order, despite the redelivery after the reconnect.
  ASSERT_TRUE(alice.waitUntil([&] { return alice.chatSeqs("ab").size() >= 2; }));
  EXPECT_EQ(alice.chatSeqs("ab"), (std::vector<uint64_t>{warmup.value().seq, r.value().seq}));
}

TEST(SdkRetry, RetryAfterBrokerRestartGetsTheOriginalSeq) {
  ChatBroker broker;
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  FaultProxy proxy(broker.port());
  SdkDevice alice(proxy.port(), "alice-phone", "alice");
  alice.connect();
  sdk::OutgoingMessage m;
  m.conv = "ab";
  m.body = "hello";
  m.cmid = sdk::ChatClient::newCmid();
  auto first = await(alice->send(m));
  ASSERT_TRUE(first.ok()) << first.error().message;

  // The broker crashes and comes back (same data dir, new port behind the same proxy port);
  // the client reconnects by itself.
  broker.kill();
  ASSERT_TRUE(alice.waitConnected(false));
  broker.restart();
  proxy.setTarget(broker.port());
  ASSERT_TRUE(alice.waitConnected(true, 15s));

  // The app, unsure, sends the same message again (same cmid): same seq, stored once.
  auto again = await(alice->send(m));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again.value().seq, first.value().seq);

  // The app is killed and restarted (nothing remembered in memory); it retries its persisted
  // outbox entry: the broker deduplicates and the SDK learns the original seq.
  alice.restartApp();
  EXPECT_TRUE(alice.connect()) << "the session did not survive (session expiry not sent?)";
  auto third = await(alice->send(m));
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third.value().seq, first.value().seq);

  EXPECT_EQ(storedWithCmid(broker.adminPort(), "ab", m.cmid), 1u);
  EXPECT_EQ(chattest::adminHistory(broker.adminPort(), "ab").size(), 2u);  // created + hello

  // A message sent while the broker is down waits in the outbox and goes out after the
  // reconnect, once.
  broker.kill();
  ASSERT_TRUE(alice.waitConnected(false));
  auto queued = alice->send("ab", "sent while the broker was down");
  EXPECT_NE(queued.wait_for(200ms), std::future_status::ready);
  broker.restart();
  proxy.setTarget(broker.port());
  auto q = await(std::move(queued), 20s);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q.value().seq, first.value().seq + 1);
  EXPECT_EQ(storedWithCmid(broker.adminPort(), "ab", q.value().cmid), 1u);
}

}  // namespace
}  // namespace sdktest
