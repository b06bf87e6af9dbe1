// Acceptance: idempotent send. A cmid retried 3 times — on the same connection, after a
// reconnect, after a SIGTERM restart and after a SIGKILL restart on the same data dir — gets
// the original seq every time, is stored once and delivered once.
#include "chat_harness.hpp"

namespace chattest {
namespace {

class ChatDedup : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
};

// Stored messages with this cmid (admin API history).
std::vector<json> storedWithCmid(uint16_t admin_port, const std::string& conv,
                                 const std::string& cmid) {
  std::vector<json> out;
  for (auto& m : adminHistory(admin_port, conv)) {
    if (m.value("cmid", "") == cmid) out.push_back(m);
  }
  return out;
}

TEST_P(ChatDedup, RetriedCmidKeepsItsSeqAcrossReconnectAndRestarts) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice bob(broker.port(), 5, "bob-phone", "bob");
  ASSERT_TRUE(bob.connect());
  ChatDevice alice(broker.port(), v(), "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());

  // Original + 3 retries on one connection, each a new PUBLISH (a client that lost the PUBACK).
  auto first = alice.send("team", "cm-1", "only once");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->reason, 0);
  const uint64_t seq = 2;  // seq 1 is the creation
  if (v() == 5) {
    ASSERT_EQ(pubackSeq(*first), seq);
  }
  auto expectSameSeq = [&](const std::optional<itest::Ack>& a, const char* when) {
    ASSERT_TRUE(a) << "no PUBACK for the retry " << when;
    EXPECT_EQ(a->reason, 0) << when;
    if (v() == 5) {
      EXPECT_EQ(pubackSeq(*a), seq) << when;
    }
  };
  for (int i = 0; i < 3; ++i) {
    expectSameSeq(alice.send("team", "cm-1", "only once"), "on the same connection");
  }
  // A different cmid gets the next seq; the same cmid from another user is another message.
  auto next = alice.send("team", "cm-2", "second");
  ASSERT_TRUE(next);
  if (v() == 5) {
    EXPECT_EQ(pubackSeq(*next), seq + 1);
  }
  auto bobs = bob.send("team", "cm-1", "bob's own cm-1");
  ASSERT_TRUE(bobs);
  EXPECT_EQ(pubackSeq(*bobs), seq + 2);

  ASSERT_TRUE(bob.waitMessages("team", 3, 5s));
  bob.poll(300ms);
  EXPECT_EQ(checkSeqRun(bob.messages("team"), seq, seq + 2), "") << "retries were delivered";

  bob.disconnect();

  // After a reconnect.
  alice.abort();
  ASSERT_TRUE(alice.connect());
  for (int i = 0; i < 3; ++i) expectSameSeq(alice.send("team", "cm-1", "x"), "after reconnect");

  // After a clean restart (SIGTERM) and after a crash (SIGKILL).
  EXPECT_EQ(broker.stop(), 0);
  broker.restart();
  alice.abort();
  ASSERT_TRUE(alice.connect(broker.port()));
  for (int i = 0; i < 3; ++i) expectSameSeq(alice.send("team", "cm-1", "x"), "after SIGTERM");
  broker.kill();
  broker.restart();
  alice.abort();
  ASSERT_TRUE(alice.connect(broker.port()));
  for (int i = 0; i < 3; ++i) expectSameSeq(alice.send("team", "cm-1", "x"), "after SIGKILL");

  // Stored once; nothing else was stored by the retries; the next new message gets seq + 3.
  auto stored = storedWithCmid(broker.adminPort(), "team", "cm-1");
  ASSERT_EQ(stored.size(), 2u) << "alice's cm-1 and bob's cm-1";
  EXPECT_EQ(stored[0]["seq"], seq);
  EXPECT_EQ(stored[0]["sender_user"], "alice");
  EXPECT_EQ(stored[1]["sender_user"], "bob");
  auto after = alice.send("team", "cm-3", "third");
  ASSERT_TRUE(after);
  if (v() == 5) {
    EXPECT_EQ(pubackSeq(*after), seq + 3);
  }
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 5u);

  // Bob, offline across the restarts, catches up to cm-3; no retry shows up as a message.
  bob.allMessages().clear();
  ASSERT_TRUE(bob.connect(broker.port()));
  ASSERT_TRUE(bob.waitMessages("team", 1, 5s));
  bob.poll(300ms);
  const auto& got = bob.messages("team");
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().cmid, "cm-3");
  EXPECT_EQ(checkSeqRun(got, got.front().seq, seq + 3), "");
  // Bob acknowledged up to seq + 2 and disconnected cleanly before a clean shutdown: only the
  // crash afterwards could excuse a redelivery, and bob acknowledged nothing after the shutdown.
  EXPECT_EQ(got.front().seq, seq + 3) << "redelivered what bob acknowledged before a SIGTERM";
}

// Retries racing the original: the same cmid published 3 times back to back, before the first
// PUBACK can have arrived — all three get the same seq.
TEST_P(ChatDedup, RetriesInFlightTogetherShareOneSeq) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice alice(broker.port(), v(), "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  const std::string payload = chatSend("race-1", "racing");
  std::vector<uint16_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(alice.publish("conv/team", payload));
  std::vector<uint64_t> seqs;
  for (auto id : ids) {
    auto a = alice.awaitAck(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->reason, 0);
    if (v() == 5 && pubackSeq(*a)) seqs.push_back(*pubackSeq(*a));
  }
  if (v() == 5) {
    ASSERT_EQ(seqs.size(), 3u);
    EXPECT_EQ(seqs[0], 2u);
    EXPECT_EQ(seqs[1], 2u);
    EXPECT_EQ(seqs[2], 2u);
  }
  EXPECT_EQ(storedWithCmid(broker.adminPort(), "team", "race-1").size(), 1u);
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 2u);
}

ITEST_VERSIONS(ChatDedup);

}  // namespace
}  // namespace chattest
