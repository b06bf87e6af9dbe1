// Acceptance: offline catch-up by offset. A device is offline while 1,000 messages arrive in 5
// conversations; on reconnect it receives all of them, per conversation in seq order, while
// another sender keeps publishing during the catch-up — no gap and no reordering at the
// hand-over from replay to live. Also: a brand-new device starts at the head, a device added
// to a conversation later gets everything from its MemberAdded message on.
#include <atomic>
#include <thread>

#include "chat_harness.hpp"

namespace chattest {
namespace {

class ChatCatchUp : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
};

// Sends `per_conv` messages to each conversation from `d`, keeping up to `window` in flight.
// Returns the number acknowledged with reason 0.
size_t sendMany(ChatDevice& d, const std::vector<std::string>& convs, int per_conv,
                const std::string& tag, size_t window = 64,
                std::atomic<size_t>* progress = nullptr) {
  std::vector<uint16_t> inflight;
  size_t ok = 0;
  auto drainOne = [&] {
    auto a = d.awaitAck(inflight.front(), 10s);
    inflight.erase(inflight.begin());
    if (a && a->reason == 0) {
      ++ok;
      if (progress) ++*progress;
    }
  };
  for (int i = 0; i < per_conv; ++i) {
    for (const auto& c : convs) {
      if (inflight.size() >= window) drainOne();
      const std::string cmid = tag + "-" + c + "-" + std::to_string(i);
      inflight.push_back(d.publish("conv/" + c, chatSend(cmid, cmid)));
    }
  }
  while (!inflight.empty()) drainOne();
  return ok;
}

// The messages of one conversation as received over one or more connections: the first may be
// a redelivery of what the device had already acknowledged (seq <= shown), after that every
// seq follows its predecessor by exactly one, up to `last`.
std::string checkCatchUp(const std::vector<ChatMsg>& msgs, uint64_t shown, uint64_t last) {
  if (msgs.empty()) return "no messages";
  if (msgs.front().seq > shown + 1) {
    return "first seq " + std::to_string(msgs.front().seq) + " skips past " +
           std::to_string(shown + 1);
  }
  return checkSeqRun(msgs, msgs.front().seq, last);
}

TEST_P(ChatCatchUp, OfflineDeviceGetsThousandMessagesWhileLiveContinues) {
  ChatBroker broker;
  const std::vector<std::string> convs = {"c0", "c1", "c2", "c3", "c4"};
  ChatDevice carol(broker.port(), v(), "carol-phone", "carol");
  ASSERT_TRUE(carol.connect());
  for (const auto& c : convs) {
    createConversation(broker.adminPort(), c, "group", {{"alice", "owner"}, {"carol", "member"}});
  }
  for (const auto& c : convs) {
    ASSERT_TRUE(carol.waitMessages(c, 1, 5s)) << "carol did not get the creation of " << c;
  }
  carol.poll(100ms);  // let the PUBACKs of seq 1 reach the broker before leaving
  carol.disconnect();

  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  ASSERT_EQ(sendMany(alice, convs, 200, "off"), 1000u);

  // A second sender publishes 40 more per conversation; carol reconnects once it is under way,
  // so the catch-up and live messages overlap.
  carol.allMessages().clear();
  ChatDevice alice2(broker.port(), v(), "alice-laptop", "alice");
  ASSERT_TRUE(alice2.connect());
  std::atomic<size_t> live_ok{0}, live_progress{0};
  std::thread live([&] { live_ok = sendMany(alice2, convs, 40, "live", 4, &live_progress); });
  itest::waitFor([&] { return live_progress >= 10; }, 10s);
  auto ack = carol.connect();
  const size_t live_at_connect = live_progress;
  if (!ack) live.join();
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present) << "carol's persistent session was lost";
  const uint64_t last = 1 + 200 + 40;
  bool all = true;
  for (const auto& c : convs) all = carol.waitMessages(c, last - 1, 30s) && all;
  const size_t live_at_caught_up = live_progress;
  live.join();
  EXPECT_EQ(live_ok.load(), 200u);
  EXPECT_LT(live_at_connect, live_at_caught_up) << "no live message arrived during the catch-up";
  EXPECT_TRUE(all) << "catch-up incomplete within 30 s";
  carol.poll(300ms);
  for (const auto& c : convs) {
    SCOPED_TRACE(c);
    EXPECT_EQ(checkCatchUp(carol.messages(c), 1, last), "");
    // The messages of each sender arrive in their send order.
    int off_next = 0, live_next = 0;
    for (const auto& m : carol.messages(c)) {
      if (m.seq == 1) continue;
      if (m.cmid == "off-" + c + "-" + std::to_string(off_next)) {
        ++off_next;
      } else if (m.cmid == "live-" + c + "-" + std::to_string(live_next)) {
        ++live_next;
      } else {
        ADD_FAILURE() << "unexpected cmid " << m.cmid << " at seq " << m.seq;
        break;
      }
    }
    EXPECT_EQ(off_next, 200);
    EXPECT_EQ(live_next, 40);
  }
}

