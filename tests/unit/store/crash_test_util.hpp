// The SIGKILL crash-test harness shared by the store's crash tests: a writer child commits with
// Durability::Sync and reports each acknowledged value (an id, a seq) on a pipe as its
// completion runs; the parent SIGKILLs it after a chosen number of reports, reads every report
// made before the kill, reaps the child and hands the reports back, so the test can reopen the
// store and check that everything acknowledged survived.
//
// The child is the test binary re-executed (fork + execve of /proc/self/exe running only one
// disabled test), not a bare fork: RocksDB keeps background threads in a process-wide pool, and
// a forked copy of a process that has used RocksDB would have the pool's bookkeeping without its
// threads. Every wait is bounded, so a child that stalls or will not die fails the test instead
// of hanging it. Used from the test's main thread only.
#pragma once
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store.hpp"
#include "store_test_util.hpp"

namespace parley::store::test {

inline constexpr const char* kCrashDirEnv = "PARLEY_STORE_CRASH_DIR";
inline constexpr const char* kCrashFdEnv = "PARLEY_STORE_CRASH_FD";
// Longest the parent waits for the next report, and for the child to exit after the kill.
inline constexpr std::chrono::seconds kCrashReportTimeout{60};
inline constexpr std::chrono::seconds kCrashExitTimeout{30};

// In the child: the store in the directory the parent passed, opened with Durability::Sync, and
// the pipe to report on; nullopt when the child test was run by hand (it should then skip).
struct CrashChildStore {
  std::unique_ptr<Store> store;
  int report_fd = -1;
};

inline std::optional<CrashChildStore> openCrashChildStore() {
  const char* dir = std::getenv(kCrashDirEnv);
  const char* fd_text = std::getenv(kCrashFdEnv);
  if (dir == nullptr || fd_text == nullptr) return std::nullopt;
  return CrashChildStore{openStore(dir, Durability::Sync), std::atoi(fd_text)};
}

// A recognisable payload of `bytes` bytes for record `n`, so recovery can check the content
// as well as the presence. Large payloads make each group commit's write take a while, so a
// store that acknowledged before writing would be caught with acknowledged records unwritten.
inline std::string crashPayload(const std::string& prefix, uint64_t n, size_t bytes) {
  std::string p = prefix + std::to_string(n) + ":";
  p.resize(bytes, static_cast<char>('a' + n % 26));
  return p;
}

// In the child, from a commit completion: tells the parent `value` was acknowledged. A report
// that cannot be made would make the parent's view wrong, so the child dies instead.
inline void reportAcknowledged(int fd, uint64_t value) {
  if (write(fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) std::abort();
}

// Owns the child's pid in the parent: if the harness returns early on a failed assertion, the
// child is killed and reaped rather than left writing into a directory about to be removed.
class CrashChild {
 public:
  explicit CrashChild(pid_t pid) : pid_(pid) {}
  ~CrashChild() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  CrashChild(const CrashChild&) = delete;
  CrashChild& operator=(const CrashChild&) = delete;

  pid_t pid() const { return pid_; }
  // Waits up to `timeout` for the child to exit; true and its wait status when it did.
  bool waitExit(std::chrono::milliseconds timeout, int& status) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return true;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  pid_t pid_;
};

// Closes a pipe end once, whichever way the harness returns.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() { reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Runs `child_test` (a DISABLED_ test of this binary that writes into `dir` and reports with
// reportAcknowledged) in a child, SIGKILLs it once `kill_after` reports have arrived, and stores
// in `acked` every report it made. Fails unless the child died of that SIGKILL with at least
// `kill_after` reports made. Call inside ASSERT_NO_FATAL_FAILURE.
inline void runWriterAndSigkill(const std::string& child_test, const std::string& dir,
                                size_t kill_after, std::vector<uint64_t>& acked) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ScopedFd read_end(fds[0]);
  ScopedFd write_end(fds[1]);

  // Everything the child needs is built before fork: after it the child only closes and execs.
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=" + child_test;
  std::string disabled = "--gtest_also_run_disabled_tests";
  std::string dir_env = std::string(kCrashDirEnv) + "=" + dir;
  std::string fd_env = std::string(kCrashFdEnv) + "=" + std::to_string(write_end.get());
  std::vector<char*> argv = {exe.data(), filter.data(), disabled.data(), nullptr};
  std::vector<char*> envp = {dir_env.data(), fd_env.data()};
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(read_end.get());
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  CrashChild child(pid);
  write_end.reset();  // so the read end sees end-of-file once the child is gone

  acked.clear();
  bool killed = false;
  const int timeout_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(kCrashReportTimeout).count());
  for (;;) {
    pollfd pfd{read_end.get(), POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    ASSERT_GE(ready, 0) << "poll failed";
    ASSERT_GT(ready, 0) << "no report from the writer child for " << kCrashReportTimeout.count()
                        << " s; acknowledged " << acked.size();
    uint64_t value;
    const ssize_t n = read(read_end.get(), &value, sizeof value);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) break;  // the child is gone and every report it made has been read
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof value));
    acked.push_back(value);
    if (!killed && acked.size() == kill_after) {
      ASSERT_EQ(kill(child.pid(), SIGKILL), 0);
      killed = true;
    }
  }

  int status = 0;
  ASSERT_TRUE(child.waitExit(kCrashExitTimeout, status))
      << "the writer child did not exit within " << kCrashExitTimeout.count() << " s";
  ASSERT_TRUE(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child must die of our SIGKILL mid-stream for the test to mean anything; status "
      << status << ", acknowledged " << acked.size();
  ASSERT_GE(acked.size(), kill_after);
}

}  // namespace parley::store::test
