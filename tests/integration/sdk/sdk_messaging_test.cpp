// The SDK against the real parleyd: two apps in a direct conversation exchange messages and
// learn their seqs; a non-member's send is refused with a clear NotAuthorized; invalid input is
// refused before anything is sent; read cursors, typing, receipts and presence reach the
// other side.
#include <set>

#include "chat_harness.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

using chattest::ChatBroker;

// Connects several devices at once: Paho's engine makes each sequential connect cost about a
// second once another client exists, concurrent ones share that cost.
void connectAll(std::initializer_list<SdkDevice*> devices) {
  std::vector<std::future<sdk::Result<sdk::ConnectInfo>>> fs;
  for (auto* d : devices) fs.push_back(d->client().connect());
  for (auto& f : fs) {
    auto r = await(std::move(f));
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
}

TEST(SdkChat, DirectConversationExchangeWithSeqs) {
  ChatBroker broker;
  SdkDevice alice(broker.port(), "alice-phone", "alice");
  SdkDevice bob(broker.port(), "bob-phone", "bob");
  connectAll({&alice, &bob});
  // Created while both are online: both follow it from seq 1 (ConversationCreated).
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  ASSERT_TRUE(alice.waitMessages("ab", 1));
  ASSERT_TRUE(bob.waitMessages("ab", 1));
  EXPECT_EQ(bob.messages("ab")[0].kind, sdk::MessageKind::System);
  ASSERT_TRUE(bob.messages("ab")[0].system.has_value());
  EXPECT_EQ(bob.messages("ab")[0].system->event, sdk::SystemEvent::ConversationCreated);

  // Both type at once; each send resolves with its own seq, all distinct, 2..21.
  constexpr int kEach = 10;
  std::vector<std::future<sdk::Result<sdk::SendReceipt>>> fa, fb;
  for (int i = 0; i < kEach; ++i) {
    fa.push_back(alice->send("ab", "from alice " + std::to_string(i)));
    fb.push_back(bob->send("ab", "from bob " + std::to_string(i)));
  }
  std::map<uint64_t, std::string> sent;  // seq -> cmid
  std::vector<uint64_t> alice_seqs;
  for (auto* list : {&fa, &fb}) {
    for (auto& f : *list) {
      auto r = await(std::move(f));
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r.value().conv, "ab");
      EXPECT_EQ(r.value().cmid.size(), 26u);
      EXPECT_GE(r.value().seq, 2u);
      EXPECT_TRUE(sent.emplace(r.value().seq, r.value().cmid).second)
          << "seq " << r.value().seq << " given twice";
      if (list == &fa) alice_seqs.push_back(r.value().seq);
    }
  }
  EXPECT_EQ(sent.begin()->first, 2u);
  EXPECT_EQ(sent.rbegin()->first, 1u + 2 * kEach);
  // One sender's messages are stored in the order it sent them.
  EXPECT_TRUE(std::is_sorted(alice_seqs.begin(), alice_seqs.end()));

  // Every device gets the whole conversation, in order, once — its own messages included.
  for (auto* d : {&alice, &bob}) {
    ASSERT_TRUE(d->waitMessages("ab", 1 + 2 * kEach)) << d->options().device_id;
    auto got = d->messages("ab");
    EXPECT_EQ(checkSeqRun(got, 1, 1 + 2 * kEach), "") << d->options().device_id;
    for (const auto& m : got) {
      if (m.seq < 2) continue;
      EXPECT_EQ(m.cmid, sent[m.seq]) << "seq " << m.seq;
      EXPECT_EQ(m.kind, sdk::MessageKind::Text);
      EXPECT_EQ(m.sender_device, m.sender_user + "-phone");
      EXPECT_GT(m.server_time_ms, 0);
    }
  }
  EXPECT_EQ(alice.messages("ab")[2].body, bob.messages("ab")[2].body);
  EXPECT_EQ(alice->lastSeq("ab"), 1u + 2 * kEach);

  // The broker stored each message once.
  EXPECT_EQ(chattest::adminHistory(broker.adminPort(), "ab").size(), 1u + 2 * kEach);
}

