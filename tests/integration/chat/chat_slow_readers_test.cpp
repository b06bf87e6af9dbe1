// Issue 4, backpressure: 200 persistent chat readers stop reading while a sender posts 600
// ~1 KB messages to their group. parleyd's memory must stay within a documented bound (each
// stuck reader costs at most its output watermark plus its in-flight bytes, 256 KiB each, not
// its backlog), the stuck readers are disconnected after --slow-reader-timeout, and once they
// read again every one of them has every message (reconnecting from its offsets).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "chat_harness.hpp"

namespace chattest {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(ChatSlowReaders, MemoryStaysBoundedAndEveryReaderCatchesUp) {
  constexpr int kReaders = 200;
  constexpr int kMessages = 600;
  // Documented in docs/STATUS.md: per stuck reader ≤ 256 KiB unsent output + ≤ 256 KiB of
  // unacknowledged messages (live ones are shared by all readers) plus allocator slack.
  constexpr long kBoundPerReaderKiB = 1024;
  ChatBroker broker({"--slow-reader-timeout", "4"});
  std::vector<std::pair<std::string, std::string>> members{{"sender", "owner"}};
  for (int i = 0; i < kReaders; ++i) members.emplace_back("r" + std::to_string(i), "member");
  createConversation(broker.adminPort(), "slow", "group", members);

  std::vector<std::unique_ptr<ChatDevice>> readers;
  std::vector<ChatDevice*> all;
  for (int i = 0; i < kReaders; ++i) {
    auto d = std::make_unique<ChatDevice>(broker.port(), i % 2 ? 5 : 4, "rd" + std::to_string(i),
                                          "r" + std::to_string(i));
    d->setReceiveBuffer(4096);  // the kernel must not absorb the backlog for it
    auto ack = d->connect();
    ASSERT_TRUE(ack && ack->code == 0) << i;
    all.push_back(d.get());
    readers.push_back(std::move(d));
  }
  // New devices start at the head (seq 1, the creation record, is history): each follows the
  // conversation once its CONNACK is out, so everything sent from here on is theirs.
  const long rss_before = rssKiB(broker.proc().pid());

  // From here on the readers do not read. The sender posts the backlog.
  ChatDevice sender(broker.port(), 5, "sender-dev", "sender", false);
  ASSERT_TRUE(sender.connect());
  const std::string body(1000, 'x');
  long rss_peak = rss_before;
  for (int k = 0; k < kMessages; ++k) {
    auto ack = sender.send("slow", "m" + std::to_string(k), body, 10s);
    ASSERT_TRUE(ack && ack->reason == 0) << k;
    if (k % 50 == 0) rss_peak = std::max(rss_peak, rssKiB(broker.proc().pid()));
  }
  // The stuck readers are cut off after 4 s without progress (+ up to 5 s for the close);
  // sample memory meanwhile.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    rss_peak = std::max(rss_peak, rssKiB(broker.proc().pid()));
    std::this_thread::sleep_for(100ms);
  }
  const long grown = rss_peak - rss_before;
  std::printf("[ slow readers ] RSS before %ld KiB, peak %ld KiB: +%ld KiB per stuck reader\n",
              rss_before, rss_peak, grown / kReaders);
  if (!kSanitized) {  // ASan's quarantine and shadow memory make RSS meaningless there
    EXPECT_LT(grown, kBoundPerReaderKiB * kReaders);
  }

  // Read again: a reader whose connection was ended reconnects (persistent session: its
  // offsets) and must end with every seq 2..kMessages+1; within one connection, in order.
  std::vector<std::set<uint64_t>> seen(kReaders);
  std::vector<uint64_t> last_seq(kReaders, 0);
  std::vector<size_t> consumed(kReaders, 0);
  int disconnected = 0;
  const uint64_t head = kMessages + 1;
  auto last_round = std::chrono::steady_clock::now();
  long long max_round_ms = 0;
  auto done = [&] {
    const auto now = std::chrono::steady_clock::now();
    max_round_ms = std::max<long long>(
        max_round_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_round).count());
    last_round = now;
    bool ok = true;
    for (int i = 0; i < kReaders; ++i) {
      ChatDevice& d = *readers[size_t(i)];
      const auto& msgs = d.messages("slow");
      for (; consumed[size_t(i)] < msgs.size(); ++consumed[size_t(i)]) {
        const uint64_t s = msgs[consumed[size_t(i)]].seq;
        EXPECT_GT(s, last_seq[size_t(i)]) << "reader " << i << ": out of order";
        last_seq[size_t(i)] = s;
        seen[size_t(i)].insert(s);
      }
      if (d.closed()) {
        ++disconnected;
        last_seq[size_t(i)] = 0;  // a new connection replays from the offset
        d.setReceiveBuffer(0);    // reading normally again
        auto ack = d.connect();
        EXPECT_TRUE(ack && ack->code == 0) << i;
      }
      if (seen[size_t(i)].size() < kMessages) ok = false;
    }
    return ok;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const bool caught_up = pollAll(all, done, 180s);
  const auto catchup_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  int missing_readers = 0;
  for (int i = 0; i < kReaders; ++i)
    if (seen[size_t(i)].size() != kMessages || *seen[size_t(i)].begin() != 2 ||
        *seen[size_t(i)].rbegin() != head)
      ++missing_readers;
  EXPECT_TRUE(caught_up);
  EXPECT_EQ(missing_readers, 0);
  // With 4 s of timeout and a ~600 KB backlog each behind a 4 KiB receive window, the stuck
  // readers were disconnected rather than held.
  EXPECT_GT(disconnected, 0);
  std::printf(
      "[ slow readers ] %d disconnects seen by %d readers; all caught up in %lld ms"
      " (longest polling round %lld ms)\n",
      disconnected, kReaders, static_cast<long long>(catchup_ms), max_round_ms);
}

}  // namespace
}  // namespace chattest
