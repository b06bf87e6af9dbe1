// The chat records of the RocksDB store against a real database in a temporary directory:
// round trips, key ordering (big-endian seqs, prefix isolation), dedup, log ranges in both
// directions, the user -> conversations index, offsets, the retention floor, reopen.
#include "chat_store.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store {
namespace {

using test::commitAndWait;
using test::openStore;
using test::TempDir;

ChatRecord record(std::string conv, uint64_t seq, std::string sender = "alice",
                  std::string cmid = "") {
  ChatRecord r;
  r.conv = std::move(conv);
  r.seq = seq;
  r.sender_user = std::move(sender);
  r.sender_device = r.sender_user + "-phone";
  r.server_time_ms = 1'700'000'000'000 + static_cast<int64_t>(seq);
  r.cmid = cmid.empty() ? "cmid-" + std::to_string(seq) : std::move(cmid);
  r.kind = 0;
  r.envelope = "envelope-" + std::to_string(seq) + std::string("\0\xff", 2);
  return r;
}

std::vector<uint64_t> seqs(const std::vector<ChatRecord>& records) {
  std::vector<uint64_t> out;
  for (const auto& r : records) out.push_back(r.seq);
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {  // [from, to]
  std::vector<uint64_t> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

class ChatStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = openStore(dir_.path());
    chat_ = store_->chat();
    ASSERT_NE(chat_, nullptr);
  }
  void commit(WriteSet ws) { ASSERT_TRUE(commitAndWait(*store_, std::move(ws)).ok); }
  template <class Op>
  void commitOne(Op op) {
    WriteSet ws;
    ws.add(std::move(op));
    commit(std::move(ws));
  }
  void appendRecords(const std::string& conv, uint64_t from, uint64_t to) {
    WriteSet ws;
    for (uint64_t s = from; s <= to; ++s) ws.add(WriteSet::PutChatRecord{record(conv, s)});
    commit(std::move(ws));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  ChatStore* chat_ = nullptr;
};

TEST_F(ChatStoreTest, ConversationRoundTrip) {
  Conversation c;
  c.id = "conv-1";
  c.kind = ConversationKind::Channel;
  c.created_ms = 1'700'000'000'123;
  c.title = "Announcements";
  c.retention_max_age_s = 86400;
  c.retention_max_count = 1000;
  c.member_cap = 100000;
  c.member_count = 3;
  commitOne(WriteSet::PutConversation{c});
  EXPECT_EQ(chat_->loadConversation("conv-1"), c);
  EXPECT_EQ(chat_->loadConversation("conv-2"), std::nullopt);
  EXPECT_EQ(chat_->loadConversation("conv-"), std::nullopt);

  Conversation bare;  // defaults only: comes back equal too
  bare.id = "b";
  commitOne(WriteSet::PutConversation{bare});
  EXPECT_EQ(chat_->loadConversation("b"), bare);
}

TEST_F(ChatStoreTest, ListConversationsPagesInIdOrder) {
  WriteSet ws;
  for (std::string id : {"b", "a", "ab", "c", "aa"}) {
    Conversation c;
    c.id = id;
    ws.add(WriteSet::PutConversation{c});
  }
  commit(std::move(ws));
  auto ids = [](const std::vector<Conversation>& cs) {
    std::vector<std::string> out;
    for (const auto& c : cs) out.push_back(c.id);
    return out;
  };
  EXPECT_EQ(ids(chat_->listConversations("", 100)),
            (std::vector<std::string>{"a", "aa", "ab", "b", "c"}));
  EXPECT_EQ(ids(chat_->listConversations("", 2)), (std::vector<std::string>{"a", "aa"}));
  EXPECT_EQ(ids(chat_->listConversations("aa", 2)), (std::vector<std::string>{"ab", "b"}));
  EXPECT_EQ(ids(chat_->listConversations("c", 2)), std::vector<std::string>{});
}

TEST_F(ChatStoreTest, MembersAndUserIndex) {
  WriteSet ws;
  ws.add(WriteSet::PutMember{Member{"g1", "alice", MemberRole::Owner, 1}});
  ws.add(WriteSet::PutMember{Member{"g1", "bob", MemberRole::Member, 2}});
  ws.add(WriteSet::PutMember{Member{"g1", "carol", MemberRole::ReadOnly, 3}});
  ws.add(WriteSet::PutMember{Member{"g10", "alice", MemberRole::Admin, 1}});  // prefix neighbour
  ws.add(WriteSet::PutMember{Member{"g2", "alice", MemberRole::Member, 1}});
  ws.add(WriteSet::PutMember{Member{"g2", "alicia", MemberRole::Member, 1}});
  commit(std::move(ws));

  EXPECT_EQ(chat_->loadMember("g1", "bob"), (Member{"g1", "bob", MemberRole::Member, 2}));
  EXPECT_EQ(chat_->loadMember("g1", "dave"), std::nullopt);
  EXPECT_EQ(chat_->loadMember("g", "alice"), std::nullopt);

  auto members = chat_->loadMembers("g1", "", 100);
  ASSERT_EQ(members.size(), 3u);  // not g10's
  EXPECT_EQ(members[0], (Member{"g1", "alice", MemberRole::Owner, 1}));
  EXPECT_EQ(members[2], (Member{"g1", "carol", MemberRole::ReadOnly, 3}));
  auto page = chat_->loadMembers("g1", "alice", 1);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].user, "bob");