TEST(SdkChat, NonMemberGetsNotAuthorized) {
  ChatBroker broker;
  chattest::createConversation(broker.adminPort(), "team", "group",
                               {{"alice", "owner"}, {"bob", "member"}});
  SdkDevice carol(broker.port(), "carol-phone", "carol");
  carol.connect();

  auto r = await(carol->send("team", "let me in"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sdk::ErrorCode::NotAuthorized) << r.error().message;
  EXPECT_EQ(r.error().reason_code, 0x87);
  EXPECT_FALSE(r.error().retryable());

  // No such conversation: the same answer (the broker does not reveal which).
  r = await(carol->send("no-such-conv", "hello?"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sdk::ErrorCode::NotAuthorized);

  // Reading is refused too, as are receipts and presence of strangers.
  auto h = await(carol->history("team"));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, sdk::ErrorCode::NotAuthorized) << h.error().message;
  auto p = await(carol->subscribePresence("alice"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, sdk::ErrorCode::NotAuthorized);
  EXPECT_EQ(p.error().reason_code, 0x87);
  auto rd = await(carol->markRead("team", 1));
  ASSERT_FALSE(rd.ok());
  EXPECT_EQ(rd.error().code, sdk::ErrorCode::NotAuthorized);

  // Refused locally, before anything is sent.
  r = await(carol->send("bad/conv", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sdk::ErrorCode::InvalidArgument);
  r = await(carol->send("team", std::string(64 * 1024 + 1, 'x')));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sdk::ErrorCode::InvalidArgument);
  sdk::OutgoingMessage media;
  media.conv = "team";
  media.kind = sdk::MessageKind::Media;  // without media.url
  r = await(carol->send(media));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sdk::ErrorCode::InvalidArgument);

  // The connection survived every refusal (5.0 answers with reason codes), and nothing of
  // carol's was stored.
  EXPECT_TRUE(carol->connected());
  for (const auto& m : chattest::adminHistory(broker.adminPort(), "team")) {
    EXPECT_NE(m.value("sender_user", ""), "carol");
  }
}

TEST(SdkChat, ReadTypingReceiptsAndPresence) {
  ChatBroker broker({"--receipts-interval-ms", "100", "--typing-interval-ms", "50"});
  chattest::createConversation(broker.adminPort(), "team", "group",
                               {{"alice", "owner"}, {"bob", "member"}});
  SdkDevice alice(broker.port(), "alice-phone", "alice");
  SdkDevice bob(broker.port(), "bob-phone", "bob");
  connectAll({&alice, &bob});

  // Presence: the retained state on subscribe, then the change when alice leaves.
  ASSERT_TRUE(await(bob->subscribePresence("alice")).ok());
  ASSERT_TRUE(bob.waitUntil([&] {
    for (const auto& p : bob.presence()) {
      if (p.user == "alice" && p.online) return true;
    }
    return false;
  }));

  // Media and a reply, as sent, come back as sent.
  sdk::OutgoingMessage m;
  m.conv = "team";
  m.kind = sdk::MessageKind::Media;
  m.body = "caption";
  m.media = sdk::MediaRef{
      "https://cdn.example/x.jpg", "image/jpeg", 1234, std::string(32, 'h'), 640, 480, "thumb"};
  auto sent = await(alice->send(m));
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  ASSERT_TRUE(bob.waitUntil([&] { return !bob.chatSeqs("team").empty(); }));
  const auto got = bob.messages("team").back();
  EXPECT_EQ(got.seq, sent.value().seq);
  ASSERT_TRUE(got.media.has_value());
  EXPECT_EQ(got.media->url, "https://cdn.example/x.jpg");
  EXPECT_EQ(got.media->width, 640u);
  EXPECT_EQ(got.media->sha256, std::string(32, 'h'));
  EXPECT_EQ(got.body, "caption");

  // Typing: alice's signal reaches bob (never her own connection).
  alice->typing("team");
  ASSERT_TRUE(bob.waitUntil([&] {
    for (const auto& t : bob.typing()) {
      if (t.user == "alice" && t.conv == "team" && t.typing()) return true;
    }
    return false;
  }));

  // Read cursor: bob marks the message read; alice gets a receipt with bob's read_seq.
  ASSERT_TRUE(await(bob->markRead("team", sent.value().seq)).ok());
  ASSERT_TRUE(alice.waitUntil([&] {
    for (const auto& r : alice.receipts()) {
      for (const auto& c : r.cursors) {
        if (r.conv == "team" && c.user == "bob" && c.read_seq == sent.value().seq) return true;
      }
    }
    return false;
  }));
  auto rc = await(alice->receipts("team"));
  ASSERT_TRUE(rc.ok()) << rc.error().message;
  bool bob_read = false;
  for (const auto& c : rc.value().cursors) {
    if (c.user == "bob") bob_read = c.read_seq == sent.value().seq;
  }
  EXPECT_TRUE(bob_read);

  // Alice leaves cleanly: offline at once.
  ASSERT_TRUE(await(alice->disconnect()).ok());
  EXPECT_FALSE(alice->connected());
  ASSERT_TRUE(bob.waitUntil([&] {
    auto ps = bob.presence();
    return !ps.empty() && ps.back().user == "alice" && !ps.back().online;
  }));
}

}  // namespace
}  // namespace sdktest
