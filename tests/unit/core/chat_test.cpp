// The chat layer in the broker core, without sockets: sends on conv/{id} (membership, seq,
// dedup, PUBACK), delivery to followers, per-device offsets and replay, membership changes,
// SUBSCRIBE rules, rpc replies and the retention notice. Real RocksDB store, fake transports.
#include <gtest/gtest.h>

#include <future>
#include <map>

#include "chat_rpc.hpp"
#include "chat_topics.hpp"
#include "core_harness.hpp"
#include "envelope.hpp"
#include "session.hpp"

namespace parley::testing {
namespace {

using chat::Delivered;
using store::ConversationKind;
using store::MemberRole;

class ChatCoreTest : public CoreTest {
 protected:
  void createGroup(const std::string& id, const std::vector<std::string>& users,
                   ConversationKind kind = ConversationKind::Group) {
    chat::CreateRequest r;
    r.id = id;
    r.kind = kind;
    for (size_t i = 0; i < users.size(); ++i)
      r.members.push_back({users[i], i == 0 && kind != ConversationKind::Direct
                                         ? MemberRole::Owner
                                         : MemberRole::Member});
    auto res = directory_->create(r);
    ASSERT_TRUE(res.ok()) << res.error().message;
    settle();
  }
  void chatSend(TestClient& tc, const std::string& conv, const std::string& cmid,
                const std::string& body, uint16_t pid, uint8_t qos = 1) {
    chat::Outgoing o;
    o.cmid = cmid;
    o.body = body;
    publish(tc, "conv/" + conv, chat::encodeChatSend(o), qos, pid);
  }
  struct Got {
    std::vector<Delivered> msgs;
    std::vector<std::string> topics;
    std::vector<mqtt::Ack> acks;
    std::vector<mqtt::Publish> raw;
  };
  // Everything the client got so far; PUBLISHes at QoS 1 are acknowledged (unless `ack` is
  // false) and decoded as chat messages when their topic is conv/...
  Got take(TestClient& tc, bool ack = true, size_t max_rounds = 1000) {
    Got g;
    for (size_t round = 0; round < max_rounds; ++round) {
      auto ps = tc.transport.take(tc.version);
      if (ps.empty()) break;
      for (auto& p : ps) {
        if (auto* a = std::get_if<mqtt::Ack>(&p)) g.acks.push_back(*a);
        if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
          g.raw.push_back(*pub);
          g.topics.emplace_back(pub->topic);
          if (topics::chatConversation(pub->topic)) {  // conv/{id}: a ChatMessage
            auto d = chat::decodeChatMessage(pub->payload);
            EXPECT_TRUE(d.ok());
            if (d) g.msgs.push_back(*d);
          }
          if (ack && pub->qos == 1)
            send(tc,
                 mqtt::Ack{mqtt::PacketType::Puback, pub->packet_id, mqtt::Reason::Success, {}});
        }
      }
      if (!ack) break;
    }
    return g;
  }
  static std::vector<uint64_t> seqs(const Got& g) {
    std::vector<uint64_t> v;
    for (auto& m : g.msgs) v.push_back(m.seq);
    return v;
  }
  static std::vector<uint64_t> range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> v;
    for (uint64_t s = from; s <= to; ++s) v.push_back(s);
    return v;
  }
  static std::string seqProp(const mqtt::Ack& a) {
    for (auto& [k, v] : a.props.user_properties)
      if (k == "seq") return v;
    return "";
  }
};

TEST_F(ChatCoreTest, SendIsAcknowledgedWithSeqAndDeliveredToPersistentMembers) {
  createGroup("g1", {"alice", "bob"});  // seq 1: ConversationCreated
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  take(bob);
  chatSend(alice, "g1", "m1", "hello", 1);
  auto a = take(alice);
  ASSERT_EQ(a.acks.size(), 1u);
  EXPECT_EQ(a.acks[0].reason, mqtt::Reason::Success);
  EXPECT_EQ(seqProp(a.acks[0]), "2");
  auto b = take(bob);
  ASSERT_EQ(b.msgs.size(), 1u);
  EXPECT_EQ(b.topics[0], "conv/g1");
  EXPECT_EQ(b.msgs[0].seq, 2u);
  EXPECT_EQ(b.msgs[0].sender_user, "alice");
  EXPECT_EQ(b.msgs[0].sender_device, "alice-phone");
  EXPECT_EQ(b.msgs[0].content.cmid, "m1");
  EXPECT_EQ(b.msgs[0].content.body, "hello");
  EXPECT_EQ(b.raw[0].qos, 1);
  // The clean session of alice did not subscribe: nothing arrives there.
  EXPECT_TRUE(a.msgs.empty());
}

