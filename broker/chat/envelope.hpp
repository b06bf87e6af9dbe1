// Envelope codec: schema/chat.fbs payloads <-> plain values. Pure functions over bytes, no I/O.
// decodeChatSend verifies the flatbuffer before reading it (a client's payload is untrusted);
// encodeChatMessage builds the bytes that are stored once and then delivered, replayed and
// returned by history unchanged.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat_error.hpp"
#include "chat_generated.h"
#include "result.hpp"

namespace parley::chat {

using Kind = fb::Kind;
using SystemEvent = fb::SystemEvent;

constexpr size_t kMaxCmidBytes = 64;
constexpr size_t kMaxBodyBytes = 64 * 1024;

struct MediaInfo {
  std::string url, mime;
  uint64_t size = 0;
  std::string sha256;
  uint32_t width = 0, height = 0;
  std::string thumbnail;
  bool operator==(const MediaInfo&) const = default;
};

// What a client sends (ChatSend).
struct Outgoing {
  std::string cmid;
  Kind kind = Kind::Text;
  std::string body;
  std::optional<MediaInfo> media;
  uint64_t reply_to = 0;
  bool operator==(const Outgoing&) const = default;
};

struct SystemInfo {
  SystemEvent event = SystemEvent::ConversationCreated;
  std::string actor, subject;
  uint8_t role = 0, old_role = 0;  // chat.fbs Role
  uint64_t floor_seq = 0;
  bool operator==(const SystemInfo&) const = default;
};

// A decoded ChatMessage (what members receive).
struct Delivered {
  std::string conv;
  uint64_t seq = 0;
  std::string sender_user, sender_device;
  int64_t server_time_ms = 0;
  Outgoing content;  // cmid, kind, body, media, reply_to
  std::optional<SystemInfo> system;
  bool operator==(const Delivered&) const = default;
};

// Verifies and decodes a ChatSend; refuses a missing or oversized cmid, an oversized body, kind
// System (broker-only) and a Media message without a media url.
Result<Outgoing, ChatError> decodeChatSend(std::string_view payload);
std::string encodeChatSend(const Outgoing& o);

std::string encodeChatMessage(const Delivered& m);
Result<Delivered, ChatError> decodeChatMessage(std::string_view payload);

// Ephemeral and presence payloads (chat layer II).
constexpr size_t kMaxTypingStateBytes = 64;
struct TypingInfo {
  std::string conv, user, device, state;
  bool operator==(const TypingInfo&) const = default;
};
std::string encodeTyping(const TypingInfo& t);
Result<TypingInfo, ChatError> decodeTyping(std::string_view payload);

struct PresenceInfo {
  std::string user;
  bool online = false;
  uint32_t devices = 0;
  int64_t last_seen_ms = 0;
  bool operator==(const PresenceInfo&) const = default;
};
std::string encodePresence(const PresenceInfo& p);
Result<PresenceInfo, ChatError> decodePresence(std::string_view payload);

// Receipts (chat layer II).
struct MemberReceipt {
  std::string user;
  uint64_t delivered = 0, read = 0;
  bool operator==(const MemberReceipt&) const = default;
};
struct ReceiptsInfo {
  std::string conv;
  std::vector<MemberReceipt> cursors;
  bool operator==(const ReceiptsInfo&) const = default;
};
std::string encodeReceipts(const ReceiptsInfo& r);
Result<ReceiptsInfo, ChatError> decodeReceipts(std::string_view payload);
// conv/{id}/read: a ReadCursor {conv, seq}.
std::string encodeReadCursor(std::string_view conv, uint64_t seq);
Result<uint64_t, ChatError> decodeReadCursor(std::string_view payload);

// Checks used by the directory and the admin API: ids that are safe as a topic level.
bool validConversationId(std::string_view id);  // 1..64 of [A-Za-z0-9_.-]
bool validUserId(std::string_view id);          // 1..128 bytes, no '/', '+', '#', NUL

}  // namespace parley::chat
