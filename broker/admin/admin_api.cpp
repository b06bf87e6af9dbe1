// AdminApi (admin_api.hpp): routes, JSON in and out, error mapping. Every error body is
// {"error": "<status name>", "message": "<why>"}.
#include "admin_api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace parley::admin {
namespace {

using json = nlohmann::json;
using chat::ChatError;
using chat::ChatStatus;
using store::ConversationKind;
using store::MemberRole;

AdminResponse reply(int status, const json& body) {
  return AdminResponse{status, body.dump()};
}

AdminResponse fail(int status, std::string_view error, std::string_view message) {
  return reply(status, json{{"error", error}, {"message", message}});
}

AdminResponse fail(const ChatError& e) {
  return fail(chat::httpStatus(e.status), chat::statusName(e.status), e.message);
}

// Thrown inside handlers for a bad request field; turned into a 400 by handle().
struct BadRequest {
  std::string message;
};

std::string percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc() || p != s.data() + i + 3) throw BadRequest{"bad percent-encoding"};
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (s[i] == '%') {
      throw BadRequest{"bad percent-encoding"};
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct Target {
  std::vector<std::string> segments;                       // decoded path segments
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::optional<std::string> param(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
  uint64_t number(std::string_view name, uint64_t fallback) const {
    auto v = param(name);
    if (!v) return fallback;
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size()) {
      throw BadRequest{std::string(name) + " must be a non-negative integer"};
    }
    return n;
  }
};

Target parseTarget(std::string_view t) {
  Target out;
  const size_t q = t.find('?');
  std::string_view path = t.substr(0, q);
  size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string seg(path.substr(start, end - start));
    // '+' is literal in a path; only the query uses it for a space.
    std::string decoded;
    for (size_t i = 0; i < seg.size(); ++i) {
      if (seg[i] == '%') {
        decoded += percentDecode(std::string_view(seg).substr(i, 3));
        i += 2;
      } else {
        decoded.push_back(seg[i]);
      }
    }
    out.segments.push_back(std::move(decoded));
    start = end;
  }
  if (q != std::string_view::npos) {
    std::string_view query = t.substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      if (!pair.empty()) {
        out.query.emplace_back(
            percentDecode(pair.substr(0, eq)),
            eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1)));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return out;
}

// --- enums <-> JSON --------------------------------------------------------------------------

const char* kindName(ConversationKind k) {
  switch (k) {
    case ConversationKind::Direct:
      return "direct";
    case ConversationKind::Group:
      return "group";
    case ConversationKind::Channel:
      return "channel";
  }
  return "unknown";
}

ConversationKind parseKind(const std::string& s) {
  if (s == "direct") return ConversationKind::Direct;
  if (s == "group") return ConversationKind::Group;
  if (s == "channel") return ConversationKind::Channel;
  throw BadRequest{"kind must be direct, group or channel"};
}

const char* roleName(MemberRole r) {
  switch (r) {
    case MemberRole::Member:
      return "member";
    case MemberRole::Admin:
      return "admin";
    case MemberRole::Owner:
      return "owner";
    case MemberRole::ReadOnly:
      return "read_only";
  }
  return "unknown";
}

MemberRole parseRole(const std::string& s) {
  if (s == "member") return MemberRole::Member;
  if (s == "admin") return MemberRole::Admin;
  if (s == "owner") return MemberRole::Owner;
  if (s == "read_only" || s == "readonly") return MemberRole::ReadOnly;
  throw BadRequest{"role must be owner, admin, member or read_only"};
}

const char* messageKindName(chat::Kind k) {
  switch (k) {
    case chat::Kind::Text:
      return "text";
    case chat::Kind::Media:
      return "media";
    case chat::Kind::System:
      return "system";
    case chat::Kind::Custom:
      return "custom";
  }
  return "unknown";
}

