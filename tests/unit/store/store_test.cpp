// The RocksDB store against a real database in a temporary directory: record round trips, key
// layout properties (ordering, prefix isolation), message ids, durability modes, group commit.
#include "store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store_test_util.hpp"

namespace parley::store {
namespace {

using test::commitAndWait;
using test::makeMessage;
using test::openStore;
using test::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

QueueEntry entry(std::string client, uint64_t msg_id) {
  QueueEntry e;
  e.client_id = std::move(client);
  e.msg_id = msg_id;
  return e;
}

std::vector<uint64_t> ids(const std::vector<QueueEntry>& entries) {
  std::vector<uint64_t> out;
  for (const auto& e : entries) out.push_back(e.msg_id);
  return out;
}

// --- round trips --------------------------------------------------------------------------

TEST_F(StoreTest, MessageRoundTrip) {
  auto store = openStore(dir_.path());
  Message m;
  m.topic = "conv/42";
  m.payload = std::string("bin\0ary\xff\x01", 9);
  m.qos = 2;
  m.retain = true;
  m.properties = std::string("\x01\x01\x23\0", 4);
  m.expires_at_ms = 1'700'000'000'123;
  WriteSet ws;
  ws.add(WriteSet::PutMessage{m});
  auto r = commitAndWait(*store, std::move(ws));
  ASSERT_TRUE(r.ok);
  ASSERT_NE(r.message_id, 0u);
  m.id = r.message_id;
  EXPECT_EQ(store->loadMessage(r.message_id), m);
  EXPECT_EQ(store->loadMessage(r.message_id + 1), std::nullopt);

  // An empty message (no payload, no properties, zero fields) comes back empty too.
  Message empty;
  empty.topic = "t";
  WriteSet ws2;
  ws2.add(WriteSet::PutMessage{empty});
  auto r2 = commitAndWait(*store, std::move(ws2));
  empty.id = r2.message_id;
  EXPECT_EQ(store->loadMessage(r2.message_id), empty);
}

TEST_F(StoreTest, MessageWithExplicitIdKeepsIt) {
  auto store = openStore(dir_.path());
  WriteSet ws;
  ws.add(WriteSet::PutMessage{makeMessage("t", "p", 77)});
  auto r = commitAndWait(*store, std::move(ws));
  EXPECT_EQ(r.message_id, 0u);  // no new message in the set
  ASSERT_TRUE(store->loadMessage(77).has_value());
  EXPECT_EQ(store->loadMessage(77)->payload, "p");
}

TEST_F(StoreTest, SessionRoundTrip) {
  auto store = openStore(dir_.path());
  std::vector<SessionRecord> sessions = {
      {"dev-1", 0xFFFFFFFF, 5, 0},
      {"dev-2", 3600, 4, 1'700'000'000'000},
      {"dev-3", 0, 3, -5},
      {std::string("with\0nul", 8), 1, 0, 1},
  };
  WriteSet ws;
  for (const auto& s : sessions) ws.add(WriteSet::PutSession{s});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  auto loaded = store->loadSessions();
  std::sort(sessions.begin(), sessions.end(),
            [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  std::sort(loaded.begin(), loaded.end(),
            [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
  EXPECT_EQ(loaded, sessions);

  // Overwrite: one record per client.
  WriteSet ws2;
  ws2.add(WriteSet::PutSession{{"dev-1", 10, 5, 99}});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws2)).ok);
  loaded = store->loadSessions();
  ASSERT_EQ(loaded.size(), sessions.size());
  auto it = std::find_if(loaded.begin(), loaded.end(),
                         [](const auto& s) { return s.client_id == "dev-1"; });
  ASSERT_NE(it, loaded.end());
  EXPECT_EQ(*it, (SessionRecord{"dev-1", 10, 5, 99}));
}

TEST_F(StoreTest, SubscriptionRoundTripAndDelete) {
  auto store = openStore(dir_.path());
  std::vector<SubscriptionRecord> subs = {
      {"a", "conv/+", 1, true, true, 2, 7},
      {"a", "$share/g/sensors/#", 2, false, false, 0, 0},
      {"b", "conv/1", 0, false, true, 1, 268'435'455},
  };
  WriteSet ws;
  for (const auto& s : subs) ws.add(WriteSet::PutSubscription{s});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  auto loaded = store->loadSubscriptions();
  auto less = [](const auto& x, const auto& y) {
    return std::tie(x.client_id, x.filter) < std::tie(y.client_id, y.filter);
  };
  std::sort(subs.begin(), subs.end(), less);
  std::sort(loaded.begin(), loaded.end(), less);
  EXPECT_EQ(loaded, subs);

  WriteSet del;
  del.add(WriteSet::DeleteSubscription{"a", "conv/+"});
  ASSERT_TRUE(commitAndWait(*store, std::move(del)).ok);
  loaded = store->loadSubscriptions();
  ASSERT_EQ(loaded.size(), 2u);
  for (const auto& s : loaded) EXPECT_NE(s.filter, "conv/+");
}

TEST_F(StoreTest, QueueEntryRoundTripAndDelete) {
  auto store = openStore(dir_.path());
  QueueEntry full{"dev", 5, 2, 65535, true, true, 12345};
  QueueEntry plain = entry("dev", 6);
  QueueEntry qos0 = entry("dev", 7);
  qos0.qos = 0;
  WriteSet ws;
  ws.add(WriteSet::PutQueueEntry{full});
  ws.add(WriteSet::PutQueueEntry{plain});
  ws.add(WriteSet::PutQueueEntry{qos0});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(store->loadQueue("dev", 0, 10), (std::vector<QueueEntry>{full, plain, qos0}));

  // Updating an entry (packet id assigned, PUBREC seen) replaces it.
  full.packet_id = 9;
  full.pubrec_received = false;
  WriteSet upd;
  upd.add(WriteSet::PutQueueEntry{full});
  upd.add(WriteSet::DeleteQueueEntry{"dev", 6});
  ASSERT_TRUE(commitAndWait(*store, std::move(upd)).ok);
  EXPECT_EQ(store->loadQueue("dev", 0, 10), (std::vector<QueueEntry>{full, qos0}));
}

TEST_F(StoreTest, InboundRoundTrip) {
  auto store = openStore(dir_.path());
  WriteSet ws;
  for (uint16_t id : {300, 1, 65535, 256}) ws.add(WriteSet::PutInbound{"dev", id});
  ws.add(WriteSet::PutInbound{"other", 2});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(store->loadInbound("dev"), (std::vector<uint16_t>{1, 256, 300, 65535}));

  WriteSet del;
  del.add(WriteSet::DeleteInbound{"dev", 256});
  ASSERT_TRUE(commitAndWait(*store, std::move(del)).ok);
  EXPECT_EQ(store->loadInbound("dev"), (std::vector<uint16_t>{1, 300, 65535}));
  EXPECT_EQ(store->loadInbound("other"), (std::vector<uint16_t>{2}));
  EXPECT_TRUE(store->loadInbound("nobody").empty());
}

TEST_F(StoreTest, RetainedRoundTripOverwriteDelete) {
  auto store = openStore(dir_.path());
  Message a = makeMessage("presence/u1", "online", 5);
  a.retain = true;
  a.properties = "props";
  a.expires_at_ms = 123;
  Message b = makeMessage("presence/u2", "offline", 6);
  Message c = makeMessage("sensors/t", "21.5", 7);
  WriteSet ws;
  ws.add(WriteSet::PutRetained{a});
  ws.add(WriteSet::PutRetained{b});
  ws.add(WriteSet::PutRetained{c});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(store->loadRetained(), (std::vector<Message>{a, b, c}));

  b.payload = "online";
  b.id = 8;
  WriteSet ws2;
  ws2.add(WriteSet::PutRetained{b});
  ws2.add(WriteSet::DeleteRetained{"sensors/t"});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws2)).ok);
  EXPECT_EQ(store->loadRetained(), (std::vector<Message>{a, b}));
}

