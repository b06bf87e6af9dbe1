#include "wire.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstdio>

#include "chat_generated.h"

namespace parley::sdk::wire {

namespace fb = parley::chat::fb;

namespace {

std::string str(const flatbuffers::String* s) {
  return s ? s->str() : std::string();
}

std::string bytes(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> vec(flatbuffers::FlatBufferBuilder& b,
                                                      const std::string& s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string finish(flatbuffers::FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

template <class Table>
const Table* verified(std::string_view payload) {
  // An empty payload is not a table: the verifier would read past the end of nothing.
  if (payload.size() < sizeof(flatbuffers::uoffset_t)) return nullptr;
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!v.VerifyBuffer<Table>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<Table>(payload.data());
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool validConvId(std::string_view conv) {
  if (conv.empty() || conv.size() > 64) return false;
  for (char c : conv) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool validUserId(std::string_view user) {
  if (user.empty() || user.size() > 128) return false;
  return user.find_first_of(std::string_view("/+#\0", 4)) == std::string_view::npos;
}

std::string checkOutgoing(const OutgoingMessage& m) {
  if (!validConvId(m.conv)) return "conversation id must be 1-64 characters of [A-Za-z0-9_.-]";
  if (m.cmid.size() > kMaxCmidBytes) return "cmid longer than 64 bytes";
  if (m.body.size() > kMaxBodyBytes) return "body larger than 64 KiB";
  if (m.kind == MessageKind::System) return "kind System is written by the broker only";
  if (m.kind == MessageKind::Media && (!m.media || m.media->url.empty())) {
    return "a Media message needs media.url";
  }
  return {};
}

Inbound classify(std::string_view topic, std::string_view client_id, std::string* key) {
  key->clear();
  if (startsWith(topic, "conv/")) {
    const std::string_view rest = topic.substr(5);
    const size_t slash = rest.find('/');
    key->assign(rest.substr(0, slash));
    if (slash == std::string_view::npos) return Inbound::ChatMessage;
    const std::string_view sub = rest.substr(slash + 1);
    if (sub == "receipts") return Inbound::Receipts;
    if (sub == "typing") return Inbound::Typing;
    return Inbound::Other;
  }
  if (startsWith(topic, "presence/")) {
    key->assign(topic.substr(9));
    return Inbound::Presence;
  }
  const std::string reply = rpcReplyTopic(client_id);
  if (topic == reply || startsWith(topic, reply + "/")) return Inbound::RpcReply;
  return Inbound::Other;
}

std::string rpcReplyTopic(std::string_view client_id) {
  return "rpc/reply/" + std::string(client_id);
}

std::string encodeChatSend(const OutgoingMessage& m) {
  flatbuffers::FlatBufferBuilder b(256 + m.body.size());
  flatbuffers::Offset<fb::MediaRef> media = 0;
  if (m.media) {
    const auto url = b.CreateString(m.media->url);
    const auto mime = b.CreateString(m.media->mime);
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> sha, thumb;  // absent unless given
    if (!m.media->sha256.empty()) sha = vec(b, m.media->sha256);
    if (!m.media->thumbnail.empty()) thumb = vec(b, m.media->thumbnail);
    media = fb::CreateMediaRef(b, url, mime, m.media->size, sha, m.media->width, m.media->height,
                               thumb);
  }
  const auto cmid = b.CreateString(m.cmid);
  const auto body = vec(b, m.body);
  b.Finish(fb::CreateChatSend(b, cmid, static_cast<fb::Kind>(m.kind), body, media, m.reply_to));
  return finish(b);
}

std::string encodeReadCursor(const std::string& conv, uint64_t seq) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateReadCursor(b, b.CreateString(conv), seq));
  return finish(b);
}

std::string encodeHistoryRequest(const std::string& conv, uint64_t before_seq, uint32_t limit) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateHistoryRequest(b, b.CreateString(conv), before_seq, limit));
  return finish(b);
}

std::string encodeConversationsRequest(const std::string& after, uint32_t limit) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateConversationsRequest(b, b.CreateString(after), limit));
  return finish(b);
}

std::string encodeReceiptsRequest(const std::string& conv) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateReceiptsRequest(b, b.CreateString(conv)));
  return finish(b);
}

namespace {

Message fromTable(const fb::ChatMessage& t) {
  Message m;
  m.conv = str(t.conv());
  m.seq = t.seq();
  m.sender_user = str(t.sender_user());
  m.sender_device = str(t.sender_device());
  m.server_time_ms = t.server_time_ms();
  m.cmid = str(t.cmid());
  m.kind = static_cast<MessageKind>(t.kind());
  m.body = bytes(t.body());
  if (const auto* md = t.media()) {
    MediaRef r;
    r.url = str(md->url());
    r.mime = str(md->mime());
    r.size = md->size();
    r.sha256 = bytes(md->sha256());
    r.width = md->width();
    r.height = md->height();
    r.thumbnail = bytes(md->thumbnail());
    m.media = std::move(r);
  }
  m.reply_to = t.reply_to();
  if (const auto* s = t.system()) {
    SystemInfo i;
    i.event = static_cast<SystemEvent>(s->event());
    i.actor = str(s->actor());
    i.subject = str(s->subject());
    i.role = static_cast<Role>(s->role());
    i.old_role = static_cast<Role>(s->old_role());
    i.floor_seq = s->floor_seq();
    m.system = std::move(i);
  }
  return m;
}

}  // namespace