TEST_F(ChatCoreTest, RetriedCmidGetsTheOriginalSeqAndIsDeliveredOnce) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  take(bob);
  for (uint16_t i = 1; i <= 3; ++i) chatSend(alice, "g1", "same", "hi", i);
  auto a = take(alice);
  ASSERT_EQ(a.acks.size(), 3u);
  for (auto& ack : a.acks) EXPECT_EQ(seqProp(ack), "2");
  EXPECT_EQ(seqs(take(bob)), std::vector<uint64_t>{2});
  restart();
  auto& alice2 = connectUser("alice-phone", "alice", true, true);
  chatSend(alice2, "g1", "same", "hi", 9);
  auto a2 = take(alice2);
  ASSERT_EQ(a2.acks.size(), 1u);
  EXPECT_EQ(seqProp(a2.acks[0]), "2");
  EXPECT_EQ(directory_->chatStore().loadChatHead("g1"), 2u);
}

TEST_F(ChatCoreTest, NonMemberIsRefused) {
  createGroup("g1", {"alice", "bob"});
  auto& eve5 = connectUser("eve-5", "eve", true, true);
  chatSend(eve5, "g1", "x", "spam", 1);
  auto e = take(eve5);
  ASSERT_EQ(e.acks.size(), 1u);
  EXPECT_EQ(e.acks[0].reason, mqtt::Reason::NotAuthorized);
  EXPECT_FALSE(eve5.transport.closed());

  auto& eve3 = connectUser("eve-3", "eve", false, true);
  chatSend(eve3, "g1", "y", "spam", 1);
  EXPECT_TRUE(take(eve3).acks.empty());
  EXPECT_TRUE(eve3.transport.closed());  // 3.1.1 cannot refuse: disconnected
  EXPECT_EQ(directory_->chatStore().loadChatHead("g1"), 1u);

  // SUBSCRIBE by a non-member: 0x87; a member's explicit SUBSCRIBE is granted.
  subscribe(eve5, "conv/g1", 1, 5);
  auto subacks = only<mqtt::Suback>(eve5.transport.take(eve5.version));
  ASSERT_EQ(subacks.size(), 1u);
  EXPECT_EQ(subacks[0].reasons[0], mqtt::Reason::NotAuthorized);
  auto& bob = connectUser("bob-web", "bob", true, true);
  subscribe(bob, "conv/g1", 1, 6);
  subacks = only<mqtt::Suback>(bob.transport.take(bob.version));
  ASSERT_EQ(subacks.size(), 1u);
  EXPECT_EQ(subacks[0].reasons[0], mqtt::Reason::GrantedQoS1);
  // A wildcard subscription is allowed but never sees chat traffic.
  subscribe(eve5, "#", 1, 7);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  chatSend(alice, "g1", "m", "secret", 1);
  EXPECT_TRUE(take(eve5).msgs.empty());
  EXPECT_EQ(seqs(take(bob)), std::vector<uint64_t>{2});  // clean session, live from subscribe
}

TEST_F(ChatCoreTest, OfflineDeviceCatchesUpInOrderWhileLiveMessagesArrive) {
  createGroup("g1", {"alice", "bob"});
  createGroup("g2", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600, 20);
  take(bob);
  drop(bob);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  for (int i = 0; i < 600; ++i) {
    chatSend(alice, i % 2 ? "g1" : "g2", "c" + std::to_string(i), "m", uint16_t(i % 60000 + 1));
  }
  take(alice);
  // Back with a receive maximum of 20: the replay goes 20 at a time; more messages are sent
  // between acknowledgements and must come after the replayed ones, with no gap.
  auto& bob2 = connectUser("bob-phone", "bob", true, false, 3600, 20);
  std::map<std::string, std::vector<uint64_t>> got;
  int extra = 0;
  for (int round = 0; round < 200; ++round) {
    auto g = take(bob2, true, 1);
    for (auto& m : g.msgs) got[m.conv].push_back(m.seq);
    if (extra < 50) {
      chatSend(alice, extra % 2 ? "g1" : "g2", "late" + std::to_string(extra), "m",
               uint16_t(extra + 1));
      ++extra;
    }
    if (g.msgs.empty() && extra >= 50) break;
  }
  // Each conversation: seq 1 was created before bob's device existed... bob's device was new
  // at its first connect, so it starts after the creation record.
  EXPECT_EQ(got["g1"], range(2, 1 + 300 + 25));
  EXPECT_EQ(got["g2"], range(2, 1 + 300 + 25));
}