// --- key layout -----------------------------------------------------------------------------

TEST_F(StoreTest, QueueIsOrderedByMessageIdAndHonoursFromAndLimit) {
  auto store = openStore(dir_.path());
  WriteSet ws;
  // Ids whose byte order differs from their decimal order, to catch a non-big-endian key.
  for (uint64_t id : std::vector<uint64_t>{300, 5, 256, 1, 2, 65536, 4294967296u}) {
    ws.add(WriteSet::PutQueueEntry{entry("dev", id)});
  }
  ws.add(WriteSet::PutQueueEntry{entry("dev2", 3)});
  ws.add(WriteSet::PutQueueEntry{entry("de", 4)});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);

  using V = std::vector<uint64_t>;
  EXPECT_EQ(ids(store->loadQueue("dev", 0, 100)), (V{1, 2, 5, 256, 300, 65536, 4294967296u}));
  EXPECT_EQ(ids(store->loadQueue("dev", 5, 100)), (V{5, 256, 300, 65536, 4294967296u}));
  EXPECT_EQ(ids(store->loadQueue("dev", 6, 2)), (V{256, 300}));
  EXPECT_EQ(ids(store->loadQueue("dev", 0, 1)), (V{1}));
  EXPECT_TRUE(store->loadQueue("dev", 4294967297u, 100).empty());
  EXPECT_TRUE(store->loadQueue("dev", 0, 0).empty());
  EXPECT_EQ(ids(store->loadQueue("dev2", 0, 100)), (V{3}));
  EXPECT_EQ(ids(store->loadQueue("de", 0, 100)), (V{4}));
  for (const auto& e : store->loadQueue("dev", 0, 100)) EXPECT_EQ(e.client_id, "dev");
}

