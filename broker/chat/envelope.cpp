// Envelope codec (envelope.hpp). Incoming payloads are copied into an aligned buffer before
// verification: MQTT payloads can start at any offset of a read buffer, and flatbuffers reads
// scalars in place.
#include "envelope.hpp"

#include <cstring>

namespace parley::chat {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

std::string str(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : s->str();
}
std::string bytes(const flatbuffers::Vector<uint8_t>* v) {
  return v == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

Offset<flatbuffers::Vector<uint8_t>> vec(FlatBufferBuilder& b, const std::string& s) {
  if (s.empty()) return 0;
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
Offset<flatbuffers::String> text(FlatBufferBuilder& b, const std::string& s) {
  if (s.empty()) return 0;
  return b.CreateString(s);
}

Offset<fb::MediaRef> encodeMedia(FlatBufferBuilder& b, const std::optional<MediaInfo>& m) {
  if (!m) return 0;
  auto url = text(b, m->url), mime = text(b, m->mime);
  auto sha = vec(b, m->sha256), thumb = vec(b, m->thumbnail);
  return fb::CreateMediaRef(b, url, mime, m->size, sha, m->width, m->height, thumb);
}

std::optional<MediaInfo> decodeMedia(const fb::MediaRef* m) {
  if (m == nullptr) return std::nullopt;
  return MediaInfo{str(m->url()), str(m->mime()),       m->size(), bytes(m->sha256()), m->width(),
                   m->height(),   bytes(m->thumbnail())};
}

// An aligned copy of `payload`, verified as a T.
template <class T>
const T* verified(std::string_view payload, std::string& scratch) {
  scratch.assign(payload.data(), payload.size());
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(scratch.data()), scratch.size());
  if (scratch.empty() || !v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(scratch.data());
}

ChatError bad(std::string message) {
  return ChatError{ChatStatus::BadRequest, std::move(message)};
}

}  // namespace

Result<Outgoing, ChatError> decodeChatSend(std::string_view payload) {
  std::string scratch;
  const auto* s = verified<fb::ChatSend>(payload, scratch);
  if (s == nullptr) return Err(bad("payload is not a ChatSend flatbuffer"));
  Outgoing o;
  o.cmid = str(s->cmid());
  o.kind = s->kind();
  o.body = bytes(s->body());
  o.media = decodeMedia(s->media());
  o.reply_to = s->reply_to();
  if (o.cmid.empty() || o.cmid.size() > kMaxCmidBytes) return Err(bad("cmid must be 1..64 bytes"));
  if (o.body.size() > kMaxBodyBytes) return Err(bad("body larger than 64 KiB"));
  switch (o.kind) {
    case Kind::Text:
    case Kind::Custom:
      break;
    case Kind::Media:
      if (!o.media || o.media->url.empty()) return Err(bad("a media message needs media.url"));
      break;
    case Kind::System:
      return Err(bad("kind system is reserved for the broker"));
    default:
      return Err(bad("unknown kind"));
  }
  return o;
}

std::string encodeChatSend(const Outgoing& o) {
  FlatBufferBuilder b(256 + o.body.size());
  auto cmid = text(b, o.cmid);
  auto body = vec(b, o.body);
  auto media = encodeMedia(b, o.media);
  b.Finish(fb::CreateChatSend(b, cmid, o.kind, body, media, o.reply_to));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

std::string encodeChatMessage(const Delivered& m) {
  FlatBufferBuilder b(256 + m.content.body.size());
  auto conv = text(b, m.conv), user = text(b, m.sender_user), device = text(b, m.sender_device);
  auto cmid = text(b, m.content.cmid);
  auto body = vec(b, m.content.body);
  auto media = encodeMedia(b, m.content.media);
  Offset<fb::SystemPayload> system = 0;
  if (m.system) {
    auto actor = text(b, m.system->actor), subject = text(b, m.system->subject);
    system = fb::CreateSystemPayload(
        b, m.system->event, actor, subject, static_cast<fb::Role>(m.system->role),
        static_cast<fb::Role>(m.system->old_role), m.system->floor_seq);
  }
  b.Finish(fb::CreateChatMessage(b, conv, m.seq, user, device, m.server_time_ms, cmid,
                                 m.content.kind, body, media, m.content.reply_to, system));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<Delivered, ChatError> decodeChatMessage(std::string_view payload) {
  std::string scratch;
  const auto* m = verified<fb::ChatMessage>(payload, scratch);
  if (m == nullptr) return Err(bad("payload is not a ChatMessage flatbuffer"));
  Delivered d;
  d.conv = str(m->conv());
  d.seq = m->seq();
  d.sender_user = str(m->sender_user());
  d.sender_device = str(m->sender_device());
  d.server_time_ms = m->server_time_ms();
  d.content.cmid = str(m->cmid());
  d.content.kind = m->kind();
  d.content.body = bytes(m->body());
  d.content.media = decodeMedia(m->media());
  d.content.reply_to = m->reply_to();
  if (const auto* s = m->system()) {
    d.system = SystemInfo{s->event(),
                          str(s->actor()),
                          str(s->subject()),
                          static_cast<uint8_t>(s->role()),
                          static_cast<uint8_t>(s->old_role()),
                          s->floor_seq()};
  }
  return d;
}

std::string encodeTyping(const TypingInfo& t) {
  flatbuffers::FlatBufferBuilder b(128 + t.state.size());
  auto conv = b.CreateString(t.conv);
  auto user = b.CreateString(t.user);
  auto device = b.CreateString(t.device);
  auto state = b.CreateVector(reinterpret_cast<const uint8_t*>(t.state.data()), t.state.size());
  b.Finish(fb::CreateTypingEvent(b, conv, user, device, state));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<TypingInfo, ChatError> decodeTyping(std::string_view payload) {
  std::string scratch;
  const auto* t = verified<fb::TypingEvent>(payload, scratch);
  if (t == nullptr) return Err(bad("payload is not a TypingEvent flatbuffer"));
  return TypingInfo{str(t->conv()), str(t->user()), str(t->device()), bytes(t->state())};
}

std::string encodePresence(const PresenceInfo& p) {
  flatbuffers::FlatBufferBuilder b(64 + p.user.size());
  auto user = b.CreateString(p.user);
  b.Finish(fb::CreatePresence(b, user, p.online, p.devices, p.last_seen_ms));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<PresenceInfo, ChatError> decodePresence(std::string_view payload) {
  std::string scratch;
  const auto* p = verified<fb::Presence>(payload, scratch);
  if (p == nullptr) return Err(bad("payload is not a Presence flatbuffer"));
  return PresenceInfo{str(p->user()), p->online(), p->devices(), p->last_seen_ms()};
}

std::string encodeReceipts(const ReceiptsInfo& r) {
  flatbuffers::FlatBufferBuilder b(64 + 48 * r.cursors.size());
  std::vector<flatbuffers::Offset<fb::MemberCursor>> cursors;
  cursors.reserve(r.cursors.size());
  for (const auto& c : r.cursors)
    cursors.push_back(fb::CreateMemberCursor(b, b.CreateString(c.user), c.delivered, c.read));
  auto conv = b.CreateString(r.conv);
  auto vec = b.CreateVector(cursors);
  b.Finish(fb::CreateReceipts(b, conv, vec));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<ReceiptsInfo, ChatError> decodeReceipts(std::string_view payload) {
  std::string scratch;
  const auto* r = verified<fb::Receipts>(payload, scratch);
  if (r == nullptr) return Err(bad("payload is not a Receipts flatbuffer"));
  ReceiptsInfo out;
  out.conv = str(r->conv());
  if (r->cursors())
    for (const auto* c : *r->cursors())
      out.cursors.push_back({str(c->user()), c->delivered_seq(), c->read_seq()});
  return out;
}

std::string encodeReadCursor(std::string_view conv, uint64_t seq) {
  flatbuffers::FlatBufferBuilder b(64 + conv.size());
  auto c = b.CreateString(conv.data(), conv.size());
  b.Finish(fb::CreateReadCursor(b, c, seq));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<uint64_t, ChatError> decodeReadCursor(std::string_view payload) {
  std::string scratch;
  const auto* r = verified<fb::ReadCursor>(payload, scratch);
  if (r == nullptr) return Err(bad("payload is not a ReadCursor flatbuffer"));
  return r->seq();
}

bool validConversationId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool validUserId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c == '/' || c == '+' || c == '#' || c == '\0') return false;
  }
  return true;
}

}  // namespace parley::chat