const char* eventName(chat::SystemEvent e) {
  switch (e) {
    case chat::SystemEvent::ConversationCreated:
      return "conversation_created";
    case chat::SystemEvent::MemberAdded:
      return "member_added";
    case chat::SystemEvent::MemberRemoved:
      return "member_removed";
    case chat::SystemEvent::RoleChanged:
      return "role_changed";
    case chat::SystemEvent::HistoryTrimmed:
      return "history_trimmed";
  }
  return "unknown";
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string hex(std::string_view in) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

json conversationJson(const store::Conversation& c, store::ChatStore& chat) {
  json j{
      {"id", c.id},
      {"kind", kindName(c.kind)},
      {"title", c.title},
      {"created_ms", c.created_ms},
      {"member_count", c.member_count},
      {"member_cap", c.member_cap},
      {"retention", {{"max_age_s", c.retention_max_age_s}, {"max_count", c.retention_max_count}}},
      {"head_seq", chat.loadChatHead(c.id)},
      {"floor_seq", chat.loadChatFloor(c.id)}};
  return j;
}

json messageJson(const store::ChatRecord& r) {
  json j{{"seq", r.seq},
         {"sender_user", r.sender_user},
         {"sender_device", r.sender_device},
         {"server_time_ms", r.server_time_ms},
         {"cmid", r.cmid}};
  auto m = chat::decodeChatMessage(r.envelope);
  if (!m) {
    j["kind"] = "undecodable";
    return j;
  }
  j["kind"] = messageKindName(m->content.kind);
  j["body"] = base64(m->content.body);
  if (m->content.reply_to != 0) j["reply_to"] = m->content.reply_to;
  if (const auto& media = m->content.media) {
    j["media"] = {{"url", media->url},
                  {"mime", media->mime},
                  {"size", media->size},
                  {"sha256", hex(media->sha256)},
                  {"width", media->width},
                  {"height", media->height},
                  {"thumbnail", base64(media->thumbnail)}};
  }
  if (const auto& s = m->system) {
    j["system"] = {{"event", eventName(s->event)},
                   {"actor", s->actor},
                   {"subject", s->subject},
                   {"role", roleName(static_cast<MemberRole>(s->role))}};
    if (s->event == chat::SystemEvent::RoleChanged) {
      j["system"]["old_role"] = roleName(static_cast<MemberRole>(s->old_role));
    }
  }
  return j;
}

json parseBody(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw BadRequest{"body must be a JSON object"};
  return j;
}

std::string stringField(const json& j, const char* name, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadRequest{std::string(name) + " is required"};
    return {};
  }
  if (!it->is_string()) throw BadRequest{std::string(name) + " must be a string"};
  return it->get<std::string>();
}

uint64_t numberField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_unsigned())
    throw BadRequest{std::string(name) + " must be a non-negative integer"};
  return it->get<uint64_t>();
}

chat::Actor actorField(const json& j) {
  auto a = stringField(j, "actor", false);
  if (a.empty()) return std::nullopt;
  return a;
}

}  // namespace

AdminApi::AdminApi(chat::ConversationDirectory& directory, AdminOptions options)
    : directory_(directory), options_(std::move(options)) {}

bool AdminApi::authorized(const std::string& header) const {
  if (options_.token.empty()) return options_.insecure;
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() < kScheme.size() || header.compare(0, kScheme.size(), kScheme) != 0) {
    return false;
  }
  const std::string_view given = std::string_view(header).substr(kScheme.size());
  const std::string& want = options_.token;
  // Constant time in the token's content: every byte is compared whatever the first mismatch.
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (size_t i = 0; i < want.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(want[i]));
  }
  return diff == 0;
}

