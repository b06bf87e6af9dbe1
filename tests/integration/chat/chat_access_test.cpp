// Acceptance: membership is the access rule. Non-members cannot publish, subscribe or read
// history; read-only members cannot send; a removed member stops receiving at once (also on an
// explicit clean-session subscription); rpc reply topics belong to their client. A clean
// session of a member must SUBSCRIBE and then gets live messages only.
#include "chat_harness.hpp"

namespace chattest {
namespace {

class ChatAccess : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
  uint8_t notAuthorizedSub() const { return v() == 5 ? 0x87 : 0x80; }
};

TEST_P(ChatAccess, NonMemberCannotPublishSubscribeOrReadHistory) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  ChatDevice mallory(broker.port(), v(), "mallory-phone", "mallory");
  ASSERT_TRUE(mallory.connect());

  EXPECT_EQ(mallory.subscribe("conv/team", 1), std::vector<uint8_t>{notAuthorizedSub()});
  EXPECT_EQ(mallory.subscribe("rpc/reply/alice-phone", 1), std::vector<uint8_t>{notAuthorizedSub()})
      << "another client's rpc reply topic";
  prepareRpcReplies(mallory);
  expectRpcError(mallory, mallory.rpc("history", historyRequest("team", 0, 10)),
                 fb::RpcErrorCode::NotMember);
  EXPECT_FALSE(mallory.closed());

  const uint16_t id = mallory.publish("conv/team", chatSend("m-1", "let me in"));
  if (v() == 5) {
    auto a = mallory.awaitAck(id);
    ASSERT_TRUE(a) << "no PUBACK for a non-member's publish";
    EXPECT_EQ(a->reason, 0x87);
    EXPECT_FALSE(pubackSeq(*a));
    // No such conversation: the same answer.
    auto b = mallory.send("nosuchconv", "m-2", "hello?");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->reason, 0x87);
  } else {
    EXPECT_FALSE(mallory.awaitAck(id, 3s)) << "3.1.1 non-member publish was acknowledged";
    EXPECT_TRUE(mallory.closed()) << "3.1.1 non-member publish must close the connection";
  }
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 1u) << "the refused send was stored";
  alice.poll(300ms);
  EXPECT_TRUE(alice.messages("team").empty()) << "the refused send was delivered";

  // Wildcards never carry chat messages (whatever the SUBACK says).
  ChatDevice eve(broker.port(), v(), "eve-web", "eve", /*persistent=*/false);
  ASSERT_TRUE(eve.connect());
  eve.subscribe("#", 1);
  eve.subscribe("conv/+", 1);
  eve.subscribe("conv/#", 1);
  ASSERT_TRUE(alice.send("team", "a-1", "members only"));
  ASSERT_TRUE(alice.waitMessages("team", 1, 5s));
  eve.poll(300ms);
  EXPECT_TRUE(eve.messages("team").empty()) << "a wildcard subscriber read a conversation";
}

TEST_P(ChatAccess, ReadOnlyMemberReadsButCannotSend) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "news", "channel",
                     {{"alice", "owner"}, {"rita", "read_only"}});
  ChatDevice rita(broker.port(), v(), "rita-phone", "rita");
  ASSERT_TRUE(rita.connect());
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  auto a = alice.send("news", "n-1", "headline");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->reason, 0);
  ASSERT_TRUE(rita.waitMessages("news", 1, 5s)) << "read-only member does not receive";
  EXPECT_EQ(rita.messages("news")[0].cmid, "n-1");

  prepareRpcReplies(rita);
  auto reply = rita.rpc("history", historyRequest("news", 0, 10));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->topic, "rpc/reply/rita-phone");
  auto page = decodeHistory(reply->payload);
  ASSERT_TRUE(page.valid);
  EXPECT_EQ(page.messages.size(), 2u);

  const uint16_t id = rita.publish("conv/news", chatSend("r-1", "me too"));
  if (v() == 5) {
    auto r = rita.awaitAck(id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, 0x87);
  } else {
    EXPECT_FALSE(rita.awaitAck(id, 3s));
    EXPECT_TRUE(rita.closed());
  }
  EXPECT_EQ(adminHistory(broker.adminPort(), "news").size(), 2u);
}