std::optional<Message> decodeChatMessage(std::string_view payload) {
  const auto* t = verified<fb::ChatMessage>(payload);
  if (!t) return std::nullopt;
  return fromTable(*t);
}

std::optional<HistoryPage> decodeHistory(std::string_view payload) {
  const auto* t = verified<fb::HistoryResponse>(payload);
  if (!t) return std::nullopt;
  HistoryPage p;
  p.conv = str(t->conv());
  p.head_seq = t->head_seq();
  p.floor_seq = t->floor_seq();
  p.has_more = t->has_more();
  if (const auto* msgs = t->messages()) {
    p.messages.reserve(msgs->size());
    for (const auto* stored : *msgs) {
      if (!stored || !stored->bytes()) return std::nullopt;
      auto m = decodeChatMessage(bytes(stored->bytes()));
      if (!m) return std::nullopt;
      p.messages.push_back(std::move(*m));
    }
  }
  return p;
}

std::optional<ConversationPage> decodeConversations(std::string_view payload) {
  const auto* t = verified<fb::ConversationsResponse>(payload);
  if (!t) return std::nullopt;
  ConversationPage p;
  p.next_after = str(t->next_after());
  if (const auto* list = t->conversations()) {
    for (const auto* c : *list) {
      if (!c) continue;
      ConversationSummary s;
      s.conv = str(c->conv());
      s.kind = static_cast<ConversationKind>(c->kind());
      s.title = str(c->title());
      s.role = static_cast<Role>(c->role());
      s.head_seq = c->head_seq();
      s.floor_seq = c->floor_seq();
      s.offset = c->offset();
      s.member_count = c->member_count();
      s.read_seq = c->read_seq();
      s.unread = c->unread();
      p.conversations.push_back(std::move(s));
    }
  }
  return p;
}

std::optional<Receipts> decodeReceipts(std::string_view payload) {
  const auto* t = verified<fb::Receipts>(payload);
  if (!t) return std::nullopt;
  Receipts r;
  r.conv = str(t->conv());
  if (const auto* list = t->cursors()) {
    for (const auto* c : *list) {
      if (c) r.cursors.push_back({str(c->user()), c->delivered_seq(), c->read_seq()});
    }
  }
  return r;
}

std::optional<TypingEvent> decodeTyping(std::string_view payload) {
  const auto* t = verified<fb::TypingEvent>(payload);
  if (!t) return std::nullopt;
  return TypingEvent{str(t->conv()), str(t->user()), str(t->device()), bytes(t->state())};
}

std::optional<Presence> decodePresence(std::string_view payload) {
  const auto* t = verified<fb::Presence>(payload);
  if (!t) return std::nullopt;
  return Presence{str(t->user()), t->online(), t->devices(), t->last_seen_ms()};
}

Error decodeRpcError(std::string_view payload) {
  const auto* t = verified<fb::RpcError>(payload);
  if (!t) return Error{ErrorCode::Protocol, 0, "undecodable rpc error reply"};
  Error e;
  e.message = str(t->message());
  switch (t->code()) {
    case fb::RpcErrorCode::BadRequest:
      e.code = ErrorCode::BadRequest;
      break;
    case fb::RpcErrorCode::NotMember:
    case fb::RpcErrorCode::Forbidden:
      e.code = ErrorCode::NotAuthorized;
      break;
    case fb::RpcErrorCode::NotFound:
      e.code = ErrorCode::NotFound;
      break;
    case fb::RpcErrorCode::Unavailable:
      e.code = ErrorCode::ServerUnavailable;
      break;
    default:
      e.code = ErrorCode::Refused;
      break;
  }
  return e;
}

Error reasonError(int reason_code, const std::string& what) {
  Error e;
  e.reason_code = reason_code;
  switch (reason_code) {
    case 0x87:
      e.code = ErrorCode::NotAuthorized;
      e.message = what + ": not authorized (no such conversation, not a member, or read-only)";
      break;
    case 0x99:
      e.code = ErrorCode::InvalidPayload;
      e.message = what + ": payload format invalid";
      break;
    case 0x88:
      e.code = ErrorCode::ServerUnavailable;
      e.message = what + ": server unavailable, retry later";
      break;
    case 0x97:
    case 0x96:
      e.code = ErrorCode::QuotaExceeded;
      e.message = what + ": quota or rate exceeded, retry later";
      break;
    default: {
      e.code = ErrorCode::Refused;
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", reason_code & 0xff);
      e.message = what + ": refused with reason code " + hex;
      break;
    }
  }
  return e;
}

}  // namespace parley::sdk::wire
