// The chat topic scheme (docs/PROTOCOL.md): which topic names and filters belong to the chat
// layer rather than to plain MQTT. Pure functions over strings.
//
//   conv/{id}            a conversation: a PUBLISH is a chat send, a SUBSCRIBE needs membership
//   rpc/{method}         a request to the broker (history, conversations, ...)
//   rpc/reply/{client}   where a 3.1.1 client's replies go; only that client may subscribe
#pragma once
#include <optional>
#include <string_view>

namespace parley::topics {

inline constexpr std::string_view kConvPrefix = "conv/";
inline constexpr std::string_view kRpcPrefix = "rpc/";
inline constexpr std::string_view kRpcReplyPrefix = "rpc/reply/";

// "conv/{id}" with a non-empty id of one level → the id. Deeper topics (conv/{id}/typing, ...)
// and wildcards are not chat sends.
inline std::optional<std::string_view> chatConversation(std::string_view topic) {
  if (!topic.starts_with(kConvPrefix)) return std::nullopt;
  std::string_view id = topic.substr(kConvPrefix.size());
  if (id.empty() || id.find_first_of("/+#") != std::string_view::npos) return std::nullopt;
  return id;
}

// "rpc/{method}" with a one-level method other than "reply" → the method.
inline std::optional<std::string_view> rpcMethod(std::string_view topic) {
  if (!topic.starts_with(kRpcPrefix)) return std::nullopt;
  std::string_view m = topic.substr(kRpcPrefix.size());
  if (m.empty() || m == "reply" || m.find_first_of("/+#") != std::string_view::npos)
    return std::nullopt;
  return m;
}

// Whether `filter` names (a part of) the rpc reply space "rpc/reply/..." without wildcards in
// its first three levels, and if so whether it is `client_id`'s own: "rpc/reply/{client_id}" or
// below it.
enum class ReplyFilter { NotReply, Own, Foreign };
inline ReplyFilter rpcReplyFilter(std::string_view filter, std::string_view client_id) {
  if (!filter.starts_with(kRpcReplyPrefix)) return ReplyFilter::NotReply;
  std::string_view rest = filter.substr(kRpcReplyPrefix.size());
  if (rest.starts_with(client_id) &&
      (rest.size() == client_id.size() || rest[client_id.size()] == '/'))
    return ReplyFilter::Own;
  return ReplyFilter::Foreign;
}

}  // namespace parley::topics