  // alice's index: g1, g10, g2 in id order with her role in each; "alicia" is separate.
  EXPECT_EQ(
      chat_->loadUserConversations("alice", "", 100),
      (std::vector<UserConversation>{
          {"g1", MemberRole::Owner}, {"g10", MemberRole::Admin}, {"g2", MemberRole::Member}}));
  EXPECT_EQ(chat_->loadUserConversations("alice", "g1", 1),
            (std::vector<UserConversation>{{"g10", MemberRole::Admin}}));
  EXPECT_EQ(chat_->loadUserConversations("alicia", "", 100),
            (std::vector<UserConversation>{{"g2", MemberRole::Member}}));

  // A role change rewrites both; a removal deletes both.
  commitOne(WriteSet::PutMember{Member{"g1", "bob", MemberRole::Admin, 2}});
  EXPECT_EQ(chat_->loadMember("g1", "bob")->role, MemberRole::Admin);
  EXPECT_EQ(chat_->loadUserConversations("bob", "", 10),
            (std::vector<UserConversation>{{"g1", MemberRole::Admin}}));
  commitOne(WriteSet::DeleteMember{"g1", "bob"});
  EXPECT_EQ(chat_->loadMember("g1", "bob"), std::nullopt);
  EXPECT_TRUE(chat_->loadUserConversations("bob", "", 10).empty());
  EXPECT_EQ(chat_->loadMembers("g1", "", 100).size(), 2u);
}

TEST_F(ChatStoreTest, DirectIndexIsUnordered) {
  commitOne(WriteSet::PutDirectIndex{"zoe", "adam", "d-1"});
  EXPECT_EQ(chat_->findDirectConversation("adam", "zoe"), "d-1");
  EXPECT_EQ(chat_->findDirectConversation("zoe", "adam"), "d-1");
  EXPECT_EQ(chat_->findDirectConversation("zoe", "ada"), std::nullopt);
  EXPECT_EQ(chat_->findDirectConversation("adamzoe", ""), std::nullopt);
}

TEST_F(ChatStoreTest, LogRoundTripAndOrdering) {
  // 600 records cross byte boundaries of the big-endian seq (255 -> 256, 511 -> 512).
  appendRecords("c", 1, 300);
  appendRecords("c", 301, 600);
  appendRecords("c2", 1, 5);  // neighbour conversation, must not leak into "c"
  appendRecords("", 1, 2);    // even an empty id stays isolated

  auto all = chat_->loadChatLog("c", 0, 10000);
  EXPECT_EQ(seqs(all), range(1, 600));
  EXPECT_EQ(all[299], record("c", 300));
  EXPECT_EQ(seqs(chat_->loadChatLog("c", 250, 10)), range(250, 259));
  EXPECT_EQ(seqs(chat_->loadChatLog("c", 598, 10)), range(598, 600));
  EXPECT_TRUE(chat_->loadChatLog("c", 601, 10).empty());
  EXPECT_TRUE(chat_->loadChatLog("c", 1, 0).empty());
  EXPECT_EQ(seqs(chat_->loadChatLog("c2", 0, 100)), range(1, 5));

  // History pages: the newest `limit` below `before`, ascending.
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c", 0, 20)), range(581, 600));
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c", 257, 3)), range(254, 256));
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c", 5, 10)), range(1, 4));
  EXPECT_TRUE(chat_->loadChatLogBefore("c", 1, 10).empty());
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c", 10000, 2)), range(599, 600));
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c2", 0, 100)), range(1, 5));
  EXPECT_TRUE(chat_->loadChatLogBefore("nope", 0, 10).empty());
}

