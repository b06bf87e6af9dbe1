// ChatHub (see the header for the delivery design).
#include "chat_hub.hpp"

#include <algorithm>

#include "broker.hpp"
#include "chat_topics.hpp"
#include "session.hpp"

namespace parley::core {

namespace {
void eraseId(std::vector<topics::SubscriberId>& v, topics::SubscriberId id) {
  auto it = std::find(v.begin(), v.end(), id);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}
}  // namespace

ChatHub::ChatHub(Broker& broker, chat::ConversationDirectory& directory)
    : broker_(broker), dir_(directory), rpc_(directory.chatStore()), shards_(broker.threadCount()) {
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
  if (change.kind != Membership::None) {
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
  const auto ids = it->second;  // a delivery may end a session and so change the shard
  for (auto id : ids) {
    if (Session* s = broker_.sessionById(id)) s->chatDeliver(conv, seq, msg);
  }
}

void ChatHub::addFollower(const std::string& conv, topics::SubscriberId id) {
  auto& v = shards_[Broker::currentThread()].followers[conv];
  if (std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

void ChatHub::removeFollower(const std::string& conv, topics::SubscriberId id) {
  auto& m = shards_[Broker::currentThread()].followers;
  auto it = m.find(conv);
  if (it == m.end()) return;
  eraseId(it->second, id);
  if (it->second.empty()) m.erase(it);
}

void ChatHub::addUserSession(const std::string& user, topics::SubscriberId id) {
  auto& v = shards_[Broker::currentThread()].users[user];
  if (std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

void ChatHub::removeUserSession(const std::string& user, topics::SubscriberId id) {
  auto& m = shards_[Broker::currentThread()].users;
  auto it = m.find(user);
  if (it == m.end()) return;
  eraseId(it->second, id);
  if (it->second.empty()) m.erase(it);
}

}  // namespace parley::core
