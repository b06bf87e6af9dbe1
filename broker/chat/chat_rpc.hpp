// ChatRpc: the read-only rpc methods of the chat layer — rpc/history and rpc/conversations —
// as pure functions from (caller, request bytes) to response bytes over the ChatStore. The core
// routes a PUBLISH on rpc/{method} here and publishes the reply to the MQTT 5 response topic
// (with the correlation data) or to rpc/reply/{client_id} for 3.1.1 clients.
//
// Threading: stateless apart from the store reference; call from any thread. Reads see what
// the store has applied.
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "chat_store.hpp"

namespace parley::chat {

constexpr uint32_t kMaxHistoryLimit = 100;
constexpr uint32_t kDefaultHistoryLimit = 50;
constexpr uint32_t kMaxConversationsLimit = 500;
constexpr size_t kMaxReceiptsMembers = 10000;  // rpc/receipts lists at most this many members

struct RpcReply {
  bool ok = true;       // false: `payload` is an RpcError
  std::string payload;  // HistoryResponse / ConversationsResponse / RpcError flatbuffer
};

class ChatRpc {
 public:
  // The current read cursor of (conv, user) when the caller keeps fresher state than the store
  // (the broker core writes read cursors asynchronously); default: read from the store.
  using ReadCursorSource = std::function<uint64_t(const std::string& conv, std::string_view user)>;

  explicit ChatRpc(store::ChatStore& chat, ReadCursorSource read_cursor = {})
      : chat_(chat), read_cursor_(std::move(read_cursor)) {}

  // rpc/history: a HistoryRequest from `user` (must be a member; read-only members may read).
  RpcReply history(std::string_view user, std::string_view request);
  // rpc/conversations: the caller's conversations with head, floor and this device's offset.
  // An empty request means the defaults.
  RpcReply conversations(std::string_view user, std::string_view client_id,
                         std::string_view request);
  // rpc/receipts: every member's delivered/read cursors of one conversation (members only).
  RpcReply receipts(std::string_view user, std::string_view request);

 private:
  uint64_t unread(std::string_view conv, std::string_view user, uint64_t read, uint64_t head);
  store::ChatStore& chat_;
  ReadCursorSource read_cursor_;
};

// An RpcError flatbuffer (also used by the core for unknown methods).
std::string encodeRpcError(uint8_t code, std::string_view message);

}  // namespace parley::chat