TEST_F(ChatStoreTest, HeadAndDedup) {
  EXPECT_EQ(chat_->loadChatHead("c"), 0u);
  WriteSet ws;
  ws.add(WriteSet::PutChatRecord{record("c", 1, "alice", "m-1")});
  ws.add(WriteSet::PutChatRecord{record("c", 2, "bob", "m-1")});  // same cmid, other sender
  ChatRecord system = record("c", 3, "", "");
  system.cmid.clear();  // system messages have no cmid and no dedup entry
  ws.add(WriteSet::PutChatRecord{system});
  commit(std::move(ws));

  EXPECT_EQ(chat_->loadChatHead("c"), 3u);
  EXPECT_EQ(chat_->loadChatHead("c2"), 0u);
  EXPECT_EQ(chat_->findChatDedup("c", "alice", "m-1"), 1u);
  EXPECT_EQ(chat_->findChatDedup("c", "bob", "m-1"), 2u);
  EXPECT_EQ(chat_->findChatDedup("c", "alice", "m-2"), std::nullopt);
  EXPECT_EQ(chat_->findChatDedup("c2", "alice", "m-1"), std::nullopt);
  // Length-prefixed sender: ("alic", "em-1") is not ("alice", "m-1").
  EXPECT_EQ(chat_->findChatDedup("c", "alic", "em-1"), std::nullopt);
  EXPECT_EQ(chat_->findChatDedup("c", "", ""), std::nullopt);
  EXPECT_EQ(chat_->loadChatLog("c", 3, 1)[0].cmid, "");
}

TEST_F(ChatStoreTest, OffsetsBelongToTheSession) {
  WriteSet ws;
  ws.add(WriteSet::PutSession{SessionRecord{"dev1", 3600, 5, 0}});
  ws.add(WriteSet::PutChatOffset{ChatOffset{"dev1", "a", 10}});
  ws.add(WriteSet::PutChatOffset{ChatOffset{"dev1", "b", 20}});
  ws.add(WriteSet::PutChatOffset{ChatOffset{"dev10", "a", 30}});
  ws.add(WriteSet::PutChatOffset{ChatOffset{"dev1", "a", 11}});  // later op wins
  commit(std::move(ws));
  EXPECT_EQ(chat_->loadChatOffsets("dev1"),
            (std::vector<ChatOffset>{{"dev1", "a", 11}, {"dev1", "b", 20}}));
  EXPECT_EQ(chat_->loadChatOffset("dev1", "b"), 20u);
  EXPECT_EQ(chat_->loadChatOffset("dev1", "c"), std::nullopt);

  commitOne(WriteSet::DeleteSession{"dev1"});
  EXPECT_TRUE(chat_->loadChatOffsets("dev1").empty());
  EXPECT_EQ(chat_->loadChatOffsets("dev10"), (std::vector<ChatOffset>{{"dev10", "a", 30}}));
}

TEST_F(ChatStoreTest, RetentionFloor) {
  appendRecords("c", 1, 100);
  appendRecords("d", 1, 10);
  EXPECT_EQ(chat_->loadChatFloor("c"), 1u);

  auto trim = [&](uint64_t floor) {
    std::promise<CommitResult> p;
    auto f = p.get_future();
    const uint64_t effective =
        chat_->trimChatLog("c", floor, [&p](const CommitResult& r) { p.set_value(r); });
    EXPECT_TRUE(f.get().ok);
    return effective;
  };
  EXPECT_EQ(trim(41), 41u);
  EXPECT_EQ(chat_->loadChatFloor("c"), 41u);
  EXPECT_EQ(seqs(chat_->loadChatLog("c", 0, 1000)), range(41, 100));
  EXPECT_EQ(seqs(chat_->loadChatLogBefore("c", 45, 10)), range(41, 44));
  EXPECT_EQ(chat_->findChatDedup("c", "alice", "cmid-40"), std::nullopt);
  EXPECT_EQ(chat_->findChatDedup("c", "alice", "cmid-41"), 41u);
  EXPECT_EQ(chat_->loadChatHead("c"), 100u);
  EXPECT_EQ(seqs(chat_->loadChatLog("d", 0, 100)), range(1, 10));  // untouched

  EXPECT_EQ(trim(30), 41u);  // never backwards
  EXPECT_EQ(chat_->loadChatFloor("c"), 41u);
  EXPECT_EQ(trim(1000), 101u);  // clamped to head + 1: everything goes, the head stays
  EXPECT_TRUE(chat_->loadChatLog("c", 0, 1000).empty());
  EXPECT_EQ(chat_->loadChatHead("c"), 100u);
  EXPECT_EQ(chat_->findChatDedup("c", "alice", "cmid-100"), std::nullopt);

  appendRecords("c", 101, 102);  // the log continues above the floor
  EXPECT_EQ(seqs(chat_->loadChatLog("c", 0, 1000)), range(101, 102));
}

