// Acceptance: a 50-member group, 3 devices per member (150 persistent sessions, half MQTT 3.1.1
// and half 5.0, raw clients), four senders with many messages in flight: every device receives
// every message once, in seq order, gapless.
#include <set>

#include "chat_harness.hpp"

namespace chattest {
namespace {

TEST(ChatGroup, FiftyMembersThreeDevicesEachGetEverythingInOrder) {
  ChatBroker broker;
  constexpr int kMembers = 50, kDevicesPerMember = 3, kSenders = 4, kPerSender = 25;
  std::vector<std::unique_ptr<ChatDevice>> devices;
  std::vector<ChatDevice*> all;
  std::vector<std::pair<std::string, std::string>> members;
  for (int m = 0; m < kMembers; ++m) {
    const std::string user = "u" + std::to_string(m);
    members.emplace_back(user, m == 0 ? "owner" : "member");
    for (int d = 0; d < kDevicesPerMember; ++d) {
      const int version = (m + d) % 2 ? 5 : 4;
      devices.push_back(std::make_unique<ChatDevice>(broker.port(), version,
                                                     user + "-d" + std::to_string(d), user));
      auto ack = devices.back()->connect();
      ASSERT_TRUE(ack) << "no CONNACK for " << devices.back()->device();
      ASSERT_EQ(ack->code, 0);
      all.push_back(devices.back().get());
    }
  }
  createConversation(broker.adminPort(), "big", "group", members);

  // Senders: the first device of members 0..3, all messages pipelined.
  std::map<ChatDevice*, std::vector<std::pair<uint16_t, std::string>>> pending;
  for (int s = 0; s < kSenders; ++s) {
    ChatDevice* d = devices[static_cast<size_t>(s * kDevicesPerMember)].get();
    for (int i = 0; i < kPerSender; ++i) {
      const std::string cmid = d->user() + "-" + std::to_string(i);
      pending[d].emplace_back(d->publish("conv/big", chatSend(cmid, "body " + cmid)), cmid);
    }
  }
  const size_t last = 1 + kSenders * kPerSender;
  const bool done = pollAll(
      all,
      [&] {
        for (auto* d : all) {
          if (d->messages("big").size() < last) return false;
        }
        return true;
      },
      60s);
  std::set<uint64_t> acked;
  for (auto& [d, list] : pending) {
    for (auto& [id, cmid] : list) {
      auto ack = d->awaitAck(id, 5s);
      ASSERT_TRUE(ack) << "no PUBACK for " << cmid;
      EXPECT_EQ(ack->reason, 0) << cmid;
      if (d->version() == 5) {
        auto seq = pubackSeq(*ack);
        ASSERT_TRUE(seq) << "no seq on the PUBACK of " << cmid;
        EXPECT_TRUE(acked.insert(*seq).second) << "seq " << *seq << " acknowledged twice";
      }
    }
  }
  // A straggler duplicate would arrive now.
  pollAll(
      all, [] { return false; }, 300ms);
  size_t bad = 0;
  for (auto* d : all) {
    const std::string err = checkSeqRun(d->messages("big"), 1, last);
    if (!err.empty() && ++bad <= 5) ADD_FAILURE() << d->device() << ": " << err;
  }
  EXPECT_EQ(bad, 0u) << "devices with a wrong stream";
  EXPECT_TRUE(done) << "not every device received all " << last << " messages within 60 s";
  // Every device saw the same message at each seq.
  const auto& ref = all[0]->messages("big");
  for (auto* d : all) {
    const auto& got = d->messages("big");
    for (size_t i = 0; i < std::min(ref.size(), got.size()); ++i) {
      if (got[i].cmid != ref[i].cmid) {
        ADD_FAILURE() << d->device() << " seq " << got[i].seq << ": cmid " << got[i].cmid << " vs "
                      << ref[i].cmid;
        break;
      }
    }
  }
}

}  // namespace
}  // namespace chattest