// Everything a client has, under a given id.
void addClientData(WriteSet& ws, const std::string& client, uint64_t msg_id) {
  ws.add(WriteSet::PutSession{{client, 60, 5, 0}});
  ws.add(WriteSet::PutSubscription{{client, "conv/1", 1, false, false, 0, 0}});
  ws.add(WriteSet::PutSubscription{{client, "x/#", 0, false, false, 0, 0}});
  ws.add(WriteSet::PutQueueEntry{entry(client, msg_id)});
  ws.add(WriteSet::PutQueueEntry{entry(client, msg_id + 1000)});
  ws.add(WriteSet::PutInbound{client, 17});
}

TEST_F(StoreTest, DeleteSessionRemovesExactlyThatClient) {
  auto store = openStore(dir_.path());
  // "a" is a prefix of "ab" and of "a\xff"; "" sorts before everything.
  const std::vector<std::string> clients = {"a", "ab", std::string("a\xff", 2), "b", ""};
  WriteSet ws;
  for (size_t i = 0; i < clients.size(); ++i) addClientData(ws, clients[i], i + 1);
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);

  WriteSet del;
  del.add(WriteSet::DeleteSession{"a"});
  ASSERT_TRUE(commitAndWait(*store, std::move(del)).ok);

  EXPECT_TRUE(store->loadQueue("a", 0, 100).empty());
  EXPECT_TRUE(store->loadInbound("a").empty());
  for (const auto& s : store->loadSessions()) EXPECT_NE(s.client_id, "a");
  for (const auto& s : store->loadSubscriptions()) EXPECT_NE(s.client_id, "a");
  EXPECT_EQ(store->loadSessions().size(), clients.size() - 1);
  EXPECT_EQ(store->loadSubscriptions().size(), 2 * (clients.size() - 1));
  for (size_t i = 1; i < clients.size(); ++i) {
    SCOPED_TRACE(clients[i]);
    EXPECT_EQ(ids(store->loadQueue(clients[i], 0, 100)), (std::vector<uint64_t>{i + 1, i + 1001}));
    EXPECT_EQ(store->loadInbound(clients[i]), (std::vector<uint16_t>{17}));
  }
}

TEST_F(StoreTest, DeleteSessionOrderWithinOneWriteSet) {
  auto store = openStore(dir_.path());
  WriteSet ws;
  ws.add(WriteSet::PutQueueEntry{entry("c", 1)});
  ws.add(WriteSet::DeleteSession{"c"});  // removes the entry put just before it
  ws.add(WriteSet::PutQueueEntry{entry("c", 2)});
  ws.add(WriteSet::PutSession{{"c", 1, 4, 0}});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(ids(store->loadQueue("c", 0, 100)), (std::vector<uint64_t>{2}));
  EXPECT_EQ(store->loadSessions().size(), 1u);
}

// --- message ids ----------------------------------------------------------------------------

