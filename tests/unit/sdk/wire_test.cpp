// The SDK's wire codec against the generated schema: what it encodes is what the schema
// reads, what the broker's tables hold decodes to the right values, and untrusted bytes are
// refused rather than read.
#include "wire.hpp"

#include <gtest/gtest.h>

#include "chat_generated.h"

namespace parley::sdk {
namespace {

namespace fb = parley::chat::fb;

std::string finish(flatbuffers::FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

TEST(Wire, ChatSendCarriesEverything) {
  OutgoingMessage m;
  m.conv = "team";
  m.cmid = "01ABC";
  m.kind = MessageKind::Media;
  m.body = std::string("cap\0tion", 8);  // bytes, not a C string
  m.media = MediaRef{"https://x/y", "image/png", 42, std::string(32, '\x01'), 3, 4, "th"};
  m.reply_to = 9;
  const std::string bytes = wire::encodeChatSend(m);
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  ASSERT_TRUE(v.VerifyBuffer<fb::ChatSend>(nullptr));
  const auto* t = flatbuffers::GetRoot<fb::ChatSend>(bytes.data());
  EXPECT_EQ(t->cmid()->str(), "01ABC");
  EXPECT_EQ(t->kind(), fb::Kind::Media);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->body()->data()), t->body()->size()),
            m.body);
  EXPECT_EQ(t->media()->url()->str(), "https://x/y");
  EXPECT_EQ(t->media()->size(), 42u);
  EXPECT_EQ(t->media()->sha256()->size(), 32u);
  EXPECT_EQ(t->reply_to(), 9u);
}

TEST(Wire, ChatMessageAndHistoryDecode) {
  flatbuffers::FlatBufferBuilder b;
  auto sys = fb::CreateSystemPayloadDirect(b, fb::SystemEvent::MemberAdded, "alice", "carol",
                                           fb::Role::Admin);
  b.Finish(fb::CreateChatMessageDirect(b, "team", 7, "", "", 123, "", fb::Kind::System, nullptr, 0,
                                       0, sys));
  const std::string stored = finish(b);
  auto m = wire::decodeChatMessage(stored);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->conv, "team");
  EXPECT_EQ(m->seq, 7u);
  EXPECT_EQ(m->kind, MessageKind::System);
  ASSERT_TRUE(m->system);
  EXPECT_EQ(m->system->event, SystemEvent::MemberAdded);
  EXPECT_EQ(m->system->subject, "carol");
  EXPECT_EQ(m->system->role, Role::Admin);
  EXPECT_FALSE(m->media);

  flatbuffers::FlatBufferBuilder h;
  std::vector<uint8_t> raw(stored.begin(), stored.end());
  std::vector<flatbuffers::Offset<fb::StoredChatMessage>> list{
      fb::CreateStoredChatMessageDirect(h, &raw)};
  h.Finish(fb::CreateHistoryResponseDirect(h, "team", &list, 7, 1, true));
  auto page = wire::decodeHistory(finish(h));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->head_seq, 7u);
  EXPECT_TRUE(page->has_more);
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].seq, 7u);
}

TEST(Wire, UntrustedBytesAreRefused) {
  EXPECT_FALSE(wire::decodeChatMessage(""));
  EXPECT_FALSE(wire::decodeChatMessage("xy"));
  EXPECT_FALSE(wire::decodeChatMessage(std::string(64, '\xff')));
  EXPECT_FALSE(wire::decodeHistory(std::string(16, '\x10')));
  EXPECT_FALSE(wire::decodePresence("\x04\x00\x00"));
  EXPECT_EQ(wire::decodeRpcError("junk").code, ErrorCode::Protocol);
}

TEST(Wire, RpcErrorsAndReasonCodesMapToClearErrors) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateRpcErrorDirect(b, fb::RpcErrorCode::NotMember, "not a member of team"));
  const Error e = wire::decodeRpcError(finish(b));
  EXPECT_EQ(e.code, ErrorCode::NotAuthorized);
  EXPECT_EQ(e.message, "not a member of team");

  EXPECT_EQ(wire::reasonError(0x87, "send").code, ErrorCode::NotAuthorized);
  EXPECT_EQ(wire::reasonError(0x99, "send").code, ErrorCode::InvalidPayload);
  EXPECT_EQ(wire::reasonError(0x88, "send").code, ErrorCode::ServerUnavailable);
  EXPECT_TRUE(wire::reasonError(0x88, "send").retryable());
  EXPECT_EQ(wire::reasonError(0x97, "send").code, ErrorCode::QuotaExceeded);
  const Error other = wire::reasonError(0x90, "send to conv/x");
  EXPECT_EQ(other.code, ErrorCode::Refused);
  EXPECT_EQ(other.reason_code, 0x90);
  EXPECT_NE(other.message.find("0x90"), std::string::npos);
}

TEST(Wire, LocalChecksAndTopics) {
  EXPECT_TRUE(wire::validConvId("team-1.a_b"));
  EXPECT_FALSE(wire::validConvId(""));
  EXPECT_FALSE(wire::validConvId("a/b"));
  EXPECT_FALSE(wire::validConvId("+"));
  EXPECT_FALSE(wire::validConvId(std::string(65, 'a')));
  EXPECT_TRUE(wire::validUserId("carol@example.com"));
  EXPECT_FALSE(wire::validUserId("a#b"));
  EXPECT_FALSE(wire::validUserId(std::string("a\0b", 3)));

  OutgoingMessage ok;
  ok.conv = "team";
  ok.body = "hi";
  EXPECT_EQ(wire::checkOutgoing(ok), "");
  OutgoingMessage sys = ok;
  sys.kind = MessageKind::System;
  EXPECT_NE(wire::checkOutgoing(sys), "");
  OutgoingMessage big = ok;
  big.body.assign(64 * 1024 + 1, 'x');
  EXPECT_NE(wire::checkOutgoing(big), "");
  OutgoingMessage long_cmid = ok;
  long_cmid.cmid.assign(65, 'c');
  EXPECT_NE(wire::checkOutgoing(long_cmid), "");

  std::string key;
  EXPECT_EQ(wire::classify("conv/team", "dev", &key), wire::Inbound::ChatMessage);
  EXPECT_EQ(key, "team");
  EXPECT_EQ(wire::classify("conv/team/receipts", "dev", &key), wire::Inbound::Receipts);
  EXPECT_EQ(wire::classify("conv/team/typing", "dev", &key), wire::Inbound::Typing);
  EXPECT_EQ(wire::classify("conv/team/read", "dev", &key), wire::Inbound::Other);
  EXPECT_EQ(wire::classify("presence/bob", "dev", &key), wire::Inbound::Presence);
  EXPECT_EQ(key, "bob");
  EXPECT_EQ(wire::classify("rpc/reply/dev", "dev", &key), wire::Inbound::RpcReply);
  EXPECT_EQ(wire::classify("rpc/reply/dev/error", "dev", &key), wire::Inbound::RpcReply);
  EXPECT_EQ(wire::classify("rpc/reply/device2", "dev", &key), wire::Inbound::Other);
  EXPECT_EQ(wire::classify("chat/x", "dev", &key), wire::Inbound::Other);
}

}  // namespace
}  // namespace parley::sdk
