// rpc/history and rpc/conversations over a real store: paging, membership, limits, errors.
#include "chat_rpc.hpp"

#include <gtest/gtest.h>

#include <future>

#include "chat_generated.h"
#include "conversation_directory.hpp"
#include "store_test_util.hpp"

namespace parley::chat {
namespace {

std::string historyRequest(const std::string& conv, uint64_t before, uint32_t limit) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateHistoryRequest(b, b.CreateString(conv), before, limit));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

class ChatRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::test::openStore(dir_.path(), store::Durability::None);
    directory_ = std::make_unique<ConversationDirectory>(*store_);
    rpc_ = std::make_unique<ChatRpc>(*store_->chat());
    CreateRequest r;
    r.id = "g";
    r.members = {{"alice", MemberRole::Owner}, {"reader", MemberRole::ReadOnly}};
    ASSERT_TRUE(directory_->create(r).ok());
    for (int i = 0; i < 150; ++i) {  // seqs 2..151
      SendRequest s;
      s.conv = "g";
      s.sender_user = "alice";
      s.sender_device = "phone";
      s.content.cmid = "m" + std::to_string(i);
      s.content.body = "body " + std::to_string(i);
      std::promise<void> p;
      directory_->send(std::move(s), {}, [&p](SendResult) { p.set_value(); });
      p.get_future().wait();
    }
  }

  store::test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ConversationDirectory> directory_;
  std::unique_ptr<ChatRpc> rpc_;
};

TEST_F(ChatRpcTest, HistoryPages) {
  auto reply = rpc_->history("reader", historyRequest("g", 0, 20));  // read-only may read
  ASSERT_TRUE(reply.ok);
  auto* h = flatbuffers::GetRoot<fb::HistoryResponse>(reply.payload.data());
  EXPECT_EQ(h->head_seq(), 151u);
  EXPECT_EQ(h->floor_seq(), 1u);
  EXPECT_TRUE(h->has_more());
  ASSERT_EQ(h->messages()->size(), 20u);
  auto first = h->messages()->Get(0)->bytes_nested_root();
  EXPECT_EQ(first->seq(), 132u);  // ascending, newest page
  EXPECT_EQ(h->messages()->Get(19)->bytes_nested_root()->seq(), 151u);

  // The limit is clamped to 100; the last page says no more.
  reply = rpc_->history("alice", historyRequest("g", 132, 1000));
  h = flatbuffers::GetRoot<fb::HistoryResponse>(reply.payload.data());
  EXPECT_EQ(h->messages()->size(), 100u);
  reply = rpc_->history("alice", historyRequest("g", 32, 100));
  h = flatbuffers::GetRoot<fb::HistoryResponse>(reply.payload.data());
  EXPECT_EQ(h->messages()->size(), 31u);
  EXPECT_EQ(h->messages()->Get(0)->bytes_nested_root()->kind(), fb::Kind::System);
  EXPECT_FALSE(h->has_more());
}

TEST_F(ChatRpcTest, HistoryErrors) {
  auto code = [](const RpcReply& r) {
    EXPECT_FALSE(r.ok);
    return flatbuffers::GetRoot<fb::RpcError>(r.payload.data())->code();
  };
  EXPECT_EQ(code(rpc_->history("mallory", historyRequest("g", 0, 10))),
            fb::RpcErrorCode::NotMember);
  EXPECT_EQ(code(rpc_->history("alice", historyRequest("nope", 0, 10))),
            fb::RpcErrorCode::NotFound);
  EXPECT_EQ(code(rpc_->history("alice", "garbage")), fb::RpcErrorCode::BadRequest);
  EXPECT_EQ(code(rpc_->history("alice", "")), fb::RpcErrorCode::BadRequest);
}

TEST_F(ChatRpcTest, ConversationsWithHeadAndOffset) {
  CreateRequest r;
  r.id = "h";
  r.members = {{"alice", MemberRole::Admin}, {"bob", MemberRole::Owner}};
  r.title = "Second";
  ASSERT_TRUE(directory_->create(r).ok());
  store::WriteSet ws;
  ws.add(store::WriteSet::PutChatOffset{store::ChatOffset{"phone", "g", 140}});
  store::test::commitAndWait(*store_, std::move(ws));

  auto reply = rpc_->conversations("alice", "phone", "");
  ASSERT_TRUE(reply.ok);
  auto* c = flatbuffers::GetRoot<fb::ConversationsResponse>(reply.payload.data());
  ASSERT_EQ(c->conversations()->size(), 2u);
  auto g = c->conversations()->Get(0);
  EXPECT_EQ(g->conv()->str(), "g");
  EXPECT_EQ(g->head_seq(), 151u);
  EXPECT_EQ(g->offset(), 140u);
  EXPECT_EQ(g->role(), fb::Role::Owner);
  EXPECT_EQ(g->member_count(), 2u);
  auto h = c->conversations()->Get(1);
  EXPECT_EQ(h->title()->str(), "Second");
  EXPECT_EQ(h->role(), fb::Role::Admin);
  EXPECT_EQ(h->offset(), 0u);
  EXPECT_EQ(c->next_after(), nullptr);

  flatbuffers::FlatBufferBuilder b;  // paging: one per page
  b.Finish(fb::CreateConversationsRequest(b, 0, 1));
  reply = rpc_->conversations(
      "alice", "phone",
      std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  c = flatbuffers::GetRoot<fb::ConversationsResponse>(reply.payload.data());
  ASSERT_EQ(c->conversations()->size(), 1u);
  EXPECT_EQ(c->next_after()->str(), "g");

  EXPECT_EQ(flatbuffers::GetRoot<fb::ConversationsResponse>(
                rpc_->conversations("nobody", "x", "").payload.data())
                ->conversations()
                ->size(),
            0u);
}

}  // namespace
}  // namespace parley::chat
