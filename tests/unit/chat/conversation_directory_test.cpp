// ConversationDirectory against a real RocksDB store in a temp directory: kind rules, roles and
// who may do what, system messages in the log, and the send path — dedup, refusals, gapless
// seqs under concurrent senders.
#include "conversation_directory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "store_test_util.hpp"

namespace parley::chat {
namespace {

using store::ConversationKind;
using store::MemberRole;

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::test::openStore(dir_.path(), store::Durability::None);
    DirectoryOptions o;
    o.group_member_cap = 10;
    o.wall_clock_ms = [this] { return clock_ms_.load(); };
    dir_api_ = std::make_unique<ConversationDirectory>(*store_, o);
  }
  ConversationDirectory& d() { return *dir_api_; }
  store::ChatStore& chat() { return *store_->chat(); }

  std::string group(std::vector<NewMember> members, std::string id = "") {
    CreateRequest r;
    r.id = std::move(id);
    r.kind = ConversationKind::Group;
    r.members = std::move(members);
    auto c = d().create(r);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? c->conversation.id : "";
  }

  SendResult send(const std::string& conv, const std::string& user, const std::string& cmid,
                  std::string body = "hello") {
    SendRequest r;
    r.conv = conv;
    r.sender_user = user;
    r.sender_device = user + "-phone";
    r.content.cmid = cmid;
    r.content.body = std::move(body);
    std::promise<SendResult> p;
    auto f = p.get_future();
    d().send(std::move(r), {}, [&p](SendResult res) { p.set_value(std::move(res)); });
    return f.get();
  }

  std::vector<Delivered> log(const std::string& conv) {
    std::vector<Delivered> out;
    for (const auto& r : chat().loadChatLog(conv, 0, 100000)) {
      auto m = decodeChatMessage(r.envelope);
      EXPECT_TRUE(m.ok());
      EXPECT_EQ(m->seq, r.seq);
      out.push_back(*m);
    }
    return out;
  }

  store::test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::atomic<int64_t> clock_ms_{1'700'000'000'000};
  std::unique_ptr<ConversationDirectory> dir_api_;
};

// --- create ----------------------------------------------------------------------------------

TEST_F(DirectoryTest, CreateGroupWritesMembersIndexAndCreatedMessage) {
  const auto id = group({{"alice", MemberRole::Owner}, {"bob", MemberRole::Member}}, "team");
  ASSERT_EQ(id, "team");
  auto c = d().get("team");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->member_count, 2u);
  EXPECT_EQ(c->member_cap, 10u);
  EXPECT_EQ(chat().loadMember("team", "bob")->role, MemberRole::Member);
  EXPECT_EQ(chat().loadMember("team", "bob")->joined_seq, 1u);
  EXPECT_EQ(chat().loadUserConversations("alice", "", 10).size(), 1u);
  auto l = log("team");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].seq, 1u);
  EXPECT_EQ(l[0].content.kind, Kind::System);
  EXPECT_EQ(l[0].system->event, SystemEvent::ConversationCreated);

  CreateRequest again;
  again.id = "team";
  again.members = {{"carol", MemberRole::Owner}};
  EXPECT_EQ(d().create(again).error().status, ChatStatus::Conflict);
}

TEST_F(DirectoryTest, CreateGeneratesIds) {
  const auto a = group({{"alice", MemberRole::Owner}});
  const auto b = group({{"alice", MemberRole::Owner}});
  EXPECT_NE(a, b);
  EXPECT_TRUE(validConversationId(a));
}

TEST_F(DirectoryTest, CreateRules) {
  CreateRequest r;
  r.kind = ConversationKind::Group;
  r.members = {{"alice", MemberRole::Member}};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);  // no owner
  r.members = {{"alice", MemberRole::Owner}, {"alice", MemberRole::Member}};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);  // listed twice
  r.members = {{"a/b", MemberRole::Owner}};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);  // bad user id
  r.members = {};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);
  r.members = {{"alice", MemberRole::Owner}};
  r.id = "bad/id";
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);
  r.id = "";
  r.member_cap = 11;  // above the configured group maximum (10)
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);
  r.member_cap = 0;
  for (int i = 0; i < 10; ++i) r.members.push_back({"u" + std::to_string(i), MemberRole::Member});
  EXPECT_EQ(d().create(r).error().status, ChatStatus::Conflict);  // 11 > cap 10

  CreateRequest ch;  // channels default to unlimited
  ch.kind = ConversationKind::Channel;
  ch.members = {{"owner", MemberRole::Owner}};
  for (int i = 0; i < 50; ++i)
    ch.members.push_back({"s" + std::to_string(i), MemberRole::ReadOnly});
  auto c = d().create(ch);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->conversation.member_count, 51u);
  EXPECT_EQ(c->conversation.member_cap, 0u);
}