TEST_P(ChatCatchUp, ReconnectResumesAfterLastAcknowledged) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"dave", "member"}});
  ChatDevice dave(broker.port(), v(), "dave-phone", "dave");
  ASSERT_TRUE(dave.connect());
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  // A new persistent session starts at the head (seq 1 = creation, before the session existed).
  ASSERT_EQ(sendMany(alice, {"team"}, 10, "a"), 10u);
  ASSERT_TRUE(dave.waitMessages("team", 10, 5s));
  EXPECT_EQ(checkSeqRun(dave.messages("team"), 2, 11), "");

  // Dave stops acknowledging at seq 11: 12..16 arrive but stay unacknowledged; the socket dies.
  dave.autoAck(false);
  ASSERT_EQ(sendMany(alice, {"team"}, 5, "b"), 5u);
  ASSERT_TRUE(dave.waitMessages("team", 15, 5s));
  dave.abort();
  ASSERT_EQ(sendMany(alice, {"team"}, 5, "c"), 5u);

  // On reconnect everything after 11 comes again, in order (the unacknowledged first).
  dave.allMessages().clear();
  dave.autoAck(true);
  auto ack = dave.connect();
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  ASSERT_TRUE(dave.waitMessages("team", 10, 10s)) << dave.messages("team").size();
  dave.poll(300ms);
  EXPECT_EQ(checkCatchUp(dave.messages("team"), 11, 21), "");
  if (!dave.messages("team").empty()) {
    EXPECT_EQ(dave.messages("team").front().seq, 12u)
        << "offset of 11 was acknowledged before 12..16 were held back";
  }
}

TEST_P(ChatCatchUp, MemberAddedLaterGetsFromMemberAddedOn) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  // Erin has two devices: one online, one whose session exists but is offline.
  ChatDevice erin_on(broker.port(), v(), "erin-phone", "erin");
  ChatDevice erin_off(broker.port(), v(), "erin-tablet", "erin");
  ASSERT_TRUE(erin_on.connect());
  ASSERT_TRUE(erin_off.connect());
  erin_off.disconnect();
  ASSERT_EQ(sendMany(alice, {"team"}, 3, "before"), 3u);  // seqs 2..4: not for erin
  const uint64_t added = addMember(broker.adminPort(), "team", "erin");
  ASSERT_EQ(added, 5u);
  ASSERT_EQ(sendMany(alice, {"team"}, 3, "after"), 3u);  // seqs 6..8
  ASSERT_TRUE(erin_on.waitMessages("team", 4, 5s));
  erin_on.poll(200ms);
  EXPECT_EQ(checkSeqRun(erin_on.messages("team"), 5, 8), "");
  if (!erin_on.messages("team").empty()) {
    EXPECT_EQ(erin_on.messages("team")[0].event, fb::SystemEvent::MemberAdded);
    EXPECT_EQ(erin_on.messages("team")[0].subject, "erin");
  }
  auto ack = erin_off.connect();
  ASSERT_TRUE(ack);
  ASSERT_TRUE(erin_off.waitMessages("team", 4, 5s));
  erin_off.poll(200ms);
  EXPECT_EQ(checkSeqRun(erin_off.messages("team"), 5, 8), "");
}

// The focused case: a member's device online while its conversation is created follows it at
// once — the ConversationCreated record (seq 1) and what comes after — without reconnecting.
TEST_P(ChatCatchUp, OnlineDeviceFollowsConversationCreatedWhileConnected) {
  ChatBroker broker;
  ChatDevice gina(broker.port(), v(), "gina-phone", "gina");
  ASSERT_TRUE(gina.connect());
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"gina", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  ASSERT_EQ(sendMany(alice, {"team"}, 2, "a"), 2u);
  EXPECT_TRUE(gina.waitMessages("team", 3, 5s))
      << "an online member's persistent session does not follow a conversation created now";
  gina.poll(200ms);
  EXPECT_EQ(checkSeqRun(gina.messages("team"), 1, 3), "");
}

// A device whose session existed, offline when its user's conversation was created, gets the
// whole log from the creation (seq 1) when it returns.
TEST_P(ChatCatchUp, DeviceOfflineAtCreationGetsFromCreation) {
  ChatBroker broker;
  ChatDevice frank(broker.port(), v(), "frank-phone", "frank");
  ASSERT_TRUE(frank.connect());
  frank.disconnect();
  createConversation(broker.adminPort(), "team", "group",
                     {{"alice", "owner"}, {"frank", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  ASSERT_EQ(sendMany(alice, {"team"}, 5, "a"), 5u);
  ASSERT_TRUE(frank.connect());
  ASSERT_TRUE(frank.waitMessages("team", 6, 5s));
  frank.poll(200ms);
  EXPECT_EQ(checkSeqRun(frank.messages("team"), 1, 6), "");
}

ITEST_VERSIONS(ChatCatchUp);

}  // namespace
}  // namespace chattest