TEST_F(ChatCoreTest, OffsetsSurviveARestartAndOnlyTheRestIsReplayed) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", false, false);  // 3.1.1 persistent
  auto& alice = connectUser("alice-phone", "alice", true, true);
  for (int i = 0; i < 10; ++i) chatSend(alice, "g1", "a" + std::to_string(i), "m", uint16_t(i + 1));
  EXPECT_EQ(seqs(take(bob)), range(2, 11));
  drop(bob);  // offsets are written when the device leaves
  for (int i = 0; i < 5; ++i) chatSend(alice, "g1", "b" + std::to_string(i), "m", uint16_t(i + 1));
  restart();
  auto& bob2 = connectUser("bob-phone", "bob", false, false);
  EXPECT_EQ(seqs(take(bob2)), range(12, 16));
}

TEST_F(ChatCoreTest, UnacknowledgedMessagesAreSentAgainAfterReconnect) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  take(bob);
  for (int i = 0; i < 5; ++i) chatSend(alice, "g1", "a" + std::to_string(i), "m", uint16_t(i + 1));
  auto unacked = take(bob, false);
  EXPECT_EQ(seqs(unacked), range(2, 6));
  drop(bob);
  auto& bob2 = connectUser("bob-phone", "bob", true, false, 3600);
  auto again = take(bob2);
  EXPECT_EQ(seqs(again), range(2, 6));  // resent (DUP), not twice
  for (auto& p : again.raw) EXPECT_TRUE(p.dup);
  // While offline they were kept as stubs and read back from the log: the bytes are whole.
  for (size_t i = 0; i < again.msgs.size(); ++i) EXPECT_EQ(again.msgs[i].content.body, "m") << i;
}

// A reader that does not acknowledge gets at most ~256 KiB of messages in flight, however large
// its receive maximum: the rest waits in the log, not in memory (issue 4, backpressure).
TEST_F(ChatCoreTest, InflightIsBoundedInBytesForAReaderThatDoesNotAcknowledge) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  take(bob);
  const std::string body(4096, 'x');
  for (int i = 0; i < 200; ++i)
    chatSend(alice, "g1", "c" + std::to_string(i), body, uint16_t(i % 60000 + 1));
  take(alice);
  auto first = take(bob, false);
  EXPECT_GE(first.msgs.size(), 60u);  // ~256 KiB of 4 KiB records
  EXPECT_LE(first.msgs.size(), 66u);
  for (auto& p : first.raw)
    send(bob, mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, mqtt::Reason::Success, {}});
  auto rest = take(bob);
  std::vector<uint64_t> all = seqs(first);
  for (auto s : seqs(rest)) all.push_back(s);
  EXPECT_EQ(all, range(2, 201));
}

// The kernel may absorb a stuck reader's bytes: then its full in-flight window with more waiting
// is what shows it stopped — acknowledgements restart the clock, silence ends the connection.
TEST_F(ChatCoreTest, ReaderThatStopsAcknowledgingIsDisconnected) {
  config_.slow_reader_timeout_s = 10;
  restart();
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  take(bob);
  const std::string body(4096, 'x');
  for (int i = 0; i < 100; ++i)
    chatSend(alice, "g1", "c" + std::to_string(i), body, uint16_t(i + 1));
  take(alice);
  auto first = take(bob, false);
  ASSERT_LT(first.msgs.size(), 100u);  // window full, more waiting
  broker_->tick(0);
  clock_.advance(8000);
  send(bob, mqtt::Ack{mqtt::PacketType::Puback, first.raw[0].packet_id, mqtt::Reason::Success, {}});
  clock_.advance(8000);
  broker_->tick(0);
  EXPECT_FALSE(bob.transport.closed());  // the ack was progress
  clock_.advance(11000);
  broker_->tick(0);
  EXPECT_TRUE(bob.transport.closed());
  drop(bob);
  auto& bob2 = connectUser("bob-phone", "bob", true, false, 3600);
  EXPECT_EQ(seqs(take(bob2)), range(3, 101));
}

// A connection whose output does not drain for --slow-reader-timeout is disconnected with 0x97;
// its persistent session then resumes from its offsets with nothing lost.
TEST_F(ChatCoreTest, SlowReaderIsDisconnectedAndCatchesUpOnReturn) {
  config_.slow_reader_timeout_s = 10;
  restart();
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  auto got = take(bob);
  bob.transport.setUnsent(300 * 1024);  // stopped reading
  for (int i = 0; i < 20; ++i) chatSend(alice, "g1", "c" + std::to_string(i), "m", uint16_t(i + 1));
  take(alice);
  EXPECT_TRUE(take(bob, false).msgs.empty());  // above the watermark: nothing more written
  broker_->tick(0);
  clock_.advance(9000);
  broker_->tick(0);
  EXPECT_FALSE(bob.transport.closed());  // not yet
  // A write that completes shows the reader is alive: the clock starts again.
  bob.client->onOutputWritten();
  clock_.advance(5000);
  broker_->tick(0);
  clock_.advance(6000);
  broker_->tick(0);
  EXPECT_FALSE(bob.transport.closed());
  clock_.advance(5000);
  broker_->tick(0);
  ASSERT_TRUE(bob.transport.closed());
  auto last = bob.transport.take(mqtt::Version::V5);
  ASSERT_FALSE(last.empty());
  auto* d = std::get_if<mqtt::Disconnect>(&last.back());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->reason, mqtt::Reason::QuotaExceeded);
  EXPECT_EQ(broker_->stats().slow_readers_disconnected.load(), 1u);
  drop(bob);
  auto& bob2 = connectUser("bob-phone", "bob", true, false, 3600);
  EXPECT_EQ(seqs(take(bob2)), range(2, 21));
}

