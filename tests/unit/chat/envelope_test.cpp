// Envelope codec: round trips of ChatSend and ChatMessage, and refusal of bad client payloads.
#include "envelope.hpp"

#include <gtest/gtest.h>

namespace parley::chat {
namespace {

Outgoing textMessage(std::string cmid, std::string body) {
  Outgoing o;
  o.cmid = std::move(cmid);
  o.body = std::move(body);
  return o;
}

TEST(Envelope, ChatSendRoundTrip) {
  Outgoing o = textMessage("m-1", std::string("hi\0there", 8));
  o.reply_to = 41;
  auto d = decodeChatSend(encodeChatSend(o));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, o);

  Outgoing media = textMessage("m-2", "caption");
  media.kind = Kind::Media;
  media.media = MediaInfo{
      "https://cdn.example/x.jpg", "image/jpeg", 12345, std::string(32, '\x7f'), 640, 480, "tiny"};
  auto dm = decodeChatSend(encodeChatSend(media));
  ASSERT_TRUE(dm.ok());
  EXPECT_EQ(*dm, media);
}

TEST(Envelope, ChatSendRefusals) {
  EXPECT_EQ(decodeChatSend("").error().status, ChatStatus::BadRequest);
  EXPECT_EQ(decodeChatSend("not a flatbuffer at all").error().status, ChatStatus::BadRequest);
  EXPECT_FALSE(decodeChatSend(encodeChatSend(textMessage("", "no cmid"))).ok());
  EXPECT_FALSE(decodeChatSend(encodeChatSend(textMessage(std::string(65, 'x'), "long"))).ok());
  EXPECT_FALSE(
      decodeChatSend(encodeChatSend(textMessage("a", std::string(64 * 1024 + 1, 'b')))).ok());
  Outgoing sys = textMessage("s", "");
  sys.kind = Kind::System;
  EXPECT_FALSE(decodeChatSend(encodeChatSend(sys)).ok());
  Outgoing media = textMessage("m", "");
  media.kind = Kind::Media;
  EXPECT_FALSE(decodeChatSend(encodeChatSend(media)).ok());
  // Truncations of a valid payload never decode into garbage (verifier) and never crash.
  const std::string good = encodeChatSend(textMessage("m-1", "hello"));
  for (size_t n = 0; n < good.size(); ++n) (void)decodeChatSend(good.substr(0, n));
}

TEST(Envelope, ChatMessageRoundTrip) {
  Delivered d;
  d.conv = "c1";
  d.seq = 1ull << 40;
  d.sender_user = "alice";
  d.sender_device = "alice-phone";
  d.server_time_ms = 1'700'000'000'000;
  d.content = textMessage("m-1", "hello");
  auto back = decodeChatMessage(encodeChatMessage(d));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);

  Delivered s;
  s.conv = "c1";
  s.seq = 2;
  s.content.kind = Kind::System;
  s.system = SystemInfo{SystemEvent::RoleChanged, "alice", "bob", 1, 0, 0};
  auto sb = decodeChatMessage(encodeChatMessage(s));
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(*sb, s);
}

TEST(Envelope, IdValidation) {
  EXPECT_TRUE(validConversationId("c0ffee_-.X"));
  EXPECT_FALSE(validConversationId(""));
  EXPECT_FALSE(validConversationId("a/b"));
  EXPECT_FALSE(validConversationId("a+"));
  EXPECT_FALSE(validConversationId(std::string(65, 'a')));
  EXPECT_TRUE(validUserId("user@example.com"));
  EXPECT_FALSE(validUserId("a/b"));
  EXPECT_FALSE(validUserId("#"));
  EXPECT_FALSE(validUserId(""));
}

}  // namespace
}  // namespace parley::chat