TEST_F(DirectoryTest, DirectIsUniquePerPair) {
  CreateRequest r;
  r.kind = ConversationKind::Direct;
  r.members = {{"bob", MemberRole::Owner}, {"alice", MemberRole::Member}};
  auto first = d().create(r);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->conversation.member_count, 2u);
  EXPECT_EQ(chat().loadMember(first->conversation.id, "bob")->role, MemberRole::Member);

  r.members = {{"alice", MemberRole::Member}, {"bob", MemberRole::Member}};  // reversed
  auto second = d().create(r);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->conversation.id, first->conversation.id);
  EXPECT_EQ(log(first->conversation.id).size(), 1u);  // nothing new was written

  r.members = {{"alice", MemberRole::Member}};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);
  r.members = {{"alice", MemberRole::Member}, {"alice", MemberRole::Member}};
  EXPECT_EQ(d().create(r).error().status, ChatStatus::BadRequest);
  // Members of a direct conversation are fixed.
  EXPECT_EQ(d().addMember(first->conversation.id, std::nullopt, "carol", MemberRole::Member)
                .error()
                .status,
            ChatStatus::Conflict);
  EXPECT_EQ(d().removeMember(first->conversation.id, std::nullopt, "bob").error().status,
            ChatStatus::Conflict);
}

// --- membership ------------------------------------------------------------------------------

TEST_F(DirectoryTest, MembershipChangesAreSystemMessagesInTheSameSeqSpace) {
  const auto g = group({{"alice", MemberRole::Owner}});
  EXPECT_EQ(send(g, "alice", "m1").seq, 2u);
  auto added = d().addMember(g, std::string("alice"), "bob", MemberRole::Member);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 3u);
  EXPECT_EQ(chat().loadMember(g, "bob")->joined_seq, 3u);
  EXPECT_EQ(send(g, "bob", "m1").seq, 4u);  // same cmid, other sender: not a duplicate
  auto changed = d().changeRole(g, std::nullopt, "bob", MemberRole::Admin);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 5u);
  EXPECT_EQ(*d().changeRole(g, std::nullopt, "bob", MemberRole::Admin), 0u);  // no change
  auto removed = d().removeMember(g, std::string("bob"), "bob");              // bob leaves
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 6u);
  EXPECT_EQ(d().get(g)->member_count, 1u);
  EXPECT_TRUE(chat().loadUserConversations("bob", "", 10).empty());

  auto l = log(g);
  ASSERT_EQ(l.size(), 6u);
  for (size_t i = 0; i < l.size(); ++i) EXPECT_EQ(l[i].seq, i + 1);
  EXPECT_EQ(l[2].system->event, SystemEvent::MemberAdded);
  EXPECT_EQ(l[2].system->actor, "alice");
  EXPECT_EQ(l[2].system->subject, "bob");
  EXPECT_EQ(l[4].system->event, SystemEvent::RoleChanged);
  EXPECT_EQ(l[4].system->role, static_cast<uint8_t>(MemberRole::Admin));
  EXPECT_EQ(l[4].system->old_role, static_cast<uint8_t>(MemberRole::Member));
  EXPECT_EQ(l[4].system->actor, "");
  EXPECT_EQ(l[5].system->event, SystemEvent::MemberRemoved);
  EXPECT_EQ(l[5].system->actor, "bob");
  EXPECT_EQ(l[3].sender_user, "bob");
  EXPECT_EQ(l[3].sender_device, "bob-phone");
}

TEST_F(DirectoryTest, WhoMayDoWhat) {
  const auto g = group({{"owner", MemberRole::Owner},
                        {"admin", MemberRole::Admin},
                        {"m", MemberRole::Member},
                        {"ro", MemberRole::ReadOnly}});
  const Actor owner = std::string("owner"), admin = std::string("admin"), m = std::string("m");
  // Members cannot manage; non-members are not members.
  EXPECT_EQ(d().addMember(g, m, "x", MemberRole::Member).error().status, ChatStatus::Forbidden);
  EXPECT_EQ(d().addMember(g, std::string("stranger"), "x", MemberRole::Member).error().status,
            ChatStatus::NotMember);
  // Admins manage members and read-only members, nothing above.
  EXPECT_TRUE(d().addMember(g, admin, "x", MemberRole::Member).ok());
  EXPECT_EQ(d().addMember(g, admin, "y", MemberRole::Admin).error().status, ChatStatus::Forbidden);
  EXPECT_TRUE(d().changeRole(g, admin, "x", MemberRole::ReadOnly).ok());
  EXPECT_EQ(d().changeRole(g, admin, "x", MemberRole::Admin).error().status, ChatStatus::Forbidden);
  EXPECT_EQ(d().removeMember(g, admin, "owner").error().status, ChatStatus::Forbidden);
  EXPECT_TRUE(d().removeMember(g, admin, "x").ok());
  // Owners do anything the invariants allow.
  EXPECT_TRUE(d().addMember(g, owner, "y", MemberRole::Admin).ok());
  EXPECT_TRUE(d().removeMember(g, owner, "admin").ok());
  EXPECT_EQ(d().addMember(g, owner, "y", MemberRole::Member).error().status,
            ChatStatus::Conflict);  // already a member
  EXPECT_EQ(d().removeMember(g, owner, "nobody").error().status, ChatStatus::NotFound);
  // The last owner can neither leave nor step down, even through the backend.
  EXPECT_EQ(d().removeMember(g, owner, "owner").error().status, ChatStatus::Conflict);
  EXPECT_EQ(d().removeMember(g, std::nullopt, "owner").error().status, ChatStatus::Conflict);
  EXPECT_EQ(d().changeRole(g, owner, "owner", MemberRole::Member).error().status,
            ChatStatus::Conflict);
  EXPECT_TRUE(d().changeRole(g, owner, "y", MemberRole::Owner).ok());
  EXPECT_TRUE(d().removeMember(g, owner, "owner").ok());  // another owner exists now
  EXPECT_EQ(d().addMember("nope", std::nullopt, "z", MemberRole::Member).error().status,
            ChatStatus::NotFound);
}

