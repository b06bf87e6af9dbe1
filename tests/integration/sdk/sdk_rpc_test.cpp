// history() and conversations() over rpc/ (MQTT 5 response topic rpc/reply/{device} +
// correlation data): pages, heads, kinds, roles and unread counts as the broker keeps them;
// concurrent requests are matched to their own replies.
#include "chat_harness.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

using chattest::ChatBroker;

TEST(SdkRpc, HistoryAndConversations) {
  ChatBroker broker;
  chattest::createConversation(broker.adminPort(), "team", "group",
                               {{"alice", "owner"}, {"bob", "member"}});
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  SdkDevice alice(broker.port(), "alice-phone", "alice");
  alice.connect();
  std::vector<std::future<sdk::Result<sdk::SendReceipt>>> fs;
  for (int i = 0; i < 30; ++i) fs.push_back(alice->send("team", "message " + std::to_string(i)));
  fs.push_back(alice->send("ab", "psst"));
  for (auto& f : fs) ASSERT_TRUE(await(std::move(f)).ok());

  // Bob's new device fills its screen from history, page by page, newest first.
  SdkDevice bob(broker.port(), "bob-tablet", "bob");
  bob.connect();
  std::vector<sdk::Message> all;
  uint64_t before = 0;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto r = await(bob->history("team", before, 12));
    ASSERT_TRUE(r.ok()) << r.error().message;
    const auto& p = r.value();
    EXPECT_EQ(p.conv, "team");
    EXPECT_EQ(p.head_seq, 31u);
    EXPECT_EQ(p.floor_seq, 1u);
    ASSERT_FALSE(p.messages.empty());
    EXPECT_LE(p.messages.size(), 12u);
    all.insert(all.begin(), p.messages.begin(), p.messages.end());
    if (!p.has_more) break;
    before = p.messages.front().seq;
  }
  EXPECT_EQ(pages, 2);  // 12 + 12 + 7
  EXPECT_EQ(checkSeqRun(all, 1, 31), "");
  ASSERT_EQ(all.size(), 31u);
  ASSERT_TRUE(all[0].system.has_value());
  EXPECT_EQ(all[0].system->event, sdk::SystemEvent::ConversationCreated);
  EXPECT_EQ(all[30].body, "message 29");
  EXPECT_EQ(all[30].sender_user, "alice");
  EXPECT_EQ(all[30].sender_device, "alice-phone");

  // Requests in flight together each get their own answer.
  auto h1 = bob->history("team", 11, 5);
  auto h2 = bob->history("ab", 0, 50);
  auto c1 = bob->conversations();
  auto r1 = await(std::move(h1));
  auto r2 = await(std::move(h2));
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_EQ(r1.value().messages.size(), 5u);
  EXPECT_EQ(r1.value().messages.front().seq, 6u);
  EXPECT_EQ(r1.value().messages.back().seq, 10u);
  ASSERT_EQ(r2.value().messages.size(), 2u);
  EXPECT_EQ(r2.value().messages.back().body, "psst");

  auto cr = await(std::move(c1));
  ASSERT_TRUE(cr.ok()) << cr.error().message;
  const auto& list = cr.value().conversations;
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(cr.value().next_after, "");
  EXPECT_EQ(list[0].conv, "ab");  // ordered by id
  EXPECT_EQ(list[0].kind, sdk::ConversationKind::Direct);
  EXPECT_EQ(list[0].head_seq, 2u);
  EXPECT_EQ(list[0].unread, 1u);
  EXPECT_EQ(list[1].conv, "team");
  EXPECT_EQ(list[1].kind, sdk::ConversationKind::Group);
  EXPECT_EQ(list[1].role, sdk::Role::Member);
  EXPECT_EQ(list[1].head_seq, 31u);
  EXPECT_EQ(list[1].member_count, 2u);
  EXPECT_EQ(list[1].unread, 30u);

  // Reading moves the unread count; paging with limit 1 walks the list.
  ASSERT_TRUE(await(bob->markRead("team", 31)).ok());
  auto p1 = await(bob->conversations("", 1));
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1.value().conversations.size(), 1u);
  EXPECT_EQ(p1.value().next_after, "ab");
  auto p2 = await(bob->conversations(p1.value().next_after, 1));
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2.value().conversations.size(), 1u);
  EXPECT_EQ(p2.value().conversations[0].conv, "team");
  EXPECT_EQ(p2.value().conversations[0].read_seq, 31u);
  EXPECT_EQ(p2.value().conversations[0].unread, 0u);

  // A conversation that does not exist.
  auto missing = await(bob->history("nope", 0, 10));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().code == sdk::ErrorCode::NotFound ||
              missing.error().code == sdk::ErrorCode::NotAuthorized)
      << sdk::errorCodeName(missing.error().code);
}

}  // namespace
}  // namespace sdktest