TEST_F(ChatCoreTest, MembersAddedAndRemovedWhileOnline) {
  createGroup("g1", {"alice", "bob"});
  auto& carol = connectUser("carol-phone", "carol", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  chatSend(alice, "g1", "before", "not for carol", 1);
  ASSERT_TRUE(directory_->addMember("g1", std::nullopt, "carol", MemberRole::Member).ok());
  settle();
  chatSend(alice, "g1", "after", "for carol", 2);
  auto c = take(carol);
  ASSERT_EQ(seqs(c), (std::vector<uint64_t>{3, 4}));
  ASSERT_TRUE(c.msgs[0].system.has_value());
  EXPECT_EQ(c.msgs[0].system->event, chat::SystemEvent::MemberAdded);
  EXPECT_EQ(c.msgs[1].content.body, "for carol");

  ASSERT_TRUE(directory_->removeMember("g1", std::nullopt, "carol").ok());
  settle();
  chatSend(alice, "g1", "gone", "not for carol", 3);
  EXPECT_TRUE(take(carol).msgs.empty());
  chatSend(carol, "g1", "c1", "let me in", 1);
  auto cr = take(carol);
  ASSERT_EQ(cr.acks.size(), 1u);
  EXPECT_EQ(cr.acks[0].reason, mqtt::Reason::NotAuthorized);
}

// Regression: devices online when the conversation is created must follow it from seq 1
// (found by the integration suite: only MemberAdded used to start a follow).
TEST_F(ChatCoreTest, OnlineDevicesFollowAConversationCreatedWhileTheyAreConnected) {
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& alice = connectUser("alice-phone", "alice", false, false);
  createGroup("g1", {"alice", "bob"});
  chatSend(alice, "g1", "m1", "hi", 1);
  EXPECT_EQ(seqs(take(bob)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(seqs(take(alice)), (std::vector<uint64_t>{1, 2}));
}

TEST_F(ChatCoreTest, OfflineDeviceOfANewMemberStartsAtTheJoin) {
  createGroup("g1", {"alice", "bob"});
  auto& carol = connectUser("carol-phone", "carol", true, false, 3600);
  drop(carol);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  chatSend(alice, "g1", "before", "x", 1);                                                   // 2
  ASSERT_TRUE(directory_->addMember("g1", std::nullopt, "carol", MemberRole::Member).ok());  // 3
  chatSend(alice, "g1", "after", "y", 2);                                                    // 4
  settle();
  auto& carol2 = connectUser("carol-phone", "carol", true, false, 3600);
  EXPECT_EQ(seqs(take(carol2)), (std::vector<uint64_t>{3, 4}));
  // A brand-new device of carol starts at the head.
  auto& tablet = connectUser("carol-tablet", "carol", true, false, 3600);
  EXPECT_TRUE(take(tablet).msgs.empty());
  chatSend(alice, "g1", "later", "z", 3);
  EXPECT_EQ(seqs(take(tablet)), std::vector<uint64_t>{5});
}

TEST_F(ChatCoreTest, RpcRepliesGoToTheRequesterOnly) {
  createGroup("g1", {"alice", "bob"});
  auto& alice = connectUser("alice-phone", "alice", true, true);
  for (int i = 0; i < 3; ++i) chatSend(alice, "g1", "a" + std::to_string(i), "m", uint16_t(i + 1));
  take(alice);
  auto& snoop = connectUser("snoop", "eve", true, true);
  subscribe(snoop, "#", 1, 1);
  subscribe(snoop, "rpc/reply/alice-phone", 1, 2);
  auto subacks = only<mqtt::Suback>(snoop.transport.take(snoop.version));
  ASSERT_EQ(subacks.size(), 2u);
  EXPECT_EQ(subacks[1].reasons[0], mqtt::Reason::NotAuthorized);

  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(chat::fb::CreateHistoryRequestDirect(fbb, "g1", 0, 10));
  mqtt::Publish req;
  req.topic = "rpc/history";
  req.qos = 1;
  req.packet_id = 7;
  req.payload =
      std::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  req.props.response_topic = "rpc/reply/alice-phone";
  req.props.correlation_data = std::string("corr-1");
  send(alice, req);  // alice did not even subscribe: the reply comes to her connection
  auto g = take(alice);
  ASSERT_EQ(g.raw.size(), 1u);
  EXPECT_EQ(g.topics[0], "rpc/reply/alice-phone");
  EXPECT_EQ(g.raw[0].props.correlation_data, std::string("corr-1"));
  auto resp = flatbuffers::GetRoot<chat::fb::HistoryResponse>(g.raw[0].payload.data());
  ASSERT_NE(resp->messages(), nullptr);
  EXPECT_EQ(resp->messages()->size(), 4u);
  EXPECT_EQ(resp->head_seq(), 4u);
  EXPECT_TRUE(take(snoop).raw.empty());  // not through the tree: '#' does not see it

  // A response topic of the client's own choosing is published like any message.
  subscribe(alice, "my/replies", 1, 3);
  take(alice);
  req.props.response_topic = "my/replies";
  req.props.correlation_data = std::string("corr-2");
  send(alice, req);
  g = take(alice);
  ASSERT_EQ(g.raw.size(), 1u);
  EXPECT_EQ(g.topics[0], "my/replies");
  EXPECT_EQ(g.raw[0].props.correlation_data, std::string("corr-2"));

  // Not a member: an RpcError, flagged; 3.1.1 gets it on rpc/reply/{client_id}/error.
  auto& eve3 = connectUser("eve-3", "eve", false, true);
  req.props = {};
  send(eve3, req);
  auto e = take(eve3);
  ASSERT_EQ(e.raw.size(), 1u);
  EXPECT_EQ(e.topics[0], "rpc/reply/eve-3/error");
}

TEST_F(ChatCoreTest, DeviceBelowTheRetentionFloorIsToldAndContinuesAtTheFloor) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  take(bob);
  drop(bob);
  auto& alice = connectUser("alice-phone", "alice", true, true);
  for (int i = 0; i < 10; ++i) chatSend(alice, "g1", "a" + std::to_string(i), "m", uint16_t(i + 1));
  // Keep only the last 4 records (seq 8..11).
  std::promise<void> done;
  directory_->chatStore().trimChatLog("g1", 8,
                                      [&](const store::CommitResult&) { done.set_value(); });
  done.get_future().wait();
  auto& bob2 = connectUser("bob-phone", "bob", true, false, 3600);
  auto g = take(bob2);
  ASSERT_FALSE(g.msgs.empty());
  EXPECT_EQ(g.msgs[0].seq, 0u);
  ASSERT_TRUE(g.msgs[0].system.has_value());
  EXPECT_EQ(g.msgs[0].system->event, chat::SystemEvent::HistoryTrimmed);
  EXPECT_EQ(g.msgs[0].system->floor_seq, 8u);
  g.msgs.erase(g.msgs.begin());
  EXPECT_EQ(seqs(g), range(8, 11));
}

// --- chat layer II: typing and presence ------------------------------------------------------

TEST_F(ChatCoreTest, TypingReachesMembersOnlineNowAndIsNeverStored) {
  createGroup("g1", {"alice", "bob", "carol"});
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& carol = connectUser("carol-phone", "carol", true, false, 3600);
  drop(carol);
  auto& alice = connectUser("alice-phone", "alice", true, false, 3600);
  auto& eve = connectUser("eve", "eve", true, true);
  subscribe(eve, "#", 0, 1);
  take(bob);
  take(alice);
  take(eve);
  publish(alice, "conv/g1/typing", "1", 0);
  auto b = take(bob);
  ASSERT_EQ(b.raw.size(), 1u);
  EXPECT_EQ(b.topics[0], "conv/g1/typing");
  EXPECT_EQ(b.raw[0].qos, 0);
  auto t = chat::decodeTyping(b.raw[0].payload);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->user, "alice");
  EXPECT_EQ(t->device, "alice-phone");
  EXPECT_EQ(t->state, "1");
  EXPECT_TRUE(take(alice).raw.empty());  // not echoed to the sending connection
  EXPECT_TRUE(take(eve).raw.empty());    // not a member: nothing, whatever it subscribed

  // Rate limit: a second signal within the interval is not forwarded; after it, it is.
  publish(alice, "conv/g1/typing", "1", 0);
  EXPECT_TRUE(take(bob).raw.empty());
  clock_.advance(config_.typing_interval_ms);
  publish(alice, "conv/g1/typing", "0", 0);
  EXPECT_EQ(take(bob).raw.size(), 1u);

  // Never stored: carol, offline meanwhile, gets nothing on return; the log did not move.
  auto& carol2 = connectUser("carol-phone", "carol", true, false, 3600);
  EXPECT_TRUE(take(carol2).raw.empty());
  EXPECT_EQ(directory_->chatStore().loadChatHead("g1"), 1u);

  // A non-member's typing is refused (5.0 QoS 1: 0x87) and forwarded nowhere.
  publish(eve, "conv/g1/typing", "1", 1, 9);
  auto e = take(eve);
  ASSERT_EQ(e.acks.size(), 1u);
  EXPECT_EQ(e.acks[0].reason, mqtt::Reason::NotAuthorized);
  EXPECT_TRUE(take(bob).raw.empty());
}

TEST_F(ChatCoreTest, PresenceAggregatesDevicesWithGraceForUncleanDrops) {
  createGroup("g1", {"alice", "bob"});
  auto& bob = connectUser("bob-web", "bob", true, true);
  subscribe(bob, "presence/alice", 1, 1);
  take(bob);
  auto last = [&](TestClient& tc) {
    auto g = take(tc);
    std::optional<chat::PresenceInfo> p;
    for (size_t i = 0; i < g.raw.size(); ++i) {
      EXPECT_EQ(g.topics[i], "presence/alice");
      auto d = chat::decodePresence(g.raw[i].payload);
      EXPECT_TRUE(d.ok());
      if (d) p = *d;
    }
    return p;
  };
  auto& phone = connectUser("alice-phone", "alice", true, false, 3600);
  auto p = last(bob);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->online);
  EXPECT_EQ(p->devices, 1u);
  auto& laptop = connectUser("alice-laptop", "alice", false, true);
  p = last(bob);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->devices, 2u);
  send(laptop, mqtt::Disconnect{});  // clean: counted at once
  p = last(bob);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->online);
  EXPECT_EQ(p->devices, 1u);
  drop(phone);  // unclean: still online during the grace
  EXPECT_FALSE(last(bob).has_value());
  clock_.advance(int64_t(config_.presence_grace_s) * 1000);
  broker_->tick(0);
  settle();
  p = last(bob);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->online);
  EXPECT_EQ(p->devices, 0u);

  // A late subscriber sharing a conversation gets the retained state.
  auto& bob2 = connectUser("bob-tablet", "bob", true, true);
  subscribe(bob2, "presence/alice", 1, 1);
  auto g = take(bob2);
  ASSERT_EQ(g.raw.size(), 1u);
  EXPECT_TRUE(g.raw[0].retain);
  EXPECT_FALSE(chat::decodePresence(g.raw[0].payload)->online);

  // Policy: no shared conversation, wildcards, and publishing are refused; '#' does not see it.
  auto& eve = connectUser("eve", "eve", true, true);
  subscribe(eve, "presence/alice", 1, 1);
  subscribe(eve, "presence/+", 1, 2);
  subscribe(eve, "#", 1, 3);
  auto subacks = only<mqtt::Suback>(eve.transport.take(eve.version));
  ASSERT_EQ(subacks.size(), 3u);
  EXPECT_EQ(subacks[0].reasons[0], mqtt::Reason::NotAuthorized);
  EXPECT_EQ(subacks[1].reasons[0], mqtt::Reason::NotAuthorized);
  EXPECT_EQ(subacks[2].reasons[0], mqtt::Reason::GrantedQoS1);
  connectUser("alice-phone", "alice", true, false, 3600);
  EXPECT_TRUE(take(eve).raw.empty());
  publish(eve, "presence/alice", "fake", 1, 4);
  auto e = take(eve);
  ASSERT_EQ(e.acks.size(), 1u);
  EXPECT_EQ(e.acks[0].reason, mqtt::Reason::NotAuthorized);
}

