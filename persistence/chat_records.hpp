// The chat layer's durable records: conversations, members, the per-conversation message log,
// dedup entries and per-device offsets. Plain values like records.hpp; rocksdb_store.cpp owns
// their encoding and key layout (persistence/README.md, "Chat keys").
#pragma once
#include <cstdint>
#include <string>

namespace parley::store {

// Numeric values equal those of schema/chat.fbs (ConversationKind, Role, Kind), so the chat
// layer converts with a cast.
enum class ConversationKind : uint8_t { Direct = 0, Group = 1, Channel = 2 };
enum class MemberRole : uint8_t { Member = 0, Admin = 1, Owner = 2, ReadOnly = 3 };

struct Conversation {
  std::string id;
  ConversationKind kind = ConversationKind::Group;
  int64_t created_ms = 0;            // wall clock
  std::string title;                 // "" = none
  uint64_t retention_max_age_s = 0;  // 0 = no age limit (the global policy applies)
  uint64_t retention_max_count = 0;  // 0 = no count limit (the global policy applies)
  uint32_t member_cap = 0;           // 0 = unlimited
  uint32_t member_count = 0;         // kept current by the chat layer with each member change
  bool operator==(const Conversation&) const = default;
};

struct Member {
  std::string conv;
  std::string user;
  MemberRole role = MemberRole::Member;
  uint64_t joined_seq = 0;  // seq of the system message that added the member
  bool operator==(const Member&) const = default;
};

// One entry of a user's conversation index (user -> conversations).
struct UserConversation {
  std::string conv;
  MemberRole role = MemberRole::Member;
  bool operator==(const UserConversation&) const = default;
};

// One message of a conversation's log. `envelope` is the encoded chat.fbs ChatMessage exactly as
// delivered; the other fields repeat what the store itself needs (dedup, retention by age).
struct ChatRecord {
  std::string conv;
  uint64_t seq = 0;           // gapless per conversation, from 1
  std::string sender_user;    // "" for system messages
  std::string sender_device;  // MQTT client id; "" for system messages
  int64_t server_time_ms = 0;
  std::string cmid;  // "" for system messages (no dedup entry is written then)
  uint8_t kind = 0;  // chat.fbs Kind
  std::string envelope;
  bool operator==(const ChatRecord&) const = default;
};

// A member's receipt cursors in a conversation (per user, shared by the user's devices):
// delivered = highest seq any of the user's devices acknowledged; read = what the user said it
// has read (conv/{id}/read). Both only move forward.
struct ChatCursor {
  std::string conv;
  std::string user;
  uint64_t delivered = 0;
  uint64_t read = 0;
  bool operator==(const ChatCursor&) const = default;
};

// Highest contiguous seq a device (persistent session) acknowledged in a conversation.
struct ChatOffset {
  std::string client_id;
  std::string conv;
  uint64_t seq = 0;
  bool operator==(const ChatOffset&) const = default;
};

}  // namespace parley::store