TEST_F(StoreTest, NewMessageIdsIncreaseAndAreSubstituted) {
  auto store = openStore(dir_.path());
  std::vector<uint64_t> returned;
  std::vector<uint64_t> completed;
  std::mutex mu;
  for (int i = 0; i < 50; ++i) {
    WriteSet ws;
    ws.add(WriteSet::PutQueueEntry{entry("early", 0)});  // before the message: still refers to it
    Message m = makeMessage("t/" + std::to_string(i), "p" + std::to_string(i));
    ws.add(WriteSet::PutMessage{m});
    ws.add(WriteSet::PutQueueEntry{entry("c1", 0)});
    ws.add(WriteSet::PutQueueEntry{entry("c2", 0)});
    ws.add(WriteSet::PutQueueEntry{entry("c3", 999'999)});  // explicit ids are kept
    m.retain = true;
    ws.add(WriteSet::PutRetained{m});
    returned.push_back(store->commit(std::move(ws), [&](const CommitResult& r) {
      std::lock_guard lk(mu);
      completed.push_back(r.message_id);
    }));
  }
  store->flush();
  ASSERT_EQ(returned.size(), 50u);
  for (size_t i = 1; i < returned.size(); ++i) EXPECT_LT(returned[i - 1], returned[i]);
  EXPECT_GT(returned.front(), 0u);
  EXPECT_EQ(completed, returned);
  EXPECT_EQ(ids(store->loadQueue("c1", 0, 1000)), returned);
  EXPECT_EQ(ids(store->loadQueue("c2", 0, 1000)), returned);
  EXPECT_EQ(ids(store->loadQueue("early", 0, 1000)), returned);
  EXPECT_EQ(ids(store->loadQueue("c3", 0, 1000)), (std::vector<uint64_t>{999'999}));
  for (size_t i = 0; i < returned.size(); ++i) {
    auto m = store->loadMessage(returned[i]);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->topic, "t/" + std::to_string(i));
  }
  for (const auto& r : store->loadRetained()) {
    const size_t i = std::stoul(r.topic.substr(2));
    EXPECT_EQ(r.id, returned[i]) << r.topic;
  }

  // A set without a new message gets id 0 and substitutes nothing.
  WriteSet plain;
  plain.add(WriteSet::PutSession{{"s", 0, 4, 0}});
  EXPECT_EQ(commitAndWait(*store, std::move(plain)).message_id, 0u);
}

TEST_F(StoreTest, SeveralNewMessagesInOneSetGetConsecutiveIds) {
  auto store = openStore(dir_.path());
  WriteSet ws;
  ws.add(WriteSet::PutMessage{makeMessage("t", "first")});
  ws.add(WriteSet::PutQueueEntry{entry("c", 0)});
  ws.add(WriteSet::PutMessage{makeMessage("t", "second")});
  ws.add(WriteSet::PutQueueEntry{entry("c", 0)});
  const uint64_t first = store->commit(std::move(ws), nullptr);
  store->flush();
  EXPECT_EQ(ids(store->loadQueue("c", 0, 10)), (std::vector<uint64_t>{first, first + 1}));
  EXPECT_EQ(store->loadMessage(first)->payload, "first");
  EXPECT_EQ(store->loadMessage(first + 1)->payload, "second");
  WriteSet next;
  next.add(WriteSet::PutMessage{makeMessage("t", "third")});
  EXPECT_EQ(store->commit(std::move(next), nullptr), first + 2);
}

TEST_F(StoreTest, IdsContinueAfterReopen) {
  uint64_t last = 0;
  {
    auto store = openStore(dir_.path());
    for (int i = 0; i < 10; ++i) {
      WriteSet ws;
      ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
      last = store->commit(std::move(ws), nullptr);
    }
  }
  {
    auto store = openStore(dir_.path());
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    const uint64_t id = commitAndWait(*store, std::move(ws)).message_id;
    EXPECT_EQ(id, last + 1);
    last = id;
    // Delete every message: ids must still not be reused after the next restart.
    WriteSet del;
    for (uint64_t i = 1; i <= last; ++i) del.add(WriteSet::DeleteMessage{i});
    ASSERT_TRUE(commitAndWait(*store, std::move(del)).ok);
    EXPECT_FALSE(store->loadMessage(last).has_value());
  }
  {
    auto store = openStore(dir_.path());
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    EXPECT_EQ(commitAndWait(*store, std::move(ws)).message_id, last + 1);
  }
}

TEST_F(StoreTest, IdsContinueAfterRetainedWithHigherId) {
  {
    auto store = openStore(dir_.path());
    WriteSet ws;
    ws.add(WriteSet::PutRetained{makeMessage("r", "p", 5000)});
    ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  }
  auto store = openStore(dir_.path());
  WriteSet ws;
  ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
  EXPECT_EQ(commitAndWait(*store, std::move(ws)).message_id, 5001u);
}

// --- durability and group commit -------------------------------------------------------------

TEST_F(StoreTest, DataSurvivesCloseAndReopen) {
  uint64_t id = 0;
  {
    auto store = openStore(dir_.path());
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("conv/1", "hello")});
    ws.add(WriteSet::PutQueueEntry{entry("dev", 0)});
    ws.add(WriteSet::PutSession{{"dev", 100, 5, 0}});
    ws.add(WriteSet::PutSubscription{{"dev", "conv/1", 1, false, false, 0, 3}});
    ws.add(WriteSet::PutInbound{"dev", 9});
    ws.add(WriteSet::PutRetained{makeMessage("presence/u", "online", 1)});
    id = store->commit(std::move(ws), nullptr);  // no wait: the destructor must drain it
  }
  auto store = openStore(dir_.path());
  ASSERT_TRUE(store->loadMessage(id).has_value());
  EXPECT_EQ(store->loadMessage(id)->payload, "hello");
  EXPECT_EQ(ids(store->loadQueue("dev", 0, 10)), (std::vector<uint64_t>{id}));
  EXPECT_EQ(store->loadSessions(), (std::vector<SessionRecord>{{"dev", 100, 5, 0}}));
  EXPECT_EQ(store->loadSubscriptions().size(), 1u);
  EXPECT_EQ(store->loadInbound("dev"), (std::vector<uint16_t>{9}));
  ASSERT_EQ(store->loadRetained().size(), 1u);
  EXPECT_EQ(store->loadRetained()[0].payload, "online");
}

TEST_F(StoreTest, GroupCommitBatchesConcurrentCommits) {
  auto store = openStore(dir_.path(), Durability::Sync);
  constexpr int kThreads = 8, kPerThread = 250;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteSet ws;
        ws.add(WriteSet::PutMessage{makeMessage("t", std::to_string(t * kPerThread + i))});
        ws.add(WriteSet::PutQueueEntry{entry("dev" + std::to_string(t), 0)});
        store->commit(std::move(ws), [&](const CommitResult& r) {
          if (r.ok) ok.fetch_add(1);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  store->flush();
  const auto s = store->stats();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(s.commits, uint64_t{kThreads * kPerThread});
  EXPECT_LT(s.batches * 4, s.commits) << "batches=" << s.batches;
  EXPECT_GT(s.syncs, 0u);
  EXPECT_LE(s.syncs, s.batches);
  EXPECT_GT(s.bytes_written, 0u);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(store->loadQueue("dev" + std::to_string(t), 0, 1000).size(), size_t{kPerThread});
  }
}

// Clients that wait for their acknowledgement before publishing again (like QoS 1 publishers
// waiting for PUBACK) still share fsyncs: while one sync runs, the others queue up.
TEST_F(StoreTest, GroupCommitBatchesWaitingPublishers) {
  auto store = openStore(dir_.path(), Durability::Sync);
  constexpr int kThreads = 16, kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteSet ws;
        ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
        EXPECT_TRUE(commitAndWait(*store, std::move(ws)).ok);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto s = store->stats();
  EXPECT_EQ(s.commits, uint64_t{kThreads * kPerThread});
  EXPECT_LT(s.batches * 2, s.commits) << "batches=" << s.batches;
  EXPECT_EQ(s.syncs, s.batches);
}

TEST_F(StoreTest, CompletionsRunInCommitOrder) {
  auto store = openStore(dir_.path());
  std::mutex mu;
  std::vector<uint64_t> order;  // message ids in completion order
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        WriteSet ws;
        ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
        store->commit(std::move(ws), [&](const CommitResult& r) {
          std::lock_guard lk(mu);
          order.push_back(r.message_id);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  store->flush();
  ASSERT_EQ(order.size(), 1200u);
  for (size_t i = 1; i < order.size(); ++i) ASSERT_LT(order[i - 1], order[i]) << i;

  // Sets with and without messages, from one thread: completions in exactly the commit order.
  std::vector<int> seen;
  for (int i = 0; i < 500; ++i) {
    WriteSet ws;
    if (i % 3 == 0) ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    if (i % 3 == 1) ws.add(WriteSet::PutInbound{"c", static_cast<uint16_t>(i)});
    if (i % 5 == 0) ws.setNeedsSync(false);
    store->commit(std::move(ws), [&seen, i](const CommitResult&) { seen.push_back(i); });
  }
  store->flush();
  ASSERT_EQ(seen.size(), 500u);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(seen[i], i);
}

TEST_F(StoreTest, FlushWaitsForEverythingQueued) {
  for (auto durability : {Durability::Sync, Durability::Batched, Durability::None}) {
    TempDir dir;
    auto store = openStore(dir.path(), durability, 1000);
    std::atomic<int> done{0};
    for (int i = 0; i < 500; ++i) {
      WriteSet ws;
      ws.add(WriteSet::PutQueueEntry{entry("dev", static_cast<uint64_t>(i + 1))});
      store->commit(std::move(ws), [&](const CommitResult&) { done.fetch_add(1); });
    }
    store->flush();
    EXPECT_EQ(done.load(), 500) << static_cast<int>(durability);
    EXPECT_EQ(store->loadQueue("dev", 0, 1000).size(), 500u);
    EXPECT_EQ(store->stats().commits, 500u);
    if (durability == Durability::None) {
      EXPECT_EQ(store->stats().syncs, 0u);
    } else {
      // Batched: the 1 s timer has not fired, so the sync came from flush().
      EXPECT_GE(store->stats().syncs, 1u);
    }
  }
}

TEST_F(StoreTest, SetsThatDoNotNeedSyncAreSyncedByFlush) {
  auto store = openStore(dir_.path(), Durability::Sync);
  WriteSet ws;
  ws.add(WriteSet::DeleteQueueEntry{"dev", 1});
  ws.setNeedsSync(false);
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(store->stats().batches, 1u);
  EXPECT_EQ(store->stats().syncs, 0u);
  store->flush();
  EXPECT_EQ(store->stats().syncs, 1u);
  store->flush();  // nothing new: no further sync
  EXPECT_EQ(store->stats().syncs, 1u);
}

TEST_F(StoreTest, BatchedDurabilitySyncsOnATimer) {
  auto store = openStore(dir_.path(), Durability::Batched, 20);
  for (int i = 0; i < 20; ++i) {
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  }
  // 20 waited-for commits take far less than 20 intervals: the writes were not synced each.
  EXPECT_LT(store->stats().syncs, 20u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (store->stats().syncs == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(store->stats().syncs, 1u);
}

TEST_F(StoreTest, NoneDurabilityNeverSyncs) {
  auto store = openStore(dir_.path(), Durability::None);
  for (int i = 0; i < 20; ++i) {
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  }
  store->flush();
  EXPECT_EQ(store->stats().syncs, 0u);
  EXPECT_GE(store->stats().batches, 1u);
}

TEST_F(StoreTest, EmptyWriteSetCompletesWithoutAWrite) {
  auto store = openStore(dir_.path());
  auto r = commitAndWait(*store, WriteSet{});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.message_id, 0u);
  EXPECT_EQ(store->stats().commits, 1u);
  EXPECT_EQ(store->stats().batches, 0u);
}

// records_written counts keys, not commits: it is what the integration tests use to show that a
// code path writes a constant number of records (a chat send to a 10,000-member channel).
TEST_F(StoreTest, RecordsWrittenCountsEveryKeyPutOrDeleted) {
  auto store = openStore(dir_.path());
  EXPECT_EQ(store->stats().records_written, 0u);
  WriteSet ws;
  ws.add(WriteSet::PutSession{SessionRecord{"dev", 60, 5, 0}});
  SubscriptionRecord sub;
  sub.client_id = "dev";
  sub.filter = "a/b";
  ws.add(WriteSet::PutSubscription{sub});
  ws.add(WriteSet::DeleteQueueEntry{"dev", 7});
  ws.add(WriteSet::DeleteRetained{"r/t"});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws)).ok);
  EXPECT_EQ(store->stats().records_written, 4u);

  // A new message is its own key plus the highest-id marker written with the group.
  WriteSet ws2;
  ws2.add(WriteSet::PutMessage{makeMessage("t", "p")});
  ASSERT_TRUE(commitAndWait(*store, std::move(ws2)).ok);
  EXPECT_EQ(store->stats().records_written, 6u);

  // Nothing written, nothing counted.
  ASSERT_TRUE(commitAndWait(*store, WriteSet{}).ok);
  EXPECT_EQ(store->stats().records_written, 6u);

  // Grouped or not, the count is the same: 50 sets of one key each from several threads.
  std::vector<std::thread> threads;
  for (int t = 0; t < 5; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 10; ++i) {
        WriteSet one;
        one.add(WriteSet::PutInbound{"dev-" + std::to_string(t), static_cast<uint16_t>(i + 1)});
        commitAndWait(*store, std::move(one));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->stats().records_written, 56u);
}

// --- start-up garbage collection -------------------------------------------------------------

TEST_F(StoreTest, DeleteUnreferencedMessages) {
  auto store = openStore(dir_.path());
  std::vector<uint64_t> msg;
  for (int i = 0; i < 5; ++i) {
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "m" + std::to_string(i))});
    if (i == 1) ws.add(WriteSet::PutQueueEntry{entry("x", 0)});
    if (i == 3) {
      ws.add(WriteSet::PutQueueEntry{entry("x", 0)});
      ws.add(WriteSet::PutQueueEntry{entry("y", 0)});
    }
    if (i == 4) ws.add(WriteSet::PutRetained{makeMessage("retained/topic", "kept")});
    msg.push_back(store->commit(std::move(ws), nullptr));
  }
  WriteSet ws;
  ws.add(WriteSet::PutRetained{makeMessage("retained/explicit", "also kept", msg[2])});
  store->commit(std::move(ws), nullptr);
  store->flush();

  std::vector<uint64_t> queued;
  store->forEachQueuedMessageId([&](uint64_t id) { queued.push_back(id); });
  std::sort(queued.begin(), queued.end());
  EXPECT_EQ(queued, (std::vector<uint64_t>{msg[1], msg[3], msg[3]}));

  store->deleteUnreferencedMessages();
  EXPECT_FALSE(store->loadMessage(msg[0]).has_value());
  EXPECT_TRUE(store->loadMessage(msg[1]).has_value());
  EXPECT_FALSE(store->loadMessage(msg[2]).has_value());
  EXPECT_TRUE(store->loadMessage(msg[3]).has_value());
  EXPECT_FALSE(store->loadMessage(msg[4]).has_value());
  auto retained = store->loadRetained();
  ASSERT_EQ(retained.size(), 2u);
  EXPECT_EQ(retained[0].payload, "also kept");
  EXPECT_EQ(retained[0].id, msg[2]);
  EXPECT_EQ(retained[1].payload, "kept");
  EXPECT_EQ(retained[1].id, msg[4]);
}

TEST_F(StoreTest, DeleteUnreferencedMessagesAtScale) {
  auto store = openStore(dir_.path(), Durability::None);
  constexpr int kMessages = 25'000;  // more than one deletion commit
  for (int i = 0; i < kMessages; ++i) {
    WriteSet ws;
    ws.add(WriteSet::PutMessage{makeMessage("t", "p")});
    if (i % 1000 == 0) ws.add(WriteSet::PutQueueEntry{entry("dev", 0)});
    store->commit(std::move(ws), nullptr);
  }
  store->flush();
  store->deleteUnreferencedMessages();
  const auto queue = store->loadQueue("dev", 0, 1000);
  ASSERT_EQ(queue.size(), 25u);
  for (const auto& e : queue) EXPECT_TRUE(store->loadMessage(e.msg_id).has_value());
  EXPECT_FALSE(store->loadMessage(queue[0].msg_id + 1).has_value());
  EXPECT_FALSE(store->loadMessage(kMessages).has_value());
}

}  // namespace
}  // namespace parley::store
