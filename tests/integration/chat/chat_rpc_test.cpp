// rpc over MQTT: rpc/history pages backwards through a conversation, rpc/conversations lists the
// caller's conversations with head and this device's offset; bad requests and unknown methods
// get an RpcError. 5.0 replies come on the response topic with the correlation data, 3.1.1
// replies on rpc/reply/{client_id} (errors on .../error).
#include "chat_harness.hpp"

namespace chattest {
namespace {

class ChatRpc : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
};

TEST_P(ChatRpc, HistoryPagesBackwards) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  for (int i = 0; i < 30; ++i) {
    auto a = alice.send("team", "h-" + std::to_string(i), "message " + std::to_string(i));
    ASSERT_TRUE(a && a->reason == 0);
  }
  // Bob's clean session reads history (the way an app fills its screen).
  ChatDevice bob(broker.port(), v(), "bob-web", "bob", /*persistent=*/false);
  ASSERT_TRUE(bob.connect());
  prepareRpcReplies(bob);
  std::vector<ChatMsg> all;
  uint64_t before = 0;
  for (int page = 0; page < 10; ++page) {
    auto reply = bob.rpc("history", historyRequest("team", before, 12));
    ASSERT_TRUE(expectRpcOk(bob, reply));
    auto h = decodeHistory(reply->payload);
    ASSERT_TRUE(h.valid) << "not a HistoryResponse";
    EXPECT_EQ(h.head_seq, 31u);
    ASSERT_FALSE(h.messages.empty());
    EXPECT_LE(h.messages.size(), 12u);
    all.insert(all.begin(), h.messages.begin(), h.messages.end());
    if (!h.has_more) break;
    before = h.messages.front().seq;
  }
  EXPECT_EQ(checkSeqRun(all, 1, 31), "");
  if (all.size() == 31) {
    EXPECT_EQ(all[0].event, fb::SystemEvent::ConversationCreated);
    EXPECT_EQ(all[30].cmid, "h-29");
    EXPECT_EQ(all[30].body, "message 29");
    EXPECT_EQ(all[30].sender_device, "alice-phone");
  }
}

TEST_P(ChatRpc, ConversationsListsHeadAndDeviceOffset) {
  ChatBroker broker;
  ChatDevice bob(broker.port(), v(), "bob-phone", "bob");
  ASSERT_TRUE(bob.connect());
  createConversation(broker.adminPort(), "a-team", "group",
                     {{"alice", "owner"}, {"bob", "member"}});
  createConversation(broker.adminPort(), "b-team", "group", {{"alice", "owner"}, {"bob", "admin"}});
  createConversation(broker.adminPort(), "c-team", "group", {{"alice", "owner"}});
  ChatDevice alice(broker.port(), 5, "alice-phone", "alice");
  ASSERT_TRUE(alice.connect());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(alice.send("a-team", "x" + std::to_string(i), "x"));
  ASSERT_TRUE(bob.waitMessages("a-team", 5, 5s));
  ASSERT_TRUE(bob.waitMessages("b-team", 1, 5s));
  bob.poll(200ms);
  prepareRpcReplies(bob);

  // The offset is the highest contiguous seq this device acknowledged; it may be written
  // lazily, so poll until it shows.
  uint64_t a_offset = 0;
  std::vector<std::string> ids;
  itest::waitFor(
      [&] {
        auto reply = bob.rpc("conversations", conversationsRequest());
        if (!expectRpcOk(bob, reply)) return true;
        flatbuffers::Verifier ver(reinterpret_cast<const uint8_t*>(reply->payload.data()),
                                  reply->payload.size());
        if (!ver.VerifyBuffer<fb::ConversationsResponse>(nullptr)) {
          ADD_FAILURE() << "not a ConversationsResponse";
          return true;
        }
        const auto* r = flatbuffers::GetRoot<fb::ConversationsResponse>(reply->payload.data());
        ids.clear();
        if (r->conversations() == nullptr) return false;
        for (const auto* c : *r->conversations()) {
          ids.push_back(c->conv() ? c->conv()->str() : "");
          if (ids.back() == "a-team") {
            EXPECT_EQ(c->head_seq(), 5u);
            EXPECT_EQ(c->role(), fb::Role::Member);
            EXPECT_EQ(c->member_count(), 2u);
            a_offset = c->offset();
          } else if (ids.back() == "b-team") {
            EXPECT_EQ(c->role(), fb::Role::Admin);
          }
        }
        return a_offset == 5;
      },
      5s, 100ms);
  EXPECT_EQ(ids, (std::vector<std::string>{"a-team", "b-team"}));
  EXPECT_EQ(a_offset, 5u) << "bob-phone acknowledged seqs 1..5 of a-team";
}

TEST_P(ChatRpc, BadRequestAndUnknownMethodGetErrors) {
  ChatBroker broker;
  createConversation(broker.adminPort(), "team", "group", {{"alice", "owner"}, {"bob", "member"}});
  ChatDevice bob(broker.port(), v(), "bob-phone", "bob");
  ASSERT_TRUE(bob.connect());
  prepareRpcReplies(bob);
  expectRpcError(bob, bob.rpc("history", "\x01\x02 not a flatbuffer"),
                 fb::RpcErrorCode::BadRequest);
  expectRpcError(bob, bob.rpc("no-such-method", ""), fb::RpcErrorCode::NotFound);
  expectRpcError(bob, bob.rpc("history", historyRequest("nope", 0, 10)),
                 fb::RpcErrorCode::NotFound);
  EXPECT_FALSE(bob.closed());
  // Still answering normally afterwards.
  EXPECT_TRUE(expectRpcOk(bob, bob.rpc("history", historyRequest("team", 0, 10))));
}

ITEST_VERSIONS(ChatRpc);

}  // namespace
}  // namespace chattest
