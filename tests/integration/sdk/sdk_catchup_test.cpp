// Offline catch-up through the SDK: a device that was cut off receives what was sent meanwhile,
// in order, and the app is handed no message twice although the broker redelivers (the device's
// acknowledgements were lost, so its offset stayed behind). Then the app quits and restarts:
// the persistent session — which exists only if the Session Expiry Interval reached the
// broker — streams what was sent while the app was gone.
#include "chat_harness.hpp"
#include "fault_proxy.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

using chattest::ChatBroker;

void sendMany(SdkDevice& d, const std::string& conv, int n, const std::string& prefix) {
  std::vector<std::future<sdk::Result<sdk::SendReceipt>>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(d->send(conv, prefix + std::to_string(i)));
  for (auto& f : fs) {
    auto r = await(std::move(f));
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
}

TEST(SdkCatchUp, OfflineDeviceGetsEverythingInOrderWithoutDuplicates) {
  ChatBroker broker;
  FaultProxy proxy(broker.port());
  SdkDevice alice(broker.port(), "alice-phone", "alice");
  SdkDevice bob(proxy.port(), "bob-phone", "bob");
  {
    auto fa = alice->connect();
    auto fb = bob->connect();
    ASSERT_TRUE(await(std::move(fa)).ok());
    auto rb = await(std::move(fb));
    ASSERT_TRUE(rb.ok());
    EXPECT_FALSE(rb.value().session_present);  // a new device
  }
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  // 1) Online: seq 1 (created) and 2..6.
  sendMany(alice, "ab", 5, "live-");
  ASSERT_TRUE(bob.waitMessages("ab", 6));

  // 2) Bob's acknowledgements stop reaching the broker: bob's app gets 7..11, the broker's
  //    offset for bob stays at 6.
  proxy.setSwallowUpstream(true);
  sendMany(alice, "ab", 5, "unacked-");
  ASSERT_TRUE(bob.waitMessages("ab", 11));
  const int publishes_before_cut = proxy.publishesForwarded();

  // 3) Bob is cut off and cannot come back; alice sends 12..21.
  proxy.setRefuse(true);
  proxy.cutAll();
  ASSERT_TRUE(bob.waitConnected(false));
  proxy.setSwallowUpstream(false);
  sendMany(alice, "ab", 10, "offline-");

  // 4) Bob returns: the broker replays from its offset (7..11 again, then 12..21); the app
  //    sees only 12..21, in order.
  proxy.setRefuse(false);
  ASSERT_TRUE(bob.waitConnected(true, 15s));
  ASSERT_TRUE(bob.waitMessages("ab", 21));
  EXPECT_TRUE(bob.connectionEvents().back().session_present);
  // The redelivery did happen (so the filter had something to drop): at least the 5
  // unacknowledged and the 10 new ones came through the proxy after the cut.
  ASSERT_TRUE(
      bob.waitUntil([&] { return proxy.publishesForwarded() - publishes_before_cut >= 15; }));
  auto got = bob.messages("ab");
  EXPECT_EQ(checkSeqRun(got, 1, 21), "");
  EXPECT_EQ(got[20].body, "offline-9");

  // 5) Bob's app quits; alice sends 22..26; bob's app starts again, seeded with the last seq
  //    it stored, and catches up from the broker's offset.
  bob.restartApp();
  bob->setLastSeq("ab", 21);
  sendMany(alice, "ab", 5, "while-closed-");
  EXPECT_TRUE(bob.connect()) << "no session on the broker: the session expiry did not arrive";
  ASSERT_TRUE(bob.waitMessages("ab", 21 + 5));
  got = bob.messages("ab");
  std::vector<sdk::Message> after(got.begin() + 21, got.end());
  EXPECT_EQ(checkSeqRun(after, 22, 26), "");
  // Nothing more is coming: history agrees on the head.
  auto page = await(bob->history("ab", 0, 1));
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page.value().head_seq, 26u);
  EXPECT_EQ(bob.messages("ab").size(), 26u);
}

}  // namespace
}  // namespace sdktest