// --presence-policy: "self" lets nobody else read a user's presence, "authenticated" lets any
// logged-in user; anonymous clients never (issue 4: who may subscribe is a policy).
TEST_F(ChatCoreTest, PresencePolicyDecidesWhoMaySubscribe) {
  createGroup("g1", {"alice", "bob"});
  auto codes = [&](TestClient& tc) {
    subscribe(tc, "presence/alice", 1, 7);
    auto s = only<mqtt::Suback>(tc.transport.take(tc.version));
    return s.size() == 1 ? s[0].reasons[0] : mqtt::Reason::UnspecifiedError;
  };
  config_.presence_policy = core::PresencePolicy::Self;
  restart();
  EXPECT_EQ(codes(connectUser("bob-1", "bob", true, true)), mqtt::Reason::NotAuthorized);
  EXPECT_EQ(codes(connectUser("alice-1", "alice", true, true)), mqtt::Reason::GrantedQoS1);
  config_.presence_policy = core::PresencePolicy::Authenticated;
  restart();
  EXPECT_EQ(codes(connectUser("eve-1", "eve", true, true)), mqtt::Reason::GrantedQoS1);
  EXPECT_EQ(codes(connectUser("anon-1", "", true, true)), mqtt::Reason::NotAuthorized);
  config_.presence_policy = core::PresencePolicy::Shared;
  restart();
  EXPECT_EQ(codes(connectUser("bob-2", "bob", true, true)), mqtt::Reason::GrantedQoS1);
  EXPECT_EQ(codes(connectUser("eve-2", "eve", true, true)), mqtt::Reason::NotAuthorized);
}

