// The SDK's side of docs/PROTOCOL.md as pure functions: topic names, schema/chat.fbs envelopes
// <-> the public value types, and broker answers (MQTT reason codes, RpcError) -> Error. No I/O
// and no state, so every rule here is unit-tested without a broker. Every decoder verifies the
// flatbuffer before reading it: a payload is untrusted input even from our own broker.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "parley/sdk/types.hpp"

namespace parley::sdk::wire {

constexpr size_t kMaxCmidBytes = 64;
constexpr size_t kMaxBodyBytes = 64 * 1024;

// Conversation ids: 1..64 characters of [A-Za-z0-9_.-] (one topic level).
bool validConvId(std::string_view conv);
// User ids: 1..128 bytes without '/', '+', '#' or NUL.
bool validUserId(std::string_view user);
// Checks what the broker would refuse with 0x99, before anything is sent; "" if fine.
std::string checkOutgoing(const OutgoingMessage& m);

// What an incoming PUBLISH is, by topic. `key` is the conversation id (conv/...), the user
// (presence/...) or empty.
enum class Inbound { ChatMessage, Receipts, Typing, Presence, RpcReply, Other };
Inbound classify(std::string_view topic, std::string_view client_id, std::string* key);

std::string rpcReplyTopic(std::string_view client_id);

std::string encodeChatSend(const OutgoingMessage& m);  // m.cmid must be set
std::string encodeReadCursor(const std::string& conv, uint64_t seq);
std::string encodeHistoryRequest(const std::string& conv, uint64_t before_seq, uint32_t limit);
std::string encodeConversationsRequest(const std::string& after, uint32_t limit);
std::string encodeReceiptsRequest(const std::string& conv);

std::optional<Message> decodeChatMessage(std::string_view payload);
std::optional<HistoryPage> decodeHistory(std::string_view payload);
std::optional<ConversationPage> decodeConversations(std::string_view payload);
std::optional<Receipts> decodeReceipts(std::string_view payload);
std::optional<TypingEvent> decodeTyping(std::string_view payload);
std::optional<Presence> decodePresence(std::string_view payload);

// An rpc reply flagged as an error (user property error=1) -> Error (Protocol if undecodable).
Error decodeRpcError(std::string_view payload);
// A refusing MQTT 5 reason code (>= 0x80) of a PUBACK or SUBACK -> Error.
Error reasonError(int reason_code, const std::string& what);

}  // namespace parley::sdk::wire