TEST_F(DirectoryTest, MemberCap) {
  CreateRequest r;
  r.members = {{"o", MemberRole::Owner}};
  r.member_cap = 2;
  auto c = d().create(r);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(d().addMember(c->conversation.id, std::nullopt, "a", MemberRole::Member).ok());
  EXPECT_EQ(d().addMember(c->conversation.id, std::nullopt, "b", MemberRole::Member).error().status,
            ChatStatus::Conflict);
  EXPECT_TRUE(d().removeMember(c->conversation.id, std::nullopt, "a").ok());
  EXPECT_TRUE(d().addMember(c->conversation.id, std::nullopt, "b", MemberRole::Member).ok());
}

// --- send ------------------------------------------------------------------------------------

TEST_F(DirectoryTest, SendAssignsSeqAndDeduplicates) {
  const auto g = group({{"alice", MemberRole::Owner}, {"bob", MemberRole::Member}});
  auto first = send(g, "alice", "cm-1", "one");
  ASSERT_EQ(first.status, ChatStatus::Ok);
  EXPECT_EQ(first.seq, 2u);
  EXPECT_FALSE(first.duplicate);
  ASSERT_NE(first.message, nullptr);
  auto delivered = decodeChatMessage(*first.message);
  ASSERT_TRUE(delivered.ok());
  EXPECT_EQ(delivered->content.body, "one");
  EXPECT_EQ(delivered->conv, g);
  EXPECT_EQ(delivered->server_time_ms, clock_ms_.load());

  auto retry = send(g, "alice", "cm-1", "one (retried)");
  EXPECT_EQ(retry.status, ChatStatus::Ok);
  EXPECT_EQ(retry.seq, 2u);  // the ORIGINAL seq
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.message, nullptr);
  EXPECT_EQ(chat().loadChatHead(g), 2u);  // nothing stored
  EXPECT_EQ(log(g)[1].content.body, "one");

  EXPECT_EQ(send(g, "alice", "cm-2").seq, 3u);
  EXPECT_EQ(send(g, "bob", "cm-1").seq, 4u);
}

TEST_F(DirectoryTest, SendRefusals) {
  const auto g = group({{"alice", MemberRole::Owner}});
  EXPECT_EQ(send(g, "mallory", "x").status, ChatStatus::NotMember);
  EXPECT_EQ(send("nope", "alice", "x").status, ChatStatus::NotFound);
  EXPECT_EQ(send("bad/conv", "alice", "x").status, ChatStatus::NotFound);
  EXPECT_EQ(send(g, "alice", "").status, ChatStatus::BadRequest);

  CreateRequest ch;
  ch.id = "news";
  ch.kind = ConversationKind::Channel;
  ch.members = {{"editor", MemberRole::Owner}, {"reader", MemberRole::ReadOnly}};
  ASSERT_TRUE(d().create(ch).ok());
  EXPECT_EQ(send("news", "reader", "x").status, ChatStatus::Forbidden);
  EXPECT_EQ(send("news", "editor", "x").status, ChatStatus::Ok);
  EXPECT_EQ(chat().loadChatHead("news"), 2u);
  EXPECT_EQ(chat().loadChatHead(g), 1u);  // the refusals wrote nothing
}

