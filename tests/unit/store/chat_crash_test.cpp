// Crash test for chat appends: a child process appends chat records (seq 1, 2, … with their
// dedup entries and the head) with Durability::Sync and reports each acknowledged seq on a pipe
// as its completion runs; the parent SIGKILLs it mid-stream, reopens the store and checks that
// every acknowledged record is there, the log is gapless from 1, and head and dedup agree.
// The fork/exec/kill harness is in crash_test_util.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <semaphore>
#include <set>
#include <string>
#include <vector>

#include "chat_store.hpp"
#include "crash_test_util.hpp"
#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store {
namespace {

constexpr uint64_t kChildAppends = 100'000;
constexpr size_t kAcksBeforeKill = 1'500;
constexpr int kWindow = 256;
constexpr size_t kEnvelopeBytes = 8 * 1024;

std::string envelopeFor(uint64_t seq) {
  return test::crashPayload("chat-", seq, kEnvelopeBytes);
}

TEST(ChatCrashChild, DISABLED_AppendAndReport) {
  auto child = test::openCrashChildStore();
  if (!child) GTEST_SKIP() << "only run by ChatCrash";
  const int fd = child->report_fd;
  Store* store = child->store.get();
  std::counting_semaphore<kWindow> window(kWindow);
  // One thread assigns seqs and commits in seq order, as the chat layer does per conversation.
  for (uint64_t seq = 1; seq <= kChildAppends; ++seq) {
    window.acquire();
    ChatRecord r;
    r.conv = "conv-crash";
    r.seq = seq;
    r.sender_user = "u" + std::to_string(seq % 7);
    r.sender_device = "dev";
    r.cmid = "cmid-" + std::to_string(seq);
    r.envelope = envelopeFor(seq);
    WriteSet ws;
    ws.add(WriteSet::PutChatRecord{std::move(r)});
    store->commit(std::move(ws), [fd, seq, &window](const CommitResult& res) {
      if (res.ok) test::reportAcknowledged(fd, seq);
      window.release();
    });
  }
  store->flush();
}

TEST(ChatCrash, AcknowledgedAppendsSurviveSigkillGapless) {
  test::TempDir dir;
  std::vector<uint64_t> acked;
  ASSERT_NO_FATAL_FAILURE(test::runWriterAndSigkill("ChatCrashChild.DISABLED_AppendAndReport",
                                                    dir.path(), kAcksBeforeKill, acked));
  ASSERT_LT(acked.size(), size_t{kChildAppends});

  auto store = test::openStore(dir.path(), Durability::Sync);
  ChatStore& chat = *store->chat();
  const auto log = chat.loadChatLog("conv-crash", 0, kChildAppends);
  // Gapless from 1: group commits are atomic and the WAL replays in order.
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].seq, i + 1) << "hole in the recovered log";
    ASSERT_EQ(log[i].envelope, envelopeFor(i + 1));
  }
  const uint64_t recovered = log.size();
  uint64_t max_acked = 0;
  for (uint64_t a : acked) {
    ASSERT_LE(a, recovered) << "acknowledged seq " << a << " lost";
    max_acked = std::max(max_acked, a);
  }
  EXPECT_EQ(std::set<uint64_t>(acked.begin(), acked.end()).size(), acked.size());
  EXPECT_EQ(chat.loadChatHead("conv-crash"), recovered) << "head disagrees with the log";
  for (uint64_t s : {uint64_t{1}, max_acked, recovered}) {
    EXPECT_EQ(
        chat.findChatDedup("conv-crash", "u" + std::to_string(s % 7), "cmid-" + std::to_string(s)),
        s);
  }
  std::printf("chat appends acknowledged before kill: %zu, recovered: %llu\n", acked.size(),
              static_cast<unsigned long long>(recovered));
}

}  // namespace
}  // namespace parley::store
