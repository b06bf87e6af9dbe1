// System messages reach the app through on_message in seq order with the chat messages:
// a member added while online, and — for a device that was away while retention trimmed the
// log — the HistoryTrimmed notice (seq 0, with the floor) before catch-up resumes at the floor.
#include "chat_harness.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

using chattest::ChatBroker;

TEST(SdkSystem, MemberAddedAndHistoryTrimmedAreSurfaced) {
  ChatBroker broker({"--retention-interval", "1"});
  chattest::json members = chattest::json::array();
  members.push_back({{"user", "alice"}, {"role", "owner"}});
  members.push_back({{"user", "bob"}, {"role", "member"}});
  chattest::json req = {{"id", "team"}, {"kind", "group"}, {"members", members}};
  req["retention"] = {{"max_age_s", 0}, {"max_count", 5}};
  auto created = chattest::adminCall(broker.adminPort(), "POST", "/v1/conversations", req);
  ASSERT_EQ(created.status, 201) << created.body;
  SdkDevice alice(broker.port(), "alice-phone", "alice");
  SdkDevice bob(broker.port(), "bob-phone", "bob");
  alice.connect();
  bob.connect();

  // A membership change while bob is online: a system message in the log's order.
  const uint64_t added = chattest::addMember(broker.adminPort(), "team", "carol");
  ASSERT_TRUE(bob.waitUntil([&] {
    auto ms = bob.messages("team");
    return !ms.empty() && ms.back().seq == added;
  }));
  const auto m = bob.messages("team").back();
  EXPECT_EQ(m.kind, sdk::MessageKind::System);
  ASSERT_TRUE(m.system.has_value());
  EXPECT_EQ(m.system->event, sdk::SystemEvent::MemberAdded);
  EXPECT_EQ(m.system->subject, "carol");
  EXPECT_EQ(m.sender_user, "");

  // Bob's app quits; alice sends 20; retention keeps the newest 5.
  bob.quit();
  std::vector<std::future<sdk::Result<sdk::SendReceipt>>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(alice->send("team", "m" + std::to_string(i)));
  uint64_t head = 0;
  for (auto& f : fs) {
    auto r = await(std::move(f));
    ASSERT_TRUE(r.ok()) << r.error().message;
    head = std::max(head, r.value().seq);
  }
  uint64_t floor = 0;
  ASSERT_TRUE(itest::waitFor(
      [&] {
        auto c = chattest::adminCall(broker.adminPort(), "GET", "/v1/conversations/team");
        floor = c.body.value("floor_seq", uint64_t{0});
        return floor == head - 4;
      },
      15s, 50ms))
      << "retention did not trim to 5 messages (floor " << floor << ", head " << head << ")";

  // Bob comes back (the app remembers it had seen up to `added`): first the notice, then the
  // kept messages floor..head, in order.
  SdkDevice bob2(broker.port(), "bob-phone", "bob");
  bob2->setLastSeq("team", added);
  bob2.connect();
  ASSERT_TRUE(bob2.waitUntil([&] {
    auto ms = bob2.messages("team");
    return !ms.empty() && ms.back().seq == head;
  })) << "caught up to "
      << bob2->lastSeq("team") << " of " << head;
  auto got = bob2.messages("team");
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 0u);
  ASSERT_TRUE(got[0].system.has_value());
  EXPECT_EQ(got[0].system->event, sdk::SystemEvent::HistoryTrimmed);
  EXPECT_EQ(got[0].system->floor_seq, floor);
  std::vector<sdk::Message> kept(got.begin() + 1, got.end());
  EXPECT_EQ(checkSeqRun(kept, floor, head), "");
}

}  // namespace
}  // namespace sdktest
