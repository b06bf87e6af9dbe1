// Acceptance: a 1:1 (direct) conversation over MQTT 3.1.1 and 5.0. Two users with two devices
// each — one raw client, one Paho MQTT C++ client — all persistent sessions that existed before
// the conversation was created. Every device receives every message exactly once, in seq order,
// gapless from the ConversationCreated system message (seq 1); 5.0 PUBACKs carry the seq.
#include <set>

#include "chat_harness.hpp"

namespace chattest {
namespace {

using itest::PahoClient;

class ChatDirect : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
};

// Connects Paho clients with persistent sessions and a user name concurrently (Paho's async
// engine makes sequential connects slow).
void connectPersistent(const std::vector<std::pair<PahoClient*, std::string>>& clients) {
  std::vector<mqtt::token_ptr> toks;
  std::vector<mqtt::connect_options> opts;
  for (auto& [c, user] : clients) {
    auto b = c->options(false);
    b.user_name(user);
    if (c->version() == 5) {
      b.properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 3600)});
    }
    opts.push_back(b.finalize());
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    // Keep the properties alive for the whole connect (see PahoClient::connect).
    mqtt::properties props = opts[i].get_properties();
    if (clients[i].first->version() == 5) opts[i].set_properties(props);
    toks.push_back(clients[i].first->raw().connect(opts[i]));
  }
  for (auto& t : toks) {
    ASSERT_TRUE(t->wait_for(std::chrono::seconds(10))) << "Paho connect timed out";
  }
}

// Drains a Paho client into ChatMsgs until it has n for `conv` or timeout.
void collectPaho(PahoClient& c, const std::string& conv, std::vector<ChatMsg>& out, size_t n,
                 Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    auto m = c.next(left);
    if (!m) return;
    // Receipts (conv/{id}/receipts) and typing share the connection; only messages count here.
    if (m->get_topic() != "conv/" + conv) continue;
    EXPECT_EQ(m->get_qos(), 1) << "chat deliveries are QoS 1";
    out.push_back(decodeChatMessage(m->to_string()));
  }
}

TEST_P(ChatDirect, EveryDeviceGetsEveryMessageOnceInOrder) {
  ChatBroker broker;
  // Devices first: their persistent sessions exist before the conversation does, so each of
  // them must receive the whole log from seq 1.
  ChatDevice alice_phone(broker.port(), v(), "alice-phone", "alice");
  ChatDevice bob_phone(broker.port(), v(), "bob-phone", "bob");
  ASSERT_TRUE(alice_phone.connect());
  ASSERT_TRUE(bob_phone.connect());
  PahoClient alice_laptop(broker.port(), "alice-laptop", v());
  PahoClient bob_tablet(broker.port(), "bob-tablet", v());
  connectPersistent({{&alice_laptop, "alice"}, {&bob_tablet, "bob"}});

  auto conv = createConversation(broker.adminPort(), "dm-ab", "direct",
                                 {{"alice", "member"}, {"bob", "member"}});
  ASSERT_EQ(conv.value("head_seq", 0), 1);

  // 20 rounds: alice and bob each send one message per round, both in flight at once.
  constexpr int kRounds = 20;
  std::map<std::string, uint64_t> acked_seq;  // cmid -> seq from the 5.0 PUBACK
  for (int i = 0; i < kRounds; ++i) {
    const std::string ca = "a-" + std::to_string(i), cb = "b-" + std::to_string(i);
    const uint16_t ia = alice_phone.publish("conv/dm-ab", chatSend(ca, "hi bob " + ca));
    const uint16_t ib = bob_phone.publish("conv/dm-ab", chatSend(cb, "hi alice " + cb));
    auto aa = alice_phone.awaitAck(ia);
    auto ab = bob_phone.awaitAck(ib);
    ASSERT_TRUE(aa && ab) << "no PUBACK in round " << i;
    EXPECT_EQ(aa->reason, 0);
    EXPECT_EQ(ab->reason, 0);
    if (v() == 5) {
      auto sa = pubackSeq(*aa), sb = pubackSeq(*ab);
      ASSERT_TRUE(sa && sb) << "5.0 PUBACK without a decimal `seq` user property";
      acked_seq[ca] = *sa;
      acked_seq[cb] = *sb;
    }
  }
  const uint64_t last = 1 + 2 * kRounds;

  std::vector<ChatMsg> laptop, tablet;
  collectPaho(alice_laptop, "dm-ab", laptop, last, 10s);
  collectPaho(bob_tablet, "dm-ab", tablet, last, 10s);
  ASSERT_TRUE(pollAll(
      {&alice_phone, &bob_phone},
      [&] {
        return alice_phone.messages("dm-ab").size() >= last &&
               bob_phone.messages("dm-ab").size() >= last;
      },
      10s));
  // Nothing more may arrive: a duplicate would show up here.
  std::vector<ChatMsg> extra;
  collectPaho(alice_laptop, "dm-ab", extra, 1, 300ms);
  EXPECT_TRUE(extra.empty());
  alice_phone.poll(100ms);
  bob_phone.poll(0ms);
  std::vector<ChatMsg> rest;
  collectPaho(bob_tablet, "dm-ab", rest, 1, 0ms);
  EXPECT_TRUE(rest.empty());

  const std::vector<std::pair<std::string, const std::vector<ChatMsg>*>> all = {
      {"alice-phone", &alice_phone.messages("dm-ab")},
      {"bob-phone", &bob_phone.messages("dm-ab")},
      {"alice-laptop", &laptop},
      {"bob-tablet", &tablet}};
  for (const auto& [name, msgs] : all) {
    SCOPED_TRACE(name);
    EXPECT_EQ(checkSeqRun(*msgs, 1, last), "");
    if (msgs->size() != last) continue;
    EXPECT_EQ((*msgs)[0].kind, fb::Kind::System);
    EXPECT_EQ((*msgs)[0].event, fb::SystemEvent::ConversationCreated);
    std::set<std::string> cmids;
    int64_t prev_time = 0;
    for (const auto& m : *msgs) {
      EXPECT_EQ(m.conv, "dm-ab");
      EXPECT_GE(m.server_time_ms, prev_time) << "server time went back at seq " << m.seq;
      prev_time = m.server_time_ms;
      if (m.seq == 1) continue;
      EXPECT_EQ(m.kind, fb::Kind::Text);
      EXPECT_TRUE(cmids.insert(m.cmid).second) << "cmid twice: " << m.cmid;
      const bool from_alice = m.cmid.rfind("a-", 0) == 0;
      EXPECT_EQ(m.sender_user, from_alice ? "alice" : "bob");
      EXPECT_EQ(m.sender_device, from_alice ? "alice-phone" : "bob-phone");
      EXPECT_EQ(m.body, (from_alice ? "hi bob " : "hi alice ") + m.cmid);
      if (v() == 5) {
        EXPECT_EQ(acked_seq[m.cmid], m.seq) << "PUBACK seq vs delivered seq";
      }
    }
    EXPECT_EQ(cmids.size(), 2u * kRounds);
  }
  // Each sender's own messages are stored in its send order.
  if (v() == 5) {
    for (int i = 1; i < kRounds; ++i) {
      EXPECT_LT(acked_seq["a-" + std::to_string(i - 1)], acked_seq["a-" + std::to_string(i)]);
    }
  }
}

ITEST_VERSIONS(ChatDirect);

}  // namespace
}  // namespace chattest
