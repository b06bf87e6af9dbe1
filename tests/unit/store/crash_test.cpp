// Crash test for "durable before ack": a child process commits messages with Durability::Sync
// and reports each acknowledged id on a pipe as its completion runs; the parent SIGKILLs it
// mid-stream, reopens the store and checks that every acknowledged message is there.
//
// The child is this test binary re-executed (fork + execve of /proc/self/exe running only the
// disabled test below), not a bare fork: RocksDB keeps background threads in a process-wide
// pool, and a forked copy of a process that has used RocksDB would have the pool's bookkeeping
// without its threads.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <semaphore>
#include <set>
#include <string>
#include <vector>

#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store {
namespace {

constexpr const char* kDirEnv = "PARLEY_STORE_CRASH_DIR";
constexpr const char* kFdEnv = "PARLEY_STORE_CRASH_FD";
constexpr int kChildMessages = 100'000;  // far more than are acknowledged before the kill
constexpr int kAcksBeforeKill = 1'500;
constexpr int kWindow = 256;
// Large payloads make each group commit's write take a while, so a store that acknowledged
// before writing would be caught with acknowledged messages still unwritten at the kill.
constexpr size_t kPayloadBytes = 16 * 1024;

std::string payloadFor(uint64_t id) {
  std::string p = "message-" + std::to_string(id) + ":";
  p.resize(kPayloadBytes, static_cast<char>('a' + id % 26));
  return p;
}

// Runs only in the child: commits with a window of in-flight messages, like publishers waiting
// for PUBACKs, so the writer forms many group commits.
TEST(StoreCrashChild, DISABLED_CommitAndReport) {
  const char* dir = std::getenv(kDirEnv);
  const char* fd_text = std::getenv(kFdEnv);
  if (dir == nullptr || fd_text == nullptr) GTEST_SKIP() << "only run by StoreCrash";
  const int fd = std::atoi(fd_text);
  auto store = test::openStore(dir, Durability::Sync);
  std::counting_semaphore<kWindow> window(kWindow);
  for (int i = 0; i < kChildMessages; ++i) {
    window.acquire();
    WriteSet ws;
    // Ids start at 1 in a fresh store and only this thread commits, so the id is i + 1.
    ws.add(WriteSet::PutMessage{test::makeMessage("conv/1", payloadFor(i + 1))});
    ws.add(WriteSet::PutQueueEntry{QueueEntry{"dev", 0, 1, 0, false, false, 0}});
    store->commit(std::move(ws), [fd, &window](const CommitResult& r) {
      if (r.ok) {
        const uint64_t id = r.message_id;
        if (write(fd, &id, sizeof id) != sizeof id) std::abort();
      }
      window.release();
    });
  }
  store->flush();
}

TEST(StoreCrash, AcknowledgedMessagesSurviveSigkill) {
  test::TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);

  // Everything the child needs is built before fork: after it the child only closes and execs.
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=StoreCrashChild.DISABLED_CommitAndReport";
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
  uint64_t id;
  for (;;) {
    const ssize_t n = read(fds[0], &id, sizeof id);
    if (n == 0) break;  // the child is gone and every report it made has been read
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof id));
    acked.push_back(id);
    if (!killed && acked.size() == kAcksBeforeKill) {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child must die mid-stream for this test to mean anything; status " << status
      << ", acknowledged " << acked.size();
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
