// Crash test for "durable before ack": a child process commits messages with Durability::Sync
// and reports each acknowledged id on a pipe as its completion runs; the parent SIGKILLs it
// mid-stream, reopens the store and checks that every acknowledged message is there. The
// fork/exec/kill harness is in crash_test_util.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <semaphore>
#include <set>
#include <string>
#include <vector>

#include "crash_test_util.hpp"
#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store {
namespace {

constexpr int kChildMessages = 100'000;  // far more than are acknowledged before the kill
constexpr int kAcksBeforeKill = 1'500;
constexpr int kWindow = 256;
constexpr size_t kPayloadBytes = 16 * 1024;

std::string payloadFor(uint64_t id) {
  return test::crashPayload("message-", id, kPayloadBytes);
}

// Runs only in the child: commits with a window of in-flight messages, like publishers waiting
// for PUBACKs, so the writer forms many group commits.
TEST(StoreCrashChild, DISABLED_CommitAndReport) {
  auto child = test::openCrashChildStore();
  if (!child) GTEST_SKIP() << "only run by StoreCrash";
  const int fd = child->report_fd;
  Store* store = child->store.get();
  std::counting_semaphore<kWindow> window(kWindow);
  for (int i = 0; i < kChildMessages; ++i) {
    window.acquire();
    WriteSet ws;
    // Ids start at 1 in a fresh store and only this thread commits, so the id is i + 1.
    ws.add(WriteSet::PutMessage{test::makeMessage("conv/1", payloadFor(i + 1))});
    ws.add(WriteSet::PutQueueEntry{QueueEntry{"dev", 0, 1, 0, false, false, 0}});
    store->commit(std::move(ws), [fd, &window](const CommitResult& r) {
      if (r.ok) test::reportAcknowledged(fd, r.message_id);
      window.release();
    });
  }
  store->flush();
}

TEST(StoreCrash, AcknowledgedMessagesSurviveSigkill) {
  test::TempDir dir;
  std::vector<uint64_t> acked;
  ASSERT_NO_FATAL_FAILURE(test::runWriterAndSigkill("StoreCrashChild.DISABLED_CommitAndReport",
                                                    dir.path(), kAcksBeforeKill, acked));
  ASSERT_GE(acked.size(), size_t{kAcksBeforeKill});
  ASSERT_LT(acked.size(), size_t{kChildMessages});

  auto store = test::openStore(dir.path(), Durability::Sync);
  uint64_t max_acked = 0;
  for (uint64_t a : acked) {
    auto m = store->loadMessage(a);
    ASSERT_TRUE(m.has_value()) << "acknowledged message " << a << " lost";
    EXPECT_EQ(m->payload, payloadFor(a));
    max_acked = std::max(max_acked, a);
  }
  // Queue entries too, and no holes: a group commit is atomic and the WAL replays in order.
  const auto queue = store->loadQueue("dev", 1, kChildMessages);
  ASSERT_GE(queue.size(), acked.size());
  for (size_t i = 0; i < queue.size(); ++i) ASSERT_EQ(queue[i].msg_id, i + 1);
  std::set<uint64_t> acked_set(acked.begin(), acked.end());
  EXPECT_EQ(acked_set.size(), acked.size()) << "an id was acknowledged twice";

  // New ids continue after everything that survived.
  WriteSet ws;
  ws.add(WriteSet::PutMessage{test::makeMessage("conv/1", "after")});
  EXPECT_GT(test::commitAndWait(*store, std::move(ws)).message_id, queue.size());
  std::printf("acknowledged before kill: %zu, recovered: %zu\n", acked.size(), queue.size());
}

}  // namespace
}  // namespace parley::store