TEST_P(ChatAccess, RemovedMemberStopsReceivingAtOnce) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group",
                     {{"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});
  ChatDevice bob(broker.port(), v(), "bob-phone", "bob");
  ChatDevice bob_web(broker.port(), v(), "bob-web", "bob", /*persistent=*/false);
  ChatDevice carol(broker.port(), v(), "carol-phone", "carol");
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  for (auto* d : {&bob, &bob_web, &carol, &alice}) ASSERT_TRUE(d->connect());
  EXPECT_EQ(bob_web.subscribe("conv/team", 1), std::vector<uint8_t>{1});

  ASSERT_TRUE(alice.send("team", "a-1", "before"));
  ASSERT_TRUE(pollAll(
      {&bob, &bob_web, &carol},
      [&] {
        return bob.messages("team").size() == 1 && bob_web.messages("team").size() == 1 &&
               carol.messages("team").size() == 1;
      },
      5s));

  const uint64_t removed = removeMember(broker.adminPort(), "team", "bob");
  EXPECT_EQ(removed, 3u);
  auto sent = alice.send("team", "a-2", "after");
  ASSERT_TRUE(sent);
  ASSERT_TRUE(carol.waitMessages("team", 3, 5s));
  EXPECT_EQ(carol.messages("team")[1].event, fb::SystemEvent::MemberRemoved);
  EXPECT_EQ(carol.messages("team")[2].cmid, "a-2");
  pollAll(
      {&bob, &bob_web}, [] { return false; }, 300ms);
  for (auto* d : {&bob, &bob_web}) {
    for (const auto& m : d->messages("team")) {
      EXPECT_LT(m.seq, 4u) << d->device() << " received seq " << m.seq << " after removal";
    }
  }

  // Nor can bob subscribe, read history or send any more.
  EXPECT_EQ(bob_web.subscribe("conv/team", 1), std::vector<uint8_t>{notAuthorizedSub()});
  prepareRpcReplies(bob);
  expectRpcError(bob, bob.rpc("history", historyRequest("team", 0, 10)),
                 fb::RpcErrorCode::NotMember);
  const uint16_t id = bob.publish("conv/team", chatSend("b-1", "still here?"));
  if (v() == 5) {
    auto a = bob.awaitAck(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->reason, 0x87);
  } else {
    EXPECT_FALSE(bob.awaitAck(id, 3s));
    EXPECT_TRUE(bob.closed());
  }
  // A reconnect does not bring later messages either.
  bob.abort();
  bob.allMessages().clear();
  ASSERT_TRUE(bob.connect());
  bob.poll(500ms);
  for (const auto& m : bob.messages("team")) EXPECT_LT(m.seq, 4u) << "after reconnect";
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 4u);
}

TEST_P(ChatAccess, CleanSessionSubscribesAndGetsLiveOnly) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  ASSERT_TRUE(alice.send("team", "a-1", "old"));

  ChatDevice web(broker.port(), v(), "bob-web", "bob", /*persistent=*/false);
  ASSERT_TRUE(web.connect());
  ASSERT_TRUE(alice.send("team", "a-2", "not subscribed yet"));
  web.poll(300ms);
  EXPECT_TRUE(web.messages("team").empty()) << "a clean session is not auto-subscribed";
  EXPECT_EQ(web.subscribe("conv/team", 2), std::vector<uint8_t>{1}) << "granted QoS is 1";
  ASSERT_TRUE(alice.send("team", "a-3", "live"));
  ASSERT_TRUE(web.waitMessages("team", 1, 5s));
  web.poll(300ms);
  ASSERT_EQ(web.messages("team").size(), 1u) << "older messages were replayed";
  EXPECT_EQ(web.messages("team")[0].cmid, "a-3");
  EXPECT_EQ(web.messages("team")[0].seq, 4u);
}

TEST_P(ChatAccess, MalformedEnvelopesAreRefusedAndNotStored) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not a flatbuffer", "\x01\x02\x03 garbage"},
      {"empty cmid", chatSend("", "no id")},
      {"cmid over 64 bytes", chatSend(std::string(65, 'x'), "long id")},
      {"kind System", chatSend("sys-1", "forged", fb::Kind::System)},
  };
  for (const auto& [what, payload] : bad) {
    SCOPED_TRACE(what);
    ChatDevice alice(broker.port(), v(), "alice-phone", "alice");
    ASSERT_TRUE(alice.connect());
    const uint16_t id = alice.publish("conv/team", payload);
    if (v() == 5) {
      auto a = alice.awaitAck(id);
      ASSERT_TRUE(a);
      EXPECT_EQ(a->reason, 0x99);
    } else {
      EXPECT_FALSE(alice.awaitAck(id, 3s));
      EXPECT_TRUE(alice.closed());
    }
    alice.abort();
  }
  EXPECT_EQ(adminHistory(broker.adminPort(), "team").size(), 1u);
}

ITEST_VERSIONS(ChatAccess);

}  // namespace
}  // namespace chattest