AdminResponse AdminApi::handle(const AdminRequest& req) {
  try {
    const Target t = parseTarget(req.target);
    const auto& seg = t.segments;
    const std::string& m = req.method;
    if (seg.size() == 1 && seg[0] == "healthz") {
      if (m != "GET") return fail(405, "method_not_allowed", "use GET");
      return reply(200, json{{"status", "ok"}});
    }
    if (!authorized(req.authorization)) {
      return fail(401, "unauthorized",
                  options_.token.empty() ? "no --admin-token is configured: admin API refused"
                                         : "missing or wrong bearer token");
    }
    if (seg.empty() || seg[0] != "v1") return fail(404, "not_found", "no such endpoint");
    auto& chat = directory_.chatStore();
    auto methodNotAllowed = [] { return fail(405, "method_not_allowed", "method not allowed"); };

    // /v1/conversations
    if (seg.size() == 2 && seg[1] == "conversations") {
      if (m != "POST") return methodNotAllowed();
      const json body = parseBody(req.body);
      chat::CreateRequest cr;
      cr.id = stringField(body, "id", false);
      cr.kind = parseKind(stringField(body, "kind", true));
      cr.title = stringField(body, "title", false);
      cr.actor = stringField(body, "actor", false);
      cr.member_cap =
          static_cast<uint32_t>(std::min<uint64_t>(numberField(body, "member_cap"), UINT32_MAX));
      if (auto r = body.find("retention"); r != body.end() && r->is_object()) {
        cr.retention_max_age_s = numberField(*r, "max_age_s");
        cr.retention_max_count = numberField(*r, "max_count");
      }
      auto members = body.find("members");
      if (members == body.end() || !members->is_array())
        throw BadRequest{"members must be an array"};
      for (const auto& mj : *members) {
        if (!mj.is_object()) throw BadRequest{"each member must be an object {user, role}"};
        chat::NewMember nm;
        nm.user = stringField(mj, "user", true);
        const auto role = stringField(mj, "role", false);
        nm.role = role.empty() ? MemberRole::Member : parseRole(role);
        cr.members.push_back(std::move(nm));
      }
      auto res = directory_.create(cr);
      if (!res) return fail(res.error());
      json j = conversationJson(res->conversation, chat);
      j["created"] = res->created;
      return reply(res->created ? 201 : 200, j);
    }

    // /v1/users/{user}/conversations
    if (seg.size() == 4 && seg[1] == "users" && seg[3] == "conversations") {
      if (m != "GET") return methodNotAllowed();
      const uint64_t limit = std::clamp<uint64_t>(t.number("limit", 100), 1, 1000);
      const auto page = chat.loadUserConversations(seg[2], t.param("after").value_or(""), limit);
      json list = json::array();
      for (const auto& uc : page) {
        auto c = chat.loadConversation(uc.conv);
        if (!c) continue;
        json j = conversationJson(*c, chat);
        j["role"] = roleName(uc.role);
        list.push_back(std::move(j));
      }
      json out{{"user", seg[2]}, {"conversations", list}};
      out["next_after"] = page.size() == limit ? json(page.back().conv) : json(nullptr);
      return reply(200, out);
    }

    if (seg.size() < 3 || seg[1] != "conversations") {
      return fail(404, "not_found", "no such endpoint");
    }
    const std::string& conv = seg[2];

    // /v1/conversations/{id}
    if (seg.size() == 3) {
      if (m != "GET") return methodNotAllowed();
      auto c = directory_.get(conv);
      if (!c) return fail(c.error());
      json j = conversationJson(*c, chat);
      const uint64_t limit = std::clamp<uint64_t>(t.number("members_limit", 1000), 1, 10000);
      const auto members = chat.loadMembers(conv, t.param("members_after").value_or(""), limit);
      json list = json::array();
      for (const auto& mem : members) {
        list.push_back(
            {{"user", mem.user}, {"role", roleName(mem.role)}, {"joined_seq", mem.joined_seq}});
      }
      j["members"] = std::move(list);
      j["members_next_after"] = members.size() == limit ? json(members.back().user) : json(nullptr);
      return reply(200, j);
    }

    // /v1/conversations/{id}/members[/{user}]
    if (seg[3] == "members" && seg.size() <= 5) {
      if (seg.size() == 4) {
        if (m != "POST") return methodNotAllowed();
        const json body = parseBody(req.body);
        const auto role = stringField(body, "role", false);
        auto res = directory_.addMember(conv, actorField(body), stringField(body, "user", true),
                                        role.empty() ? MemberRole::Member : parseRole(role));
        if (!res) return fail(res.error());
        return reply(201, json{{"conv", conv}, {"seq", *res}});
      }
      const std::string& user = seg[4];
      if (m == "DELETE") {
        chat::Actor actor;
        if (auto a = t.param("actor"); a && !a->empty()) actor = *a;
        auto res = directory_.removeMember(conv, actor, user);
        if (!res) return fail(res.error());
        return reply(200, json{{"conv", conv}, {"seq", *res}});
      }
      if (m == "PATCH") {
        const json body = parseBody(req.body);
        auto res = directory_.changeRole(conv, actorField(body), user,
                                         parseRole(stringField(body, "role", true)));
        if (!res) return fail(res.error());
        return reply(200, json{{"conv", conv}, {"seq", *res}});
      }
      return methodNotAllowed();
    }

    // /v1/conversations/{id}/messages?before=SEQ&limit=N
    if (seg.size() == 4 && seg[3] == "messages") {
      if (m != "GET") return methodNotAllowed();
      auto c = directory_.get(conv);
      if (!c) return fail(c.error());
      const uint64_t before = t.number("before", 0);
      const uint64_t limit = std::clamp<uint64_t>(t.number("limit", 50), 1, 100);
      const auto records = chat.loadChatLogBefore(conv, before, limit);
      const uint64_t floor = chat.loadChatFloor(conv);
      json list = json::array();
      for (const auto& r : records) list.push_back(messageJson(r));
      const bool has_more = !records.empty() && records.front().seq > floor;
      return reply(200, json{{"conv", conv},
                             {"head_seq", chat.loadChatHead(conv)},
                             {"floor_seq", floor},
                             {"has_more", has_more},
                             {"next_before", has_more ? json(records.front().seq) : json(nullptr)},
                             {"messages", std::move(list)}});
    }
    return fail(404, "not_found", "no such endpoint");
  } catch (const BadRequest& e) {
    return fail(400, "bad_request", e.message);
  } catch (const std::exception& e) {
    return fail(500, "internal", e.what());
  }
}

}  // namespace parley::admin
