// ConversationDirectory (see the header for the sequencing, dedup and failure design).
#include "conversation_directory.hpp"

#include <chrono>
#include <cstdio>
#include <future>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>

namespace parley::chat {
namespace {

ChatError error(ChatStatus s, std::string message) {
  return ChatError{s, std::move(message)};
}

bool validRole(MemberRole r) {
  return static_cast<uint8_t>(r) <= 3;
}

}  // namespace

// Per-conversation state, created on first use and kept for the directory's lifetime.
struct ConversationDirectory::ConvState {
  std::mutex admin_mu;  // serialises membership changes and trims of this conversation
  std::mutex seq_mu;    // guards everything below
  bool head_loaded = false;
  uint64_t head = 0;      // last seq handed out (committed or in flight)
  int64_t last_time = 0;  // server_time_ms of that seq: times never go backwards
  uint32_t inflight = 0;  // commits not yet completed
  bool broken = false;    // a commit failed: reload the head once inflight drains
  struct Pending {
    uint64_t seq;
    std::vector<std::function<void(SendResult)>> waiters;  // retries of the same cmid
  };
  std::map<std::pair<std::string, std::string>, Pending> pending;  // (sender, cmid)
};

ConversationDirectory::ConversationDirectory(store::Store& store, DirectoryOptions options)
    : store_(store),
      chat_(*[&] {
        if (store.chat() == nullptr) throw std::invalid_argument("store has no chat records");
        return store.chat();
      }()),
      options_(std::move(options)) {
  if (!options_.wall_clock_ms) {
    options_.wall_clock_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

ConversationDirectory::~ConversationDirectory() = default;

int64_t ConversationDirectory::now() const {
  return options_.wall_clock_ms();
}

std::shared_ptr<ConversationDirectory::ConvState> ConversationDirectory::state(
    const std::string& conv) {
  std::lock_guard lk(mu_);
  auto& s = states_[conv];
  if (!s) s = std::make_shared<ConvState>();
  return s;
}

std::optional<uint64_t> ConversationDirectory::nextSeqLocked(ConvState& s,
                                                             const std::string& conv) {
  if (s.broken) {
    if (s.inflight > 0) return std::nullopt;
    s.broken = false;
    s.head_loaded = false;
  }
  if (!s.head_loaded) {
    s.head = chat_.loadChatHead(conv);
    s.head_loaded = true;
  }
  return ++s.head;
}

int64_t ConversationDirectory::serverTimeLocked(ConvState& s) {
  s.last_time = std::max(s.last_time, now());
  return s.last_time;
}

void ConversationDirectory::finish(const std::shared_ptr<ConvState>& s, bool ok) {
  // Caller holds s->seq_mu.
  --s->inflight;
  if (!ok) s->broken = true;
}

// --- send ----------------------------------------------------------------------------------

void ConversationDirectory::send(SendRequest r, store::WriteSet extra,
                                 std::function<void(SendResult)> done) {
  auto fail = [&done](ChatStatus status, std::string message) {
    SendResult res;
    res.status = status;
    res.error = std::move(message);
    done(std::move(res));
  };
  if (!validConversationId(r.conv)) return fail(ChatStatus::NotFound, "no such conversation");
  if (r.content.cmid.empty() || r.content.cmid.size() > kMaxCmidBytes) {
    return fail(ChatStatus::BadRequest, "cmid must be 1..64 bytes");
  }
  if (r.content.kind == Kind::System) {
    return fail(ChatStatus::BadRequest, "kind system is reserved for the broker");
  }
  const auto member = chat_.loadMember(r.conv, r.sender_user);
  if (!member) {
    if (!chat_.loadConversation(r.conv)) return fail(ChatStatus::NotFound, "no such conversation");
    return fail(ChatStatus::NotMember, "not a member of this conversation");
  }
  if (member->role == MemberRole::ReadOnly) {
    return fail(ChatStatus::Forbidden, "read-only members cannot send");
  }

  auto s = state(r.conv);
  std::unique_lock lk(s->seq_mu);
  auto key = std::make_pair(r.sender_user, r.content.cmid);
  if (auto it = s->pending.find(key); it != s->pending.end()) {
    it->second.waiters.push_back(std::move(done));  // answered when the original is durable
    return;
  }
  if (auto seq = chat_.findChatDedup(r.conv, r.sender_user, r.content.cmid)) {
    lk.unlock();
    SendResult res;
    res.seq = *seq;
    res.duplicate = true;
    done(std::move(res));
    return;
  }
  const auto seq = nextSeqLocked(*s, r.conv);
  if (!seq) {
    lk.unlock();
    return fail(ChatStatus::Unavailable, "storage failed; retry");
  }
  Delivered d;
  d.conv = r.conv;
  d.seq = *seq;
  d.sender_user = r.sender_user;
  d.sender_device = r.sender_device;
  d.server_time_ms = serverTimeLocked(*s);
  d.content = std::move(r.content);
  auto bytes = std::make_shared<const std::string>(encodeChatMessage(d));

  store::ChatRecord rec;
  rec.conv = d.conv;
  rec.seq = d.seq;
  rec.sender_user = d.sender_user;
  rec.sender_device = d.sender_device;
  rec.server_time_ms = d.server_time_ms;
  rec.cmid = d.content.cmid;
  rec.kind = static_cast<uint8_t>(d.content.kind);
  rec.envelope = *bytes;
  extra.add(store::WriteSet::PutChatRecord{std::move(rec)});
  extra.setNeedsSync(true);  // the PUBACK waits for it

  ++s->inflight;
  s->pending.emplace(key, ConvState::Pending{*seq, {}});
  store_.commit(std::move(extra), [this, s, key = std::move(key), seq = *seq, bytes, conv = r.conv,
                                   done = std::move(done)](const store::CommitResult& cr) {
    std::vector<std::function<void(SendResult)>> waiters;
    {
      std::lock_guard g(s->seq_mu);
      if (auto it = s->pending.find(key); it != s->pending.end()) {
        waiters = std::move(it->second.waiters);
        s->pending.erase(it);
      }
      finish(s, cr.ok);
    }
    SendResult res;
    if (cr.ok && listener_) listener_->onAppended(Appended{conv, seq, bytes, nullptr});
    if (cr.ok) {
      res.seq = seq;
      res.message = bytes;
    } else {
      res.status = ChatStatus::Unavailable;
      res.error = "storage failed; retry";
    }
    done(res);
    for (auto& w : waiters) {
      SendResult dup = res;
      dup.duplicate = true;
      dup.message = nullptr;
      w(std::move(dup));
    }
  });
}

// --- admin side ----------------------------------------------------------------------------

Result<uint64_t, ChatError> ConversationDirectory::appendSystemAndWait(const std::string& conv,
                                                                       store::WriteSet ws,
                                                                       SystemInfo info) {
  auto s = state(conv);
  std::promise<bool> promise;
  auto future = promise.get_future();
  uint64_t seq;
  {
    std::lock_guard lk(s->seq_mu);
    const auto next = nextSeqLocked(*s, conv);
    if (!next) return Err(error(ChatStatus::Unavailable, "storage failed; retry"));
    seq = *next;
    Delivered d;
    d.conv = conv;
    d.seq = seq;
    d.server_time_ms = serverTimeLocked(*s);
    d.content.kind = Kind::System;
    d.system = std::move(info);
    store::ChatRecord rec;
    rec.conv = conv;
    rec.seq = seq;
    rec.server_time_ms = d.server_time_ms;
    rec.kind = static_cast<uint8_t>(Kind::System);
    auto bytes = std::make_shared<const std::string>(encodeChatMessage(d));
    rec.envelope = *bytes;
    // Ops that refer to this seq (a member's joined_seq) are patched in here.
    for (auto& op : ws.ops()) {
      if (auto* m = std::get_if<store::WriteSet::PutMember>(&op); m && m->member.joined_seq == 0) {
        m->member.joined_seq = seq;
      }
    }
    ws.add(store::WriteSet::PutChatRecord{std::move(rec)});
    ws.setNeedsSync(true);
    ++s->inflight;
    store_.commit(std::move(ws), [this, s, &promise, &conv, seq, bytes,
                                  info = *d.system](const store::CommitResult& cr) {
      {
        std::lock_guard g(s->seq_mu);
        finish(s, cr.ok);
      }
      if (cr.ok && listener_) listener_->onAppended(Appended{conv, seq, bytes, &info});
      promise.set_value(cr.ok);
    });
  }
  if (!future.get()) return Err(error(ChatStatus::Unavailable, "storage failed; retry"));
  return seq;
}

std::string ConversationDirectory::newConversationId() {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";  // base32, lower case
  std::random_device rd;
  std::string id = "c";
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 5; ++j, v >>= 5) id.push_back(kDigits[v & 31]);
  }
  return id;  // 1 + 20 chars, 100 random bits
}

Result<CreateResult, ChatError> ConversationDirectory::create(const CreateRequest& req) {
  std::lock_guard create_lock(create_mu_);
  if (req.members.empty()) return Err(error(ChatStatus::BadRequest, "members must not be empty"));
  std::set<std::string> seen;
  size_t owners = 0;
  for (const auto& m : req.members) {
    if (!validUserId(m.user)) return Err(error(ChatStatus::BadRequest, "invalid user id"));
    if (!validRole(m.role)) return Err(error(ChatStatus::BadRequest, "invalid role"));
    if (!seen.insert(m.user).second) {
      return Err(error(ChatStatus::BadRequest, "user listed twice: " + m.user));
    }
    if (m.role == MemberRole::Owner) ++owners;
  }
  if (!req.id.empty() && !validConversationId(req.id)) {
    return Err(error(ChatStatus::BadRequest, "conversation id must be 1..64 of [A-Za-z0-9_.-]"));
  }
  if (!req.actor.empty() && !validUserId(req.actor)) {
    return Err(error(ChatStatus::BadRequest, "invalid actor"));
  }

  store::Conversation c;
  c.kind = req.kind;
  c.created_ms = now();
  c.title = req.title;
  c.retention_max_age_s = req.retention_max_age_s;
  c.retention_max_count = req.retention_max_count;
  std::vector<NewMember> members = req.members;
  switch (req.kind) {
    case ConversationKind::Direct: {
      if (members.size() != 2) {
        return Err(error(ChatStatus::BadRequest, "a direct conversation has exactly 2 users"));
      }
      if (auto existing = chat_.findDirectConversation(members[0].user, members[1].user)) {
        auto conv = chat_.loadConversation(*existing);
        if (!conv) return Err(error(ChatStatus::Unavailable, "direct index without conversation"));
        return CreateResult{*conv, false};
      }
      for (auto& m : members) m.role = MemberRole::Member;  // no roles between two people
      c.member_cap = 2;
      break;
    }
    case ConversationKind::Group:
    case ConversationKind::Channel: {
      if (owners == 0) return Err(error(ChatStatus::BadRequest, "at least one owner is required"));
      const uint32_t max = req.kind == ConversationKind::Group ? options_.group_member_cap
                                                               : options_.channel_member_cap;
      c.member_cap = req.member_cap != 0 ? req.member_cap : max;
      if (max != 0 && c.member_cap > max) {
        return Err(error(ChatStatus::BadRequest,
                         "member_cap above the configured maximum " + std::to_string(max)));
      }
      if (c.member_cap != 0 && members.size() > c.member_cap) {
        return Err(error(ChatStatus::Conflict, "more members than the member cap"));
      }
      break;
    }
    default:
      return Err(error(ChatStatus::BadRequest, "kind must be direct, group or channel"));
  }

  if (!req.id.empty()) {
    if (chat_.loadConversation(req.id)) {
      return Err(error(ChatStatus::Conflict, "conversation " + req.id + " exists"));
    }
    c.id = req.id;
  } else {
    do c.id = newConversationId();
    while (chat_.loadConversation(c.id));
  }
  c.member_count = static_cast<uint32_t>(members.size());

  store::WriteSet ws;
  ws.add(store::WriteSet::PutConversation{c});
  for (const auto& m : members) {
    ws.add(store::WriteSet::PutMember{store::Member{c.id, m.user, m.role, 0}});
  }
  if (c.kind == ConversationKind::Direct) {
    ws.add(store::WriteSet::PutDirectIndex{members[0].user, members[1].user, c.id});
  }
  SystemInfo info;
  info.event = SystemEvent::ConversationCreated;
  info.actor = req.actor;
  auto seq = appendSystemAndWait(c.id, std::move(ws), std::move(info));
  if (!seq) return Err(seq.error());
  return CreateResult{c, true};
}

Result<store::Conversation, ChatError> ConversationDirectory::get(const std::string& conv) {
  if (!validConversationId(conv)) return Err(error(ChatStatus::NotFound, "no such conversation"));
  auto c = chat_.loadConversation(conv);
  if (!c) return Err(error(ChatStatus::NotFound, "no such conversation"));
  return *c;
}

namespace {

// Whether `conv` has an owner other than `user` (stops at the first one found).
bool hasOtherOwner(store::ChatStore& chat, const std::string& conv, const std::string& user) {
  std::string after;
  for (;;) {
    auto page = chat.loadMembers(conv, after, 1000);
    for (const auto& m : page) {
      if (m.role == MemberRole::Owner && m.user != user) return true;
    }
    if (page.size() < 1000) return false;
    after = page.back().user;
  }
}

bool manageable(MemberRole r) {
  return r == MemberRole::Member || r == MemberRole::ReadOnly;
}

}  // namespace

Result<uint64_t, ChatError> ConversationDirectory::addMember(const std::string& conv,
                                                             const Actor& actor,
                                                             const std::string& user,
                                                             MemberRole role) {
  if (!validUserId(user)) return Err(error(ChatStatus::BadRequest, "invalid user id"));
  if (!validRole(role)) return Err(error(ChatStatus::BadRequest, "invalid role"));
  auto c = get(conv);
  if (!c) return Err(c.error());
  auto s = state(conv);
  std::lock_guard admin(s->admin_mu);
  c = get(conv);  // re-read under the lock: member_count is current now
  if (!c) return Err(c.error());
  if (c->kind == ConversationKind::Direct) {
    return Err(error(ChatStatus::Conflict, "a direct conversation's members are fixed"));
  }
  if (actor) {
    auto a = chat_.loadMember(conv, *actor);
    if (!a) return Err(error(ChatStatus::NotMember, "actor is not a member"));
    if (a->role != MemberRole::Owner && !(a->role == MemberRole::Admin && manageable(role))) {
      return Err(error(ChatStatus::Forbidden, "actor's role does not allow this"));
    }
  }
  if (chat_.loadMember(conv, user)) return Err(error(ChatStatus::Conflict, "already a member"));
  if (c->member_cap != 0 && c->member_count >= c->member_cap) {
    return Err(error(ChatStatus::Conflict, "the conversation is full"));
  }
  ++c->member_count;
  store::WriteSet ws;
  ws.add(store::WriteSet::PutConversation{*c});
  ws.add(store::WriteSet::PutMember{store::Member{conv, user, role, 0}});
  SystemInfo info;
  info.event = SystemEvent::MemberAdded;
  info.actor = actor.value_or("");
  info.subject = user;
  info.role = static_cast<uint8_t>(role);
  return appendSystemAndWait(conv, std::move(ws), std::move(info));
}

Result<uint64_t, ChatError> ConversationDirectory::removeMember(const std::string& conv,
                                                                const Actor& actor,
                                                                const std::string& user) {
  auto c = get(conv);
  if (!c) return Err(c.error());
  auto s = state(conv);
  std::lock_guard admin(s->admin_mu);
  c = get(conv);
  if (!c) return Err(c.error());
  if (c->kind == ConversationKind::Direct) {
    return Err(error(ChatStatus::Conflict, "a direct conversation's members are fixed"));
  }
  auto target = chat_.loadMember(conv, user);
  if (!target) return Err(error(ChatStatus::NotFound, "not a member"));
  if (actor && *actor != user) {  // leaving is always allowed (but see the last owner below)
    auto a = chat_.loadMember(conv, *actor);
    if (!a) return Err(error(ChatStatus::NotMember, "actor is not a member"));
    if (a->role != MemberRole::Owner &&
        !(a->role == MemberRole::Admin && manageable(target->role))) {
      return Err(error(ChatStatus::Forbidden, "actor's role does not allow this"));
    }
  }
  if (target->role == MemberRole::Owner && !hasOtherOwner(chat_, conv, user)) {
    return Err(
        error(ChatStatus::Conflict, "the last owner cannot leave; make another owner first"));
  }
  if (c->member_count > 0) --c->member_count;
  store::WriteSet ws;
  ws.add(store::WriteSet::PutConversation{*c});
  ws.add(store::WriteSet::DeleteMember{conv, user});
  SystemInfo info;
  info.event = SystemEvent::MemberRemoved;
  info.actor = actor.value_or("");
  info.subject = user;
  info.role = static_cast<uint8_t>(target->role);
  return appendSystemAndWait(conv, std::move(ws), std::move(info));
}

Result<uint64_t, ChatError> ConversationDirectory::changeRole(const std::string& conv,
                                                              const Actor& actor,
                                                              const std::string& user,
                                                              MemberRole role) {
  if (!validRole(role)) return Err(error(ChatStatus::BadRequest, "invalid role"));
  auto c = get(conv);
  if (!c) return Err(c.error());
  auto s = state(conv);
  std::lock_guard admin(s->admin_mu);
  if (c->kind == ConversationKind::Direct) {
    return Err(error(ChatStatus::Conflict, "a direct conversation has no roles"));
  }
  auto target = chat_.loadMember(conv, user);
  if (!target) return Err(error(ChatStatus::NotFound, "not a member"));
  if (actor) {
    auto a = chat_.loadMember(conv, *actor);
    if (!a) return Err(error(ChatStatus::NotMember, "actor is not a member"));
    if (a->role != MemberRole::Owner &&
        !(a->role == MemberRole::Admin && manageable(target->role) && manageable(role))) {
      return Err(error(ChatStatus::Forbidden, "actor's role does not allow this"));
    }
  }
  if (target->role == role) return uint64_t{0};
  if (target->role == MemberRole::Owner && !hasOtherOwner(chat_, conv, user)) {
    return Err(error(ChatStatus::Conflict, "the last owner cannot step down; make another owner"));
  }
  store::WriteSet ws;
  ws.add(store::WriteSet::PutMember{store::Member{conv, user, role, target->joined_seq}});
  SystemInfo info;
  info.event = SystemEvent::RoleChanged;
  info.actor = actor.value_or("");
  info.subject = user;
  info.role = static_cast<uint8_t>(role);
  info.old_role = static_cast<uint8_t>(target->role);
  return appendSystemAndWait(conv, std::move(ws), std::move(info));
}

// --- retention -----------------------------------------------------------------------------

Result<uint64_t, ChatError> ConversationDirectory::applyRetention(const std::string& conv) {
  auto c = get(conv);
  if (!c) return Err(c.error());
  const uint64_t max_age =
      c->retention_max_age_s != 0 ? c->retention_max_age_s : options_.retention_max_age_s;
  const uint64_t max_count =
      c->retention_max_count != 0 ? c->retention_max_count : options_.retention_max_count;
  auto s = state(conv);
  std::lock_guard admin(s->admin_mu);
  const uint64_t floor = chat_.loadChatFloor(conv);
  if (max_age == 0 && max_count == 0) return floor;
  const uint64_t head = chat_.loadChatHead(conv);
  uint64_t target = floor;
  if (max_count != 0 && head > max_count) target = std::max(target, head - max_count + 1);
  if (max_age != 0) {
    // Server times are non-decreasing in seq order, so the old records are a prefix of the log.
    const int64_t cutoff = now() - static_cast<int64_t>(max_age * 1000);
    for (bool more = true; more;) {
      auto page = chat_.loadChatLog(conv, target, 1000);
      more = page.size() == 1000;
      for (const auto& r : page) {
        if (r.server_time_ms >= cutoff) {
          more = false;
          break;
        }
        target = r.seq + 1;
      }
    }
  }
  if (target <= floor) return floor;
  std::promise<bool> promise;
  auto future = promise.get_future();
  const uint64_t effective = chat_.trimChatLog(
      conv, target, [&promise](const store::CommitResult& cr) { promise.set_value(cr.ok); });
  if (!future.get()) return Err(error(ChatStatus::Unavailable, "storage failed; retry"));
  return effective;
}

size_t ConversationDirectory::applyRetentionAll() {
  size_t moved = 0;
  std::string after;
  for (;;) {
    auto page = chat_.listConversations(after, 1000);
    for (const auto& c : page) {
      const uint64_t before = chat_.loadChatFloor(c.id);
      auto r = applyRetention(c.id);
      if (r && *r > before) ++moved;
    }
    if (page.size() < 1000) return moved;
    after = page.back().id;
  }
}

}  // namespace parley::chat
