// Acceptance: SIGKILL in the middle of a burst from 10 concurrent senders. After the restart
// every PUBACKed message is stored exactly once, seqs are gapless, 5.0 PUBACK seqs match the
// stored ones, retries of unacknowledged sends are deduplicated, and a device catches up.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "chat_harness.hpp"

namespace chattest {
namespace {

struct SenderLog {
  std::map<std::string, std::optional<uint64_t>> acked;  // cmid -> PUBACK seq (5.0)
  std::vector<std::string> sent;                         // every cmid published, in order
};

// Publishes up to `count` messages with a window of `window` until the connection dies.
void burst(ChatDevice& d, int count, size_t window, SenderLog& log,
           std::atomic<size_t>& total_acked) {
  std::vector<std::pair<uint16_t, std::string>> inflight;
  int i = 0;
  while (!d.closed() && (i < count || !inflight.empty())) {
    while (i < count && inflight.size() < window) {
      const std::string cmid = d.device() + "-" + std::to_string(i++);
      log.sent.push_back(cmid);
      inflight.emplace_back(d.publish("conv/burst", chatSend(cmid, "payload of " + cmid)), cmid);
    }
    auto a = d.awaitAck(inflight.front().first, 5s);
    if (!a) break;  // broker gone
    if (a->reason == 0) {
      log.acked[inflight.front().second] =
          d.version() == 5 ? pubackSeq(*a) : std::optional<uint64_t>{};
      ++total_acked;
    }
    inflight.erase(inflight.begin());
  }
}

TEST(ChatCrash, SigkillMidBurstKeepsEveryAcknowledgedMessageOnce) {
  ChatBroker broker;
  constexpr int kSenders = 10;
  std::vector<std::pair<std::string, std::string>> members = {{"reader", "owner"}};
  for (int s = 0; s < kSenders; ++s) members.emplace_back("s" + std::to_string(s), "member");
  createConversation(broker.adminPort(), "burst", "group", members);

  // The reader's persistent session exists before the burst and is offline during it.
  ChatDevice reader(broker.port(), 5, "reader-phone", "reader");
  ASSERT_TRUE(reader.connect());
  reader.disconnect();

  std::vector<std::unique_ptr<ChatDevice>> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.push_back(std::make_unique<ChatDevice>(
        broker.port(), s % 2 ? 5 : 4, "s" + std::to_string(s) + "-phone", "s" + std::to_string(s)));
    ASSERT_TRUE(senders.back()->connect());
  }
  std::vector<SenderLog> logs(kSenders);
  std::atomic<size_t> total_acked{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      burst(*senders[static_cast<size_t>(s)], 400, 16, logs[static_cast<size_t>(s)], total_acked);
    });
  }
  // Kill while every sender still has messages in flight.
  const bool mid = itest::waitFor([&] { return total_acked >= 800; }, 60s);
  broker.kill();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(mid) << "the burst did not reach 800 acknowledged messages";
  ASSERT_LT(total_acked.load(), size_t{kSenders * 400}) << "the burst ended before the kill";

  broker.restart();
  auto stored = adminHistory(broker.adminPort(), "burst");
  ASSERT_FALSE(stored.empty());
  std::map<std::string, uint64_t> seq_of;  // "user/cmid" -> stored seq
  for (size_t i = 0; i < stored.size(); ++i) {
    const uint64_t seq = stored[i]["seq"].get<uint64_t>();
    ASSERT_EQ(seq, i + 1) << "stored seqs are not gapless from 1";
    if (seq == 1) continue;
    const std::string key =
        stored[i]["sender_user"].get<std::string>() + "/" + stored[i]["cmid"].get<std::string>();
    EXPECT_TRUE(seq_of.emplace(key, seq).second) << key << " stored twice";
  }
  size_t missing = 0;
  for (int s = 0; s < kSenders; ++s) {
    for (const auto& [cmid, ack_seq] : logs[static_cast<size_t>(s)].acked) {
      auto it = seq_of.find("s" + std::to_string(s) + "/" + cmid);
      if (it == seq_of.end()) {
        if (++missing <= 5) ADD_FAILURE() << "acknowledged " << cmid << " lost by the SIGKILL";
        continue;
      }
      if (ack_seq) {
        EXPECT_EQ(*ack_seq, it->second) << cmid << ": PUBACK seq vs stored seq";
      }
    }
  }
  EXPECT_EQ(missing, 0u);

  // Every sender retries whatever it sent without a PUBACK: each gets its original seq if the
  // broker had stored it, a new one otherwise — and nothing is stored twice.
  size_t retried = 0;
  for (int s = 0; s < kSenders; ++s) {
    auto& d = *senders[static_cast<size_t>(s)];
    d.abort();
    ASSERT_TRUE(d.connect(broker.port()));
    for (const auto& cmid : logs[static_cast<size_t>(s)].sent) {
      if (logs[static_cast<size_t>(s)].acked.count(cmid)) continue;
      auto a = d.send("burst", cmid, "payload of " + cmid);
      ASSERT_TRUE(a) << "no PUBACK for the retry of " << cmid;
      EXPECT_EQ(a->reason, 0);
      ++retried;
      auto it = seq_of.find(d.user() + "/" + cmid);
      if (d.version() == 5 && it != seq_of.end()) {
        EXPECT_EQ(pubackSeq(*a), it->second) << "retry of stored " << cmid << " got a new seq";
      }
    }
  }
  EXPECT_GT(retried, 0u);
  auto after = adminHistory(broker.adminPort(), "burst");
  std::set<std::string> keys;
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_EQ(after[i]["seq"].get<uint64_t>(), i + 1);
    if (i == 0) continue;
    EXPECT_TRUE(keys.insert(after[i]["sender_user"].get<std::string>() + "/" +
                            after[i]["cmid"].get<std::string>())
                    .second)
        << "stored twice after the retries: " << after[i]["cmid"];
  }
  size_t total_sent = 0;
  for (const auto& l : logs) total_sent += l.sent.size();
  EXPECT_EQ(keys.size(), total_sent) << "every sent cmid stored exactly once after the retries";

  // The reader was offline throughout: it catches up on the whole log after its offset (1).
  const uint64_t head = after.size();
  ASSERT_TRUE(reader.connect(broker.port()));
  ASSERT_TRUE(reader.waitMessages("burst", static_cast<size_t>(head - 1), 30s))
      << reader.messages("burst").size() << " of " << head - 1;
  reader.poll(300ms);
  const auto& got = reader.messages("burst");
  ASSERT_FALSE(got.empty());
  EXPECT_LE(got.front().seq, 2u) << "catch-up skipped messages after the reader's offset";
  EXPECT_EQ(checkSeqRun(got, got.front().seq, head), "");
}

}  // namespace
}  // namespace chattest
