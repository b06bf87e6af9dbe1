// Acceptance for chat layer II against the real parleyd: presence over two devices with a clean
// and an unclean end (a mosquitto_sub process killed with SIGKILL), the retained state for a
// late subscriber; typing reaching online members only and leaving no trace; receipts and unread
// counts in a 3-member group through send, deliver, read and a second device.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chat_harness.hpp"

namespace chattest {
namespace {

struct PresenceState {
  bool online = false;
  uint32_t devices = 0;
  bool retain = false;
};

// Presence updates seen by `d` for `user`, in arrival order (copied out of the flatbuffers).
std::vector<PresenceState> presenceUpdates(ChatDevice& d, const std::string& user) {
  std::vector<PresenceState> out;
  for (const auto& p : d.otherPublishes()) {
    if (p.topic != "presence/" + user) continue;
    const std::string copy = p.payload;  // aligned for flatbuffers
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(copy.data()), copy.size());
    EXPECT_TRUE(v.VerifyBuffer<fb::Presence>(nullptr));
    const auto* m = flatbuffers::GetRoot<fb::Presence>(copy.data());
    out.push_back({m->online(), m->devices(), p.retain});
  }
  return out;
}

// Polls `d` until the newest presence update for `user` matches, or timeout.
bool waitPresence(ChatDevice& d, const std::string& user, bool online, uint32_t devices,
                  Millis timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto u = presenceUpdates(d, user);
    if (!u.empty() && u.back().online == online && u.back().devices == devices) return true;
    d.poll(100ms);
  }
  return false;
}