TEST_F(ChatCoreTest, PresenceLeftOnlineByACrashIsResetAtStart) {
  createGroup("g1", {"alice", "bob"});
  connectUser("alice-phone", "alice", true, false, 3600);
  auto before = broker_->retainedMatching("presence/alice");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_TRUE(chat::decodePresence(before[0]->payload)->online);
  restart();  // the retained "online" survives on disk, as after a crash
  hub_->reconcilePresence();
  settle();
  auto after = broker_->retainedMatching("presence/alice");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_FALSE(chat::decodePresence(after[0]->payload)->online);
}

// Chat layer II acceptance (large channels): a send to a 10,000-member channel with 2,000
// devices online does no per-member work at send time — one commit of constant size (record,
// dedup entry, head) — reaches every online device, and offline devices catch up by offset.
TEST_F(ChatCoreTest, LargeChannelSendDoesNoPerMemberWrites) {
  constexpr int kMembers = 10000, kOnline = 2000, kOfflineDevices = 50;
  chat::CreateRequest r;
  r.id = "news";
  r.kind = ConversationKind::Channel;
  r.members.push_back({"owner", MemberRole::Owner});
  for (int i = 1; i < kMembers; ++i)
    r.members.push_back({"u" + std::to_string(i), MemberRole::ReadOnly});
  ASSERT_TRUE(directory_->create(r).ok());
  settle();
  std::vector<TestClient*> online;
  for (int i = 1; i <= kOnline; ++i)
    online.push_back(&connectUser("d" + std::to_string(i), "u" + std::to_string(i), false, false));
  std::vector<std::string> offline;
  for (int i = kOnline + 1; i <= kOnline + kOfflineDevices; ++i) {
    offline.push_back("d" + std::to_string(i));
    drop(connectUser(offline.back(), "u" + std::to_string(i), false, false));
  }
  auto& owner = connectUser("owner-phone", "owner", true, true);
  for (auto* c : online) c->transport.take(c->version);

  const auto before = store_->stats();
  chatSend(owner, "news", "n1", "big news", 1);
  const auto after = store_->stats();
  EXPECT_EQ(after.commits - before.commits, 1u) << "one write set per send, whatever the size";
  EXPECT_LT(after.bytes_written - before.bytes_written, 1024u);

  size_t reached = 0;
  for (auto* c : online) {
    auto g = take(*c);
    if (g.msgs.size() == 1 && g.msgs[0].seq == 2) ++reached;
  }
  EXPECT_EQ(reached, size_t(kOnline));
  for (const auto& id : offline) {
    const std::string user = "u" + id.substr(1);
    auto& back = connectUser(id, user, false, false);
    EXPECT_EQ(seqs(take(back)), std::vector<uint64_t>{2}) << id;
  }
}