TEST_F(ChatStoreTest, SurvivesReopen) {
  Conversation c;
  c.id = "g";
  c.title = "t";
  c.member_count = 1;
  WriteSet ws;
  ws.add(WriteSet::PutConversation{c});
  ws.add(WriteSet::PutMember{Member{"g", "alice", MemberRole::Owner, 1}});
  ws.add(WriteSet::PutDirectIndex{"a", "b", "d"});
  ws.add(WriteSet::PutChatOffset{ChatOffset{"dev", "g", 2}});
  commit(std::move(ws));
  appendRecords("g", 1, 50);
  {
    std::promise<CommitResult> p;
    chat_->trimChatLog("g", 11, [&p](const CommitResult& r) { p.set_value(r); });
    ASSERT_TRUE(p.get_future().get().ok);
  }
  store_.reset();
  store_ = openStore(dir_.path());
  chat_ = store_->chat();

  EXPECT_EQ(chat_->loadConversation("g"), c);
  EXPECT_EQ(chat_->loadMember("g", "alice"), (Member{"g", "alice", MemberRole::Owner, 1}));
  EXPECT_EQ(chat_->loadUserConversations("alice", "", 10).size(), 1u);
  EXPECT_EQ(chat_->findDirectConversation("b", "a"), "d");
  EXPECT_EQ(chat_->loadChatOffset("dev", "g"), 2u);
  EXPECT_EQ(chat_->loadChatHead("g"), 50u);
  EXPECT_EQ(chat_->loadChatFloor("g"), 11u);
  EXPECT_EQ(seqs(chat_->loadChatLog("g", 0, 100)), range(11, 50));
  EXPECT_EQ(chat_->loadChatLog("g", 50, 1)[0], record("g", 50));
  EXPECT_EQ(chat_->findChatDedup("g", "alice", "cmid-50"), 50u);
}

// Chat ops share the group commit with the broker's other writes: one WriteSet holding a
// message, a queue entry and a chat record is applied atomically by one write.
TEST_F(ChatStoreTest, ChatOpsShareTheGroupCommit) {
  WriteSet ws;
  ws.add(WriteSet::PutMessage{test::makeMessage("plain/topic", "p")});
  ws.add(WriteSet::PutChatRecord{record("c", 1)});
  const auto before = store_->stats().batches;
  auto r = commitAndWait(*store_, std::move(ws));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(store_->stats().batches, before + 1);
  EXPECT_TRUE(store_->loadMessage(r.message_id).has_value());
  EXPECT_EQ(chat_->loadChatHead("c"), 1u);
}

// What a chat send costs in keys, whatever the conversation's size: the log record, its dedup
// entry and the head (a system record has no cmid, so no dedup entry). The integration test of
// a 10,000-member channel relies on this constant via Store::Stats::records_written.
TEST_F(ChatStoreTest, RecordsWrittenPerChatOp) {
  auto before = store_->stats().records_written;
  commitOne(WriteSet::PutChatRecord{record("c", 1, "alice", "m-1")});
  EXPECT_EQ(store_->stats().records_written - before, 3u);
  before = store_->stats().records_written;
  commitOne(WriteSet::PutChatRecord{record("c", 2, "", "")});
  EXPECT_EQ(store_->stats().records_written - before, 3u) << "record() fills a default cmid";
  ChatRecord system = record("c", 3, "", "");
  system.cmid.clear();
  before = store_->stats().records_written;
  commitOne(WriteSet::PutChatRecord{system});
  EXPECT_EQ(store_->stats().records_written - before, 2u);
  // A member is its M key and the user -> conversation index entry.
  before = store_->stats().records_written;
  commitOne(WriteSet::PutMember{Member{"c", "bob", MemberRole::Member, 0}});
  EXPECT_EQ(store_->stats().records_written - before, 2u);
  before = store_->stats().records_written;
  commitOne(WriteSet::PutChatOffset{ChatOffset{"bob-phone", "c", 3}});
  EXPECT_EQ(store_->stats().records_written - before, 1u);
}

}  // namespace
}  // namespace parley::store