// A separate client process for `user`: the mosquitto_sub binary, so that it can be SIGKILLed.
pid_t startMosquittoSub(uint16_t port, const std::string& id, const std::string& user) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string p = std::to_string(port);
    execlp("mosquitto_sub", "mosquitto_sub", "-h", "127.0.0.1", "-p", p.c_str(), "-i", id.c_str(),
           "-u", user.c_str(), "-t", "nothing/here", "-k", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

TEST(ChatLayer2, PresenceOverTwoDevicesCleanAndKilled) {
  ChatBroker broker({"--presence-grace", "1"});
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice bob(broker.port(), 5, "bob-phone", "bob");
  ASSERT_TRUE(bob.connect());
  ASSERT_EQ(bob.subscribe("presence/alice", 1), std::vector<uint8_t>{1});

  ChatDevice phone(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(phone.connect());
  EXPECT_TRUE(waitPresence(bob, "alice", true, 1)) << "first device: online, 1 device";

  const pid_t cli = startMosquittoSub(broker.port(), "alice-cli", "alice");
  ASSERT_GT(cli, 0);
  EXPECT_TRUE(waitPresence(bob, "alice", true, 2)) << "second device: online, 2 devices";
  ::kill(cli, SIGKILL);  // an unclean end: no DISCONNECT
  int status = 0;
  ::waitpid(cli, &status, 0);
  EXPECT_TRUE(waitPresence(bob, "alice", true, 1)) << "one device left: still online";

  phone.disconnect();  // the last device leaves cleanly: offline at once
  EXPECT_TRUE(waitPresence(bob, "alice", false, 0, 3s)) << "clean DISCONNECT of the last device";

  // A late subscriber sharing a conversation gets the retained state.
  ChatDevice bob2(broker.port(), 5, "bob-tablet", "bob", /*persistent=*/false);
  ASSERT_TRUE(bob2.connect());
  ASSERT_EQ(bob2.subscribe("presence/alice", 1), std::vector<uint8_t>{1});
  bob2.poll(500ms);
  auto late = presenceUpdates(bob2, "alice");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_TRUE(late[0].retain);
  EXPECT_FALSE(late[0].online);

  // The only device dropped uncleanly: offline only after the grace.
  ChatDevice phone2(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(phone2.connect());
  EXPECT_TRUE(waitPresence(bob, "alice", true, 1));
  const auto dropped_at = std::chrono::steady_clock::now();
  phone2.abort();
  EXPECT_TRUE(waitPresence(bob, "alice", false, 0, 5s)) << "no offline after an unclean drop";
  EXPECT_GE(std::chrono::steady_clock::now() - dropped_at, 800ms) << "offline before the grace";

  // Someone sharing no conversation may not watch.
  ChatDevice eve(broker.port(), 5, "eve-phone", "eve", false);
  ASSERT_TRUE(eve.connect());
  EXPECT_EQ(eve.subscribe("presence/alice", 1), std::vector<uint8_t>{0x87});
  EXPECT_EQ(eve.subscribe("presence/+", 1), std::vector<uint8_t>{0x87});
}

TEST(ChatLayer2, TypingReachesOnlineMembersOnlyAndLeavesNoTrace) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group",
                     {{"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ChatDevice bob(broker.port(), 4, "bob-phone", "bob");
  ChatDevice carol(broker.port(), 5, "carol-phone", "carol");
  ChatDevice eve(broker.port(), 5, "eve-phone", "eve", false);
  for (auto* d : {&alice, &bob, &carol, &eve}) ASSERT_TRUE(d->connect());
  eve.subscribe("#", 0);
  carol.disconnect();  // offline while alice types

  auto typing = [](ChatDevice& d) {
    size_t n = 0;
    for (const auto& p : d.otherPublishes()) n += p.topic == "conv/team/typing";
    return n;
  };
  const uint16_t id = alice.publish("conv/team/typing", "1");
  ASSERT_TRUE(alice.awaitAck(id));
  ASSERT_TRUE(pollAll(
      {&bob}, [&] { return typing(bob) == 1; }, 5s))
      << "bob did not see typing";
  const auto& p = bob.otherPublishes().back();
  EXPECT_EQ(p.qos, 0);
  const std::string copy = p.payload;
  const auto* t = flatbuffers::GetRoot<fb::TypingEvent>(copy.data());
  EXPECT_EQ(t->user()->str(), "alice");
  EXPECT_EQ(t->device()->str(), "alice-phone");
  alice.poll(200ms);
  eve.poll(200ms);
  EXPECT_EQ(typing(alice), 0u) << "typing echoed to the sender";
  EXPECT_EQ(typing(eve), 0u) << "a non-member saw typing";

  ASSERT_TRUE(carol.connect());  // back: no old typing, nothing in the log
  carol.poll(300ms);
  EXPECT_EQ(typing(carol), 0u);
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 1u) << "typing was stored";
}

// rpc/conversations for `d`: (read_seq, unread) of its only conversation.
std::pair<uint64_t, uint64_t> readAndUnread(ChatDevice& d) {
  auto reply = d.rpc("conversations", conversationsRequest());
  if (!reply) return {~0ull, ~0ull};
  const std::string copy = reply->payload;
  const auto* r = flatbuffers::GetRoot<fb::ConversationsResponse>(copy.data());
  if (!r->conversations() || r->conversations()->size() != 1) return {~0ull, ~0ull};
  return {r->conversations()->Get(0)->read_seq(), r->conversations()->Get(0)->unread()};
}

TEST(ChatLayer2, ReceiptsAndUnreadCountsInAThreeMemberGroup) {
  ChatBroker broker({"--receipts-interval-ms", "200"});
  createConversation(broker.adminPort(), "team", "group",
                     {{"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ChatDevice laptop(broker.port(), 5, "alice-laptop", "alice");
  ChatDevice bob(broker.port(), 5, "bob-phone", "bob");
  ChatDevice carol(broker.port(), 5, "carol-phone", "carol");
  for (auto* d : {&alice, &laptop, &bob, &carol}) ASSERT_TRUE(d->connect());
  // Their sessions exist now; the conversation's creation record reaches them on connect.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice.send("team", "m" + std::to_string(i), "hi"));

  // Latest cursor per member, as seen in conv/team/receipts events by `d`.
  auto cursors = [](ChatDevice& d) {
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    for (const auto& p : d.otherPublishes()) {
      if (p.topic != "conv/team/receipts") continue;
      const std::string copy = p.payload;
      const auto* r = flatbuffers::GetRoot<fb::Receipts>(copy.data());
      if (r->cursors())
        for (const auto* c : *r->cursors())
          out[c->user()->str()] = {c->delivered_seq(), c->read_seq()};
    }
    return out;
  };
  using P = std::pair<uint64_t, uint64_t>;
  const std::vector<ChatDevice*> all = {&alice, &laptop, &bob, &carol};
  ASSERT_TRUE(pollAll(
      all,
      [&] {
        auto c = cursors(carol);
        return c["alice"].first == 4 && c["bob"].first == 4 && c["carol"].first == 4;
      },
      5s))
      << "delivered cursors did not reach 4 for everyone";

  // bob reads up to 3; the receipts say so; his unread count is 1 (seq 4 from alice).
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateReadCursorDirect(b, "team", 3));
  const uint16_t id =
      bob.publish("conv/team/read",
                  std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  ASSERT_TRUE(bob.awaitAck(id));
  ASSERT_TRUE(pollAll(
      all,
      [&] {
        return cursors(alice)["bob"] == P{4, 3};
      },
      5s));
  EXPECT_EQ(readAndUnread(bob), (P{3, 1}));
  EXPECT_EQ(readAndUnread(carol), (P{0, 3}));
  EXPECT_EQ(readAndUnread(alice), (P{0, 0})) << "own messages are not unread";

  // Read on one of alice's devices is alice's read cursor on all of them.
  flatbuffers::FlatBufferBuilder b2;
  b2.Finish(fb::CreateReadCursorDirect(b2, "team", 4));
  const uint16_t id2 = laptop.publish(
      "conv/team/read",
      std::string(reinterpret_cast<const char*>(b2.GetBufferPointer()), b2.GetSize()));
  ASSERT_TRUE(laptop.awaitAck(id2));
  EXPECT_EQ(readAndUnread(alice), (P{4, 0}));
  ASSERT_TRUE(pollAll(
      all,
      [&] {
        return cursors(bob)["alice"] == P{4, 4};
      },
      5s));
}

}  // namespace
}  // namespace chattest