// Chat layer II acceptance (receipts): a 3-member group through send, deliver, read and
// multi-device; coalesced events; unread counts; none for channels.
TEST_F(ChatCoreTest, ReceiptsAndUnreadCountsThroughSendDeliverRead) {
  createGroup("g1", {"alice", "bob", "carol"});
  auto& alice = connectUser("alice-phone", "alice", true, false, 3600);
  auto& alice2 = connectUser("alice-laptop", "alice", true, false, 3600);
  auto& bob = connectUser("bob-phone", "bob", true, false, 3600);
  auto& carol = connectUser("carol-phone", "carol", true, false, 3600);
  for (int i = 0; i < 3; ++i) chatSend(alice, "g1", "m" + std::to_string(i), "hi", uint16_t(i + 1));
  take(alice);
  take(alice2);
  take(bob);                                // bob's phone acknowledges seq 2..4
  auto carol_unacked = take(carol, false);  // carol's phone has them, acknowledges nothing yet
  ASSERT_EQ(carol_unacked.msgs.size(), 3u);

  auto receipts = [&](TestClient& tc) {
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    size_t events = 0;
    auto g = take(tc);
    for (size_t i = 0; i < g.raw.size(); ++i) {
      if (g.topics[i] != "conv/g1/receipts") continue;
      ++events;
      auto r = chat::decodeReceipts(g.raw[i].payload);
      EXPECT_TRUE(r.ok());
      if (r)
        for (auto& c : r->cursors) out[c.user] = {c.delivered, c.read};
    }
    out["#events"] = {events, 0};
    return out;
  };
  clock_.advance(config_.receipts_interval_ms);
  broker_->tick(0);
  settle();
  auto r = receipts(carol);  // carol's phone gets the event too (it is a member's device)
  EXPECT_EQ(r["#events"].first, 1u);
  EXPECT_EQ(r["bob"], (std::pair<uint64_t, uint64_t>{4, 0}));
  EXPECT_EQ(r["alice"], (std::pair<uint64_t, uint64_t>{4, 0}));
  EXPECT_EQ(r.count("carol"), 0u);  // nothing acknowledged by carol's devices yet
  for (auto* tc : {&alice, &alice2, &bob}) take(*tc);

  // Three reads inside one interval: one event, carrying the latest cursor (forward only).
  auto read = [&](TestClient& tc, uint64_t seq, uint16_t pid) {
    publish(tc, "conv/g1/read", chat::encodeReadCursor("g1", seq), 1, pid);
  };
  read(bob, 2, 20);
  read(bob, 3, 21);
  read(bob, 1, 22);  // backwards: ignored
  clock_.advance(config_.receipts_interval_ms);
  broker_->tick(0);
  settle();
  r = receipts(alice);
  EXPECT_EQ(r["#events"].first, 1u);
  EXPECT_EQ(r["bob"], (std::pair<uint64_t, uint64_t>{4, 3}));

  // Unread counts: head 4; bob read 3 → 1 (seq 4, alice's); alice sent everything → 0.
  auto unread = [&](TestClient& tc) {
    mqtt::Publish req;
    req.topic = "rpc/conversations";
    req.qos = 1;
    req.packet_id = 30;
    send(tc, req);
    auto g = take(tc);
    for (size_t i = 0; i < g.raw.size(); ++i) {
      if (g.topics[i].rfind("rpc/reply/", 0) != 0) continue;
      auto resp = flatbuffers::GetRoot<chat::fb::ConversationsResponse>(g.raw[i].payload.data());
      if (!resp->conversations() || resp->conversations()->size() != 1)
        return std::make_pair<uint64_t, uint64_t>(99, 99);
      auto* c = resp->conversations()->Get(0);
      return std::make_pair(c->read_seq(), c->unread());
    }
    return std::make_pair<uint64_t, uint64_t>(98, 98);
  };
  EXPECT_EQ(unread(bob), (std::pair<uint64_t, uint64_t>{3, 1}));
  EXPECT_EQ(unread(alice), (std::pair<uint64_t, uint64_t>{0, 0}));
  EXPECT_EQ(unread(carol), (std::pair<uint64_t, uint64_t>{0, 3}));
  // The read cursor is per user: bob's cursor is what any of bob's devices sees.
  auto& bob2 = connectUser("bob-tablet", "bob", true, true);
  EXPECT_EQ(unread(bob2), (std::pair<uint64_t, uint64_t>{3, 1}));

  // Carol's phone acknowledges now: her delivered cursor follows.
  for (auto& p : carol_unacked.raw)
    send(carol, mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, mqtt::Reason::Success, {}});
  clock_.advance(config_.receipts_interval_ms);
  broker_->tick(0);
  settle();
  EXPECT_EQ(receipts(bob)["carol"], (std::pair<uint64_t, uint64_t>{4, 0}));

  // Non-members cannot move cursors; nobody can publish receipts.
  auto& eve = connectUser("eve", "eve", true, true);
  read(eve, 4, 40);
  publish(eve, "conv/g1/receipts", "x", 1, 41);
  auto e = take(eve);
  ASSERT_EQ(e.acks.size(), 2u);
  EXPECT_EQ(e.acks[0].reason, mqtt::Reason::NotAuthorized);
  EXPECT_EQ(e.acks[1].reason, mqtt::Reason::NotAuthorized);
}

TEST_F(ChatCoreTest, ChannelsGetNoReceiptsButKeepReadCursors) {
  createGroup("ch", {"owner", "reader"}, ConversationKind::Channel);
  auto& owner = connectUser("owner-phone", "owner", true, false, 3600);
  auto& reader = connectUser("reader-phone", "reader", true, false, 3600);
  chatSend(owner, "ch", "n1", "news", 1);
  take(owner);
  take(reader);
  publish(reader, "conv/ch/read", chat::encodeReadCursor("ch", 2), 1, 5);
  clock_.advance(config_.receipts_interval_ms);
  broker_->tick(0);
  settle();
  auto g = take(owner);
  for (auto& t : g.topics) EXPECT_NE(t, "conv/ch/receipts");
  auto stored = directory_->chatStore().loadChatCursor("ch", "reader");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->read, 2u);
}

}  // namespace
}  // namespace parley::testing
