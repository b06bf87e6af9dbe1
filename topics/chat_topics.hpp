// The chat topic scheme (docs/PROTOCOL.md): which topic names and filters belong to the chat
// layer rather than to plain MQTT. Pure functions over strings.
//
//   conv/{id}            a conversation: a PUBLISH is a chat send, a SUBSCRIBE needs membership
//   rpc/{method}         a request to the broker (history, conversations, ...)
//   conv/{id}/typing     ephemeral typing signals, members online now only
//   conv/{id}/read       a member's read cursor (client → broker)
//   conv/{id}/receipts   coalesced delivered/read cursors (broker → members)
//   presence/{user}      retained presence the broker publishes; readers chosen by policy
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

// "conv/{id}/{child}" → the id.
inline std::optional<std::string_view> convChild(std::string_view topic, std::string_view child) {
  if (topic.size() <= child.size() + 1 || !topic.ends_with(child) ||
      topic[topic.size() - child.size() - 1] != '/')
    return std::nullopt;
  return chatConversation(topic.substr(0, topic.size() - child.size() - 1));
}
// conv/{id}/typing, conv/{id}/read (client → broker), conv/{id}/receipts (broker → members).
inline std::optional<std::string_view> typingConversation(std::string_view topic) {
  return convChild(topic, "typing");
}
inline std::optional<std::string_view> readConversation(std::string_view topic) {
  return convChild(topic, "read");
}
inline std::optional<std::string_view> receiptsConversation(std::string_view topic) {
  return convChild(topic, "receipts");
}

// "presence/{user}" (one level, no wildcards) → the user id.
inline constexpr std::string_view kPresencePrefix = "presence/";
inline std::optional<std::string_view> presenceUser(std::string_view topic) {
  if (!topic.starts_with(kPresencePrefix)) return std::nullopt;
  std::string_view u = topic.substr(kPresencePrefix.size());
  if (u.empty() || u.find_first_of("/+#") != std::string_view::npos) return std::nullopt;
  return u;
}
inline bool isPresenceTopic(std::string_view topic_or_filter) {
  return topic_or_filter == "presence" || topic_or_filter.starts_with(kPresencePrefix);
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
