// ChatHub (see the header for the delivery design).
#include "chat_hub.hpp"

#include <algorithm>
#include <cstdio>

#include "broker.hpp"
#include "chat_topics.hpp"
#include "session.hpp"

namespace parley::core {

namespace {
using IdIndex = std::unordered_map<std::string, std::vector<topics::SubscriberId>>;

void addId(IdIndex& index, const std::string& key, topics::SubscriberId id) {
  auto& v = index[key];
  if (std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

void removeId(IdIndex& index, const std::string& key, topics::SubscriberId id) {
  auto it = index.find(key);
  if (it == index.end()) return;
  auto& v = it->second;
  if (auto pos = std::find(v.begin(), v.end(), id); pos != v.end()) {
    *pos = v.back();
    v.pop_back();
  }
  if (v.empty()) index.erase(it);
}
}  // namespace

ChatHub::ChatHub(Broker& broker, chat::ConversationDirectory& directory)
    : broker_(broker),
      dir_(directory),
      rpc_(directory.chatStore(),
           [this](const std::string& conv, std::string_view user) {
             std::lock_guard lk(receipts_mu_);
             bool fresh;
             return cursorLocked(conv, std::string(user), fresh).read;
           }),
      shards_(broker.threadCount()) {
  dir_.setListener(this);
}

std::shared_ptr<Message> ChatHub::makeMessage(std::string_view conv, std::string envelope) {
  auto m = std::make_shared<Message>();
  m->topic.reserve(topics::kConvPrefix.size() + conv.size());
  m->topic.append(topics::kConvPrefix).append(conv);
  m->payload = std::move(envelope);
  m->qos = 1;
  return m;
}

void ChatHub::onAppended(const chat::Appended& a) {
  if (!broker_.hasExecutors()) return;  // no event loops yet: nobody can follow anything
  auto msg = makeMessage(a.conv, *a.envelope);
  // Encode once for both protocol versions; every follower copies these bytes.
  for (bool v5 : {false, true}) {
    msg->encoded[Message::variant(v5, 1, false)] = std::make_shared<EncodedPublish>(
        encodeMessage(*msg, v5 ? mqtt::Version::V5 : mqtt::Version::V311, 1, false));
  }
  Membership change;
  if (a.system) {
    std::lock_guard lk(receipts_mu_);
    receipts_enabled_.erase(a.conv);  // the member count may have crossed the threshold
    if (a.system->event == chat::SystemEvent::ConversationCreated)
      change.kind = Membership::Created;
    if (a.system->event == chat::SystemEvent::MemberAdded)
      change = {Membership::Added, a.system->subject};
    if (a.system->event == chat::SystemEvent::MemberRemoved)
      change = {Membership::Removed, a.system->subject};
  }
  MessagePtr shared = std::move(msg);
  // Posted to every thread, in the writer's order: each thread sees a conversation's records in
  // seq order, membership changes included.
  for (size_t t = 0; t < shards_.size(); ++t) {
    broker_.post(t, [this, t, conv = std::string(a.conv), seq = a.seq, shared, change] {
      deliverOnThread(t, conv, seq, shared, change);
    });
  }
}

void ChatHub::deliverOnThread(size_t thread, const std::string& conv, uint64_t seq,
                              const MessagePtr& msg, const Membership& change) {
  Shard& sh = shards_[thread];
  if (change.kind == Membership::Created && !sh.users.empty()) {
    // The initial members' devices online now start at the creation record. Members are
    // applied before this record is reported, so the store lists them all.
    for (std::string after;;) {
      auto page = chatStore().loadMembers(conv, after, 1000);
      for (const auto& m : page) {
        auto it = sh.users.find(m.user);
        if (it == sh.users.end()) continue;
        const auto ids = it->second;
        for (auto id : ids)
          if (Session* s = broker_.sessionById(id)) s->chatMemberAdded(conv, seq);
      }
      if (page.size() < 1000) break;
      after = page.back().user;
    }
  }
  if (change.kind == Membership::Added || change.kind == Membership::Removed) {
    if (auto it = sh.users.find(change.user); it != sh.users.end()) {
      const auto ids = it->second;  // the calls below may change the shard
      for (auto id : ids) {
        Session* s = broker_.sessionById(id);
        if (!s) continue;
        if (change.kind == Membership::Added)
          s->chatMemberAdded(conv, seq);
        else
          s->chatUnfollow(conv);
      }
    }
  }
  auto it = sh.followers.find(conv);
  if (it == sh.followers.end()) return;
  // chatDeliver never changes the shard (it only queues and writes), so the follower list is
  // walked in place — no copy per message; entries found stale are dropped afterwards.
  std::vector<topics::SubscriberId> stale;
  for (auto id : it->second) {
    Session* s = broker_.sessionById(id);
    if (!s || !s->chatDeliver(conv, seq, msg)) stale.push_back(id);
  }
  for (auto id : stale) removeFollower(conv, id);
}

void ChatHub::addFollower(const std::string& conv, topics::SubscriberId id) {
  addId(shards_[Broker::currentThread()].followers, conv, id);
}

void ChatHub::removeFollower(const std::string& conv, topics::SubscriberId id) {
  removeId(shards_[Broker::currentThread()].followers, conv, id);
}

void ChatHub::addUserSession(const std::string& user, topics::SubscriberId id) {
  addId(shards_[Broker::currentThread()].users, user, id);
}

void ChatHub::removeUserSession(const std::string& user, topics::SubscriberId id) {
  removeId(shards_[Broker::currentThread()].users, user, id);
}

void ChatHub::toFollowers(const std::string& conv, const MessagePtr& msg,
                          void (Session::*send)(const MessagePtr&), topics::SubscriberId except) {
  for (size_t t = 0; t < shards_.size(); ++t) {
    auto run = [this, t, conv, msg, send, except] {
      auto it = shards_[t].followers.find(conv);
      if (it == shards_[t].followers.end()) return;
      const auto ids = it->second;  // a send may end a session and so change the shard
      for (auto id : ids) {
        if (id == except) continue;
        if (Session* s = broker_.sessionById(id)) (s->*send)(msg);
      }
    };
    if (t == Broker::currentThread())
      run();
    else
      broker_.post(t, std::move(run));
  }
}

// --- typing --------------------------------------------------------------------------------

void ChatHub::sendTyping(const std::string& conv, std::shared_ptr<Message> msg,
                         topics::SubscriberId from) {
  for (bool v5 : {false, true}) {
    msg->encoded[Message::variant(v5, 0, false)] = std::make_shared<EncodedPublish>(
        encodeMessage(*msg, v5 ? mqtt::Version::V5 : mqtt::Version::V311, 0, false));
  }
  toFollowers(conv, std::move(msg), &Session::sendEphemeral, from);
}

// --- presence ------------------------------------------------------------------------------

void ChatHub::publishPresence(const std::string& user, bool online, uint32_t devices) {
  chat::PresenceInfo p{user, online, devices, broker_.clock().wallMs()};
  auto m = std::make_shared<Message>();
  m->topic.append(topics::kPresencePrefix).append(user);
  m->payload = chat::encodePresence(p);
  m->qos = 1;
  m->retain = true;
  // Presence is best-effort (PRODUCT.md guarantee 5) and reconciled at start-up: no fsync, so
  // a storm of connects does not queue behind the disk.
  broker_.publish(std::move(m), nullptr, nullptr, 0, false, false);
}

void ChatHub::deviceOnline(const std::string& user) {
  uint32_t devices;
  {
    std::lock_guard lk(presence_mu_);
    auto& p = presence_[user];
    p.offline_at_ms = 0;  // back within the grace: no offline is published
    devices = ++p.devices;
  }
  publishPresence(user, true, devices);
}

void ChatHub::deviceOffline(const std::string& user, bool clean) {
  uint32_t devices;
  {
    std::lock_guard lk(presence_mu_);
    auto it = presence_.find(user);
    if (it == presence_.end() || it->second.devices == 0) return;
    devices = --it->second.devices;
    if (devices == 0 && !clean) {
      it->second.offline_at_ms =
          broker_.clock().nowMs() + int64_t(broker_.config().presence_grace_s) * 1000;
      return;
    }
    if (devices == 0) presence_.erase(it);
  }
  publishPresence(user, devices > 0, devices);
}

void ChatHub::tickPresence(int64_t now_ms) {
  std::vector<std::string> gone;
  {
    std::lock_guard lk(presence_mu_);
    for (auto it = presence_.begin(); it != presence_.end();) {
      if (it->second.devices == 0 && it->second.offline_at_ms != 0 &&
          it->second.offline_at_ms <= now_ms) {
        gone.push_back(it->first);
        it = presence_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& user : gone) publishPresence(user, false, 0);
}

void ChatHub::reconcilePresence() {
  size_t fixed = 0;
  for (const auto& m : broker_.retainedMatching("presence/+")) {
    auto p = chat::decodePresence(m->payload);
    if (!p || !p->online) continue;
    publishPresence(p->user, false, 0);
    ++fixed;
  }
  if (fixed)
    std::fprintf(stderr,
                 "parleyd: presence: %zu users were left online by the last run; now offline\n",
                 fixed);
}

bool ChatHub::maySeePresence(const std::string& reader, std::string_view target) {
  if (reader.empty()) return false;
  if (reader == target) return true;
  switch (broker_.config().presence_policy) {
    case PresencePolicy::Self:
      return false;
    case PresencePolicy::Authenticated:
      return true;
    case PresencePolicy::Shared:
      break;
  }
  // Shares a conversation: walk the smaller side's conversations in pages.
  store::ChatStore& cs = chatStore();
  for (std::string after;;) {
    auto page = cs.loadUserConversations(reader, after, 1000);
    for (const auto& uc : page)
      if (cs.loadMember(uc.conv, target)) return true;
    if (page.size() < 1000) return false;
    after = page.back().conv;
  }
}

// --- receipts ------------------------------------------------------------------------------

bool ChatHub::receiptsEnabled(const std::string& conv) {
  {
    std::lock_guard lk(receipts_mu_);
    if (auto it = receipts_enabled_.find(conv); it != receipts_enabled_.end()) return it->second;
  }
  const auto c = chatStore().loadConversation(conv);
  const bool on = c && c->kind != store::ConversationKind::Channel &&
                  c->member_count <= broker_.config().fanout_threshold;
  std::lock_guard lk(receipts_mu_);
  receipts_enabled_[conv] = on;
  return on;
}

store::ChatCursor& ChatHub::cursorLocked(const std::string& conv, const std::string& user,
                                         bool& fresh) {
  auto& r = receipts_[conv];
  auto it = r.cursors.find(user);
  fresh = it == r.cursors.end();
  if (fresh) {
    // First touch since start: continue from what is stored (a point read, once per user).
    auto stored = chatStore().loadChatCursor(conv, user);
    it = r.cursors.emplace(user, stored.value_or(store::ChatCursor{conv, user, 0, 0})).first;
  }
  return it->second;
}

void ChatHub::markDirtyLocked(ConvReceipts& r, const std::string& user) {
  if (std::find(r.dirty.begin(), r.dirty.end(), user) == r.dirty.end()) r.dirty.push_back(user);
}

void ChatHub::noteDelivered(const std::string& conv, const std::string& user, uint64_t seq) {
  std::lock_guard lk(receipts_mu_);
  bool fresh;
  auto& c = cursorLocked(conv, user, fresh);
  if (seq <= c.delivered) return;
  c.delivered = seq;
  markDirtyLocked(receipts_[conv], user);
}

void ChatHub::noteRead(const std::string& conv, const std::string& user, uint64_t seq,
                       bool announce) {
  store::WriteSet ws;
  {
    std::lock_guard lk(receipts_mu_);
    bool fresh;
    auto& c = cursorLocked(conv, user, fresh);
    if (seq <= c.read) return;
    c.read = seq;
    c.delivered = std::max(c.delivered, seq);  // read implies delivered to some device
    if (announce) markDirtyLocked(receipts_[conv], user);
    ws.add(store::WriteSet::PutChatCursor{c});
  }
  ws.setNeedsSync(false);  // a lost read cursor is re-sent by the app; no fsync on this path
  broker_.store().commit(std::move(ws), [](const store::CommitResult&) {});
}

void ChatHub::tickReceipts(int64_t now_ms) {
  struct Event {
    std::string conv;
    chat::ReceiptsInfo info;
  };
  std::vector<Event> events;
  store::WriteSet ws;
  {
    std::lock_guard lk(receipts_mu_);
    for (auto& [conv, r] : receipts_) {
      if (r.dirty.empty() ||
          now_ms - r.last_emit_ms < int64_t(broker_.config().receipts_interval_ms))
        continue;
      Event e{conv, {conv, {}}};
      std::sort(r.dirty.begin(), r.dirty.end());
      for (const auto& user : r.dirty) {
        const auto& c = r.cursors[user];
        e.info.cursors.push_back({user, c.delivered, c.read});
        ws.add(store::WriteSet::PutChatCursor{c});
      }
      r.dirty.clear();
      r.last_emit_ms = now_ms;
      events.push_back(std::move(e));
    }
  }
  if (events.empty()) return;
  ws.setNeedsSync(false);
  broker_.store().commit(std::move(ws), [](const store::CommitResult&) {});
  for (auto& e : events) {
    auto m = std::make_shared<Message>();
    m->topic.append(topics::kConvPrefix).append(e.conv).append("/receipts");
    m->payload = chat::encodeReceipts(e.info);
    m->qos = 1;
    for (bool v5 : {false, true}) {
      m->encoded[Message::variant(v5, 1, false)] = std::make_shared<EncodedPublish>(
          encodeMessage(*m, v5 ? mqtt::Version::V5 : mqtt::Version::V311, 1, false));
    }
    toFollowers(e.conv, std::move(m), &Session::sendReceipts, 0);
  }
}

}  // namespace parley::core