TEST_F(DirectoryTest, ExtraOpsCommitAtomicallyWithTheMessage) {
  const auto g = group({{"alice", MemberRole::Owner}});
  store::WriteSet extra;
  extra.add(store::WriteSet::PutChatOffset{store::ChatOffset{"alice-phone", g, 1}});
  SendRequest r;
  r.conv = g;
  r.sender_user = "alice";
  r.sender_device = "alice-phone";
  r.content.cmid = "c";
  std::promise<SendResult> p;
  d().send(std::move(r), std::move(extra), [&p](SendResult res) { p.set_value(res); });
  EXPECT_EQ(p.get_future().get().seq, 2u);
  EXPECT_EQ(chat().loadChatOffset("alice-phone", g), 1u);
}

TEST_F(DirectoryTest, ConcurrentSendersGetGaplessSeqs) {
  std::vector<NewMember> members = {{"u0", MemberRole::Owner}};
  constexpr int kThreads = 4, kPerThread = 400;
  for (int t = 1; t < kThreads; ++t) members.push_back({"u" + std::to_string(t)});
  const auto g = group(members);

  std::mutex mu;
  std::vector<uint64_t> seqs;
  std::atomic<int> failures{0}, outstanding{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        SendRequest r;
        r.conv = g;
        r.sender_user = "u" + std::to_string(t);
        r.sender_device = "d";
        // Every 10th message is sent twice back to back (a retry racing its original).
        const int n = i % 10 == 0 && i > 0 ? i - 1 : i;
        r.content.cmid = "c" + std::to_string(n);
        ++outstanding;
        d().send(std::move(r), {}, [&](SendResult res) {
          if (res.status != ChatStatus::Ok) ++failures;
          if (!res.duplicate) {
            std::lock_guard lk(mu);
            seqs.push_back(res.seq);
          }
          --outstanding;
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  store_->flush();
  while (outstanding.load() > 0) std::this_thread::yield();
  EXPECT_EQ(failures.load(), 0);

  std::sort(seqs.begin(), seqs.end());
  const size_t unique_per_thread = kPerThread - (kPerThread - 1) / 10;
  ASSERT_EQ(seqs.size(), kThreads * unique_per_thread);
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 2) << "gap or duplicate";
  auto l = chat().loadChatLog(g, 0, 100000);
  ASSERT_EQ(l.size(), seqs.size() + 1);
  for (size_t i = 0; i < l.size(); ++i) ASSERT_EQ(l[i].seq, i + 1);
  // Server times never go backwards along the log.
  for (size_t i = 1; i < l.size(); ++i) ASSERT_LE(l[i - 1].server_time_ms, l[i].server_time_ms);
}

TEST_F(DirectoryTest, SeqsContinueAfterRestart) {
  const auto g = group({{"alice", MemberRole::Owner}});
  EXPECT_EQ(send(g, "alice", "a").seq, 2u);
  dir_api_.reset();
  store_.reset();
  store_ = store::test::openStore(dir_.path(), store::Durability::None);
  dir_api_ = std::make_unique<ConversationDirectory>(*store_);
  EXPECT_EQ(send(g, "alice", "a").seq, 2u);  // still deduplicated
  EXPECT_TRUE(send(g, "alice", "a").duplicate);
  EXPECT_EQ(send(g, "alice", "b").seq, 3u);
}

// --- retention -------------------------------------------------------------------------------

TEST_F(DirectoryTest, RetentionByCountAndAge) {
  CreateRequest r;
  r.id = "counted";
  r.members = {{"a", MemberRole::Owner}};
  r.retention_max_count = 5;
  ASSERT_TRUE(d().create(r).ok());
  for (int i = 0; i < 9; ++i) send("counted", "a", "m" + std::to_string(i));  // head 10
  auto floor = d().applyRetention("counted");
  ASSERT_TRUE(floor.ok());
  EXPECT_EQ(*floor, 6u);
  EXPECT_EQ(chat().loadChatLog("counted", 0, 100).front().seq, 6u);
  EXPECT_EQ(*d().applyRetention("counted"), 6u);  // idempotent

  r.id = "aged";
  r.retention_max_count = 0;
  r.retention_max_age_s = 60;
  ASSERT_TRUE(d().create(r).ok());  // seq 1 at t0
  send("aged", "a", "old");         // seq 2 at t0
  clock_ms_ += 30'000;
  send("aged", "a", "newer");  // seq 3 at t0 + 30 s
  clock_ms_ += 40'000;         // now t0 + 70 s: seqs 1, 2 are older than 60 s
  EXPECT_EQ(*d().applyRetention("aged"), 3u);
  EXPECT_EQ(chat().loadChatLog("aged", 0, 100).size(), 1u);

  const auto forever = group({{"a", MemberRole::Owner}});  // no policy: keep forever
  send(forever, "a", "x");
  clock_ms_ += 10'000'000;
  EXPECT_EQ(d().applyRetentionAll(), 1u);  // only "aged" moves again
  EXPECT_EQ(chat().loadChatFloor(forever), 1u);
}

}  // namespace
}  // namespace parley::chat
