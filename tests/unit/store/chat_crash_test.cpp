// Crash test for chat appends: a child process appends chat records (seq 1, 2, … with their
// dedup entries and the head) with Durability::Sync and reports each acknowledged seq on a pipe
// as its completion runs; the parent SIGKILLs it mid-stream, reopens the store and checks that
// every acknowledged record is there, the log is gapless from 1, and head and dedup agree.
// Same re-exec scheme as crash_test.cpp (RocksDB's thread pool does not survive a bare fork).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <semaphore>
#include <set>
#include <string>
#include <vector>

#include "chat_store.hpp"
#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store {
namespace {

constexpr const char* kDirEnv = "PARLEY_CHAT_CRASH_DIR";
constexpr const char* kFdEnv = "PARLEY_CHAT_CRASH_FD";
constexpr uint64_t kChildAppends = 100'000;
constexpr size_t kAcksBeforeKill = 1'500;
constexpr int kWindow = 256;
constexpr size_t kEnvelopeBytes = 8 * 1024;

std::string envelopeFor(uint64_t seq) {
  std::string e = "chat-" + std::to_string(seq) + ":";
  e.resize(kEnvelopeBytes, static_cast<char>('a' + seq % 26));
  return e;
}

TEST(ChatCrashChild, DISABLED_AppendAndReport) {
  const char* dir = std::getenv(kDirEnv);
  const char* fd_text = std::getenv(kFdEnv);
  if (dir == nullptr || fd_text == nullptr) GTEST_SKIP() << "only run by ChatCrash";
  const int fd = std::atoi(fd_text);
  auto store = test::openStore(dir, Durability::Sync);
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
      if (res.ok && write(fd, &seq, sizeof seq) != sizeof seq) std::abort();
      window.release();
    });
  }
  store->flush();
}

TEST(ChatCrash, AcknowledgedAppendsSurviveSigkillGapless) {
  test::TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=ChatCrashChild.DISABLED_AppendAndReport";
  std::string disabled = "--gtest_also_run_disabled_tests";
  std::string dir_env = std::string(kDirEnv) + "=" + dir.path();
  std::string fd_env = std::string(kFdEnv) + "=" + std::to_string(fds[1]);
  std::vector<char*> argv = {exe.data(), filter.data(), disabled.data(), nullptr};
  std::vector<char*> envp = {dir_env.data(), fd_env.data()};
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);

  std::vector<uint64_t> acked;
  bool killed = false;
  uint64_t seq;
  for (;;) {
    const ssize_t n = read(fds[0], &seq, sizeof seq);
    if (n == 0) break;
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof seq));
    acked.push_back(seq);
    if (!killed && acked.size() == kAcksBeforeKill) {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child must die mid-stream; status " << status << ", acknowledged " << acked.size();
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
