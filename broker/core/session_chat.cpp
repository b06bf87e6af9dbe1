// Session, chat part: per-conversation cursors, live hand-over and replay from the log.
// The design is in chat_hub.hpp; this file keeps one invariant per followed conversation:
// every record below `next` is in pending_/inflight_ or acknowledged, and `acked` (the offset
// written to the store) is the highest seq below which the client acknowledged everything.
#include <algorithm>
#include <unordered_map>

#include "broker.hpp"
#include "chat_hub.hpp"
#include "chat_topics.hpp"
#include "client.hpp"
#include "envelope.hpp"
#include "session.hpp"

namespace parley::core {

namespace {
constexpr size_t kChatChunk = 256;                 // records read from a log at a time
constexpr uint64_t kFlushEveryAcks = 1024;         // write an offset at least this often
constexpr int64_t kFlushIntervalMs = 1000;         // ... or after this long
constexpr size_t kEphemeralWatermark = 64 * 1024;  // unsent bytes above which typing is shed

std::string_view convOf(const Message& m) {
  return std::string_view(m.topic).substr(topics::kConvPrefix.size());
}
}  // namespace

Session::ChatCursor& Session::chatFollow(const std::string& conv, uint64_t acked, uint8_t qos) {
  auto [it, inserted] = chat_->cursors.try_emplace(conv);
  ChatCursor& c = it->second;
  if (inserted) {
    c.acked = acked;
    c.next = acked + 1;
    c.qos = qos;
    c.receipts = broker_.chat()->receiptsEnabled(conv);
  }
  broker_.chat()->addFollower(conv, id_);
  return c;
}

void Session::chatStartReplay(const std::string& conv, ChatCursor& c) {
  if (c.replay) return;
  c.replay = true;
  chat_->replaying.push_back(conv);
}

void Session::chatAttach(const std::string& user, bool new_session) {
  ChatHub* hub = broker_.chat();
  // A clean session follows only what it subscribes to (chatSubscribe), from the head: it needs
  // no chat state until then, which keeps plain MQTT connections small.
  if (!hub || user.empty() || !client_ || !persistent_) return;
  chatRegister(user);

  // Follow first, then read heads and offsets: a record applied after these reads is posted to
  // this thread after them and arrives live, so there is no gap at the hand-over.
  store::ChatStore& cs = hub->chatStore();
  std::vector<store::UserConversation> convs;
  for (std::string after;;) {
    auto page = cs.loadUserConversations(user, after, 1000);
    convs.insert(convs.end(), page.begin(), page.end());
    if (page.size() < 1000) break;
    after = page.back().conv;
  }
  std::unordered_map<std::string, bool> member;
  for (const auto& uc : convs) {
    member[uc.conv] = true;
    hub->addFollower(uc.conv, id_);
  }
  for (auto it = chat_->cursors.begin(); it != chat_->cursors.end();) {
    if (!member.count(it->first)) {  // left while this device was away
      hub->removeFollower(it->first, id_);
      it = chat_->cursors.erase(it);
    } else {
      ++it;
    }
  }
  std::unordered_map<std::string, uint64_t> offsets;
  if (!new_session)
    for (auto& o : cs.loadChatOffsets(client_id_)) offsets[o.conv] = o.seq;

  store::WriteSet ws;
  for (const auto& uc : convs) {
    const uint64_t head = cs.loadChatHead(uc.conv);
    auto it = chat_->cursors.find(uc.conv);
    if (it == chat_->cursors.end()) {
      uint64_t acked = head;  // a new device starts at the head; older messages: rpc/history
      if (!new_session) {
        // Never before the user joined (a member removed and added again must not see what
        // was said in between); without an offset, from the join: the user joined while this
        // device existed (its offsets were written when it was created).
        auto m = cs.loadMember(uc.conv, user);
        if (!m) {
          hub->removeFollower(uc.conv, id_);
          continue;
        }
        const uint64_t from_join = m->joined_seq ? m->joined_seq - 1 : 0;
        auto off = offsets.find(uc.conv);
        acked = off == offsets.end() ? from_join : std::max(off->second, from_join);
      }
      ChatCursor& c = chatFollow(uc.conv, acked, 1);
      c.stored = acked;
      if (new_session) ws.add(store::WriteSet::PutChatOffset{{client_id_, uc.conv, acked}});
      it = chat_->cursors.find(uc.conv);
    }
    if (head >= it->second.next) chatStartReplay(uc.conv, it->second);
  }
  if (!ws.empty()) {
    ws.setNeedsSync(false);
    broker_.store().commit(std::move(ws), [](const store::CommitResult&) {});
  }
  pump();
}

bool Session::chatFollows(std::string_view conv) const {
  return chat_ && chat_->cursors.find(conv) != chat_->cursors.end();
}

void Session::chatRegister(const std::string& user) {
  if (!chat_) chat_ = std::make_unique<ChatState>();
  if (chat_->user != user) {  // the same client id, another user: nothing carries over
    for (auto& [conv, c] : chat_->cursors) broker_.chat()->removeFollower(conv, id_);
    chat_->cursors.clear();
    chat_->replaying.clear();
    chat_->user = user;
  }
  broker_.chat()->addUserSession(user, id_);
  chat_->registered = true;
}

void Session::chatSubscribe(const std::string& user, const std::string& conv, uint8_t qos) {
  ChatHub* hub = broker_.chat();
  if (!hub || user.empty() || !client_) return;
  if (!chat_ || !chat_->registered || chat_->user != user) chatRegister(user);
  qos = std::min<uint8_t>(qos, 1);
  if (auto it = chat_->cursors.find(conv); it != chat_->cursors.end()) {
    it->second.qos = qos;
    return;
  }
  // Not followed yet (a clean session, or unsubscribed earlier): from the head on.
  const uint64_t head = hub->chatStore().loadChatHead(conv);
  chatFollow(conv, head, qos);
  if (persistent_) chat_->dirty = true;  // stored = 0 ≠ acked: the offset gets written
}

bool Session::chatDeliver(const std::string& conv, uint64_t seq, const MessagePtr& msg) {
  if (!chat_ || !client_) return false;
  auto it = chat_->cursors.find(conv);
  if (it == chat_->cursors.end()) return false;
  ChatCursor& c = it->second;
  if (seq < c.next) return true;  // already queued, sent or acknowledged
  if (c.replay || seq > c.next || pending_.size() >= broker_.config().max_queued_in_memory) {
    // Not the next one we need, or no room: the log has it; read it from there in order.
    chatStartReplay(conv, c);
    pump();
    return true;
  }
  Delivery d;
  d.msg = msg;
  d.qos = c.qos;
  d.chat_seq = seq;
  c.next = seq + 1;
  pushPending(std::move(d));
  pump();
  return true;
}

bool Session::chatLoadChunk() {
  ChatHub* hub = broker_.chat();
  const std::string conv = chat_->replaying.front();
  auto it = chat_->cursors.find(conv);
  if (!hub || it == chat_->cursors.end() || !it->second.replay) {
    chat_->replaying.erase(chat_->replaying.begin());
    return true;
  }
  ChatCursor& c = it->second;
  store::ChatStore& cs = hub->chatStore();
  const uint64_t floor = cs.loadChatFloor(conv);
  if (floor > c.next) {
    // Retention removed records this device never got: tell it, then go on from the floor.
    chat::Delivered notice;
    notice.conv = conv;
    notice.seq = 0;
    notice.server_time_ms = broker_.clock().wallMs();
    notice.content.kind = chat::Kind::System;
    notice.system = chat::SystemInfo{};
    notice.system->event = chat::SystemEvent::HistoryTrimmed;
    notice.system->floor_seq = floor;
    Delivery d;
    d.msg = ChatHub::makeMessage(conv, chat::encodeChatMessage(notice));
    d.qos = c.qos;
    pushPending(std::move(d));
    c.ooo.clear();
    c.acked = std::max(c.acked, floor - 1);
    c.next = floor;
    if (persistent_) chat_->dirty = true;
  }
  auto records = cs.loadChatLog(conv, c.next, kChatChunk);
  for (auto& r : records) {
    if (r.seq < c.next) continue;
    Delivery d;
    d.msg = ChatHub::makeMessage(conv, std::move(r.envelope));
    d.qos = c.qos;
    d.chat_seq = r.seq;
    c.next = r.seq + 1;
    pushPending(std::move(d));
  }
  if (records.size() < kChatChunk) {
    // Caught up with what is applied; anything newer is posted to this thread after this read.
    c.replay = false;
    chat_->replaying.erase(chat_->replaying.begin());
  }
  return true;
}

void Session::chatAcked(const Delivery& d) {
  if (!chat_) return;
  auto it = chat_->cursors.find(convOf(*d.msg));
  if (it == chat_->cursors.end()) return;
  ChatCursor& c = it->second;
  const uint64_t s = d.chat_seq;
  if (s <= c.acked) return;
  if (s != c.acked + 1) {
    c.ooo.push_back(s);  // an earlier one is still unacknowledged
    return;
  }
  c.acked = s;
  while (!c.ooo.empty()) {
    auto next = std::find(c.ooo.begin(), c.ooo.end(), c.acked + 1);
    if (next == c.ooo.end()) break;
    c.acked = *next;
    *next = c.ooo.back();
    c.ooo.pop_back();
  }
  if (c.receipts) {  // reported once per tick (chatReportDelivered), not under a lock per ack
    c.unreported = true;
    chat_->unreported = true;
  }
  if (!persistent_) return;
  chat_->dirty = true;
  if (c.acked - c.stored >= kFlushEveryAcks) chatFlushOffsets();
}

void Session::chatMemberAdded(const std::string& conv, uint64_t joined_seq) {
  // Clean sessions follow only what they subscribe to; offline devices pick the conversation up
  // from the join record when they return (Session::chatAttach).
  if (!chat_ || !client_ || !persistent_ || !broker_.chat()) return;
  if (chat_->cursors.count(conv)) return;
  chatFollow(conv, joined_seq - 1, 1);  // the join record itself is delivered next
  chat_->dirty = true;
}

void Session::chatUnfollow(const std::string& conv) {
  if (!chat_) return;
  auto it = chat_->cursors.find(conv);
  if (it == chat_->cursors.end()) return;
  chat_->cursors.erase(it);
  if (broker_.chat()) broker_.chat()->removeFollower(conv, id_);
  // Removed from the conversation: what still waits here is not sent.
  const std::string topic = std::string(topics::kConvPrefix) + conv;
  for (size_t i = 0; i < pending_.size();) {
    if (pending_[i].msg->topic == topic)
      pending_.erase(i);
    else
      ++i;
  }
}

void Session::chatFlushOffsets() {
  if (!chat_ || !persistent_ || !chat_->dirty) return;
  store::WriteSet ws;
  for (auto& [conv, c] : chat_->cursors) {
    if (c.acked == c.stored) continue;
    ws.add(store::WriteSet::PutChatOffset{{client_id_, conv, c.acked}});
    c.stored = c.acked;
  }
  chat_->dirty = false;
  chat_->flushed_ms = broker_.clock().nowMs();
  if (ws.empty()) return;
  // Losing this write only causes redelivery (PROTOCOL.md), so it does not wait for an fsync.
  ws.setNeedsSync(false);
  broker_.store().commit(std::move(ws), [](const store::CommitResult&) {});
}

void Session::chatReportDelivered() {
  if (!chat_ || !chat_->unreported || !broker_.chat()) return;
  chat_->unreported = false;
  for (auto& [conv, c] : chat_->cursors) {
    if (!c.unreported) continue;
    c.unreported = false;
    broker_.chat()->noteDelivered(conv, chat_->user, c.acked);
  }
}

void Session::chatTick(int64_t now_ms) {
  chatReportDelivered();
  if (chat_ && chat_->dirty && now_ms - chat_->flushed_ms >= kFlushIntervalMs) chatFlushOffsets();
}

void Session::chatDetach() {
  // Deliveries still waiting in pending_ are dropped by detach(): read them from the log again.
  auto rewind = [this](const Delivery& d) {
    auto it = chat_->cursors.find(convOf(*d.msg));
    if (it != chat_->cursors.end()) it->second.next = std::min(it->second.next, d.chat_seq);
  };
  for (size_t i = 0; i < pending_.size(); ++i)
    if (pending_[i].chat_seq) rewind(pending_[i]);
  // Unacknowledged chat records are resent on return (DUP, same packet id, MQTT-4.4.0-1), but
  // the log has their bytes: an offline device keeps only a topic-sized stub per conversation,
  // not a window of message copies, and chatReload() reads them back on attach.
  std::unordered_map<std::string, MessagePtr> stubs;
  for (size_t i = 0; i < inflight_.size(); ++i) {
    Delivery& d = inflight_[i].d;
    if (!d.chat_seq || d.chat_reload) continue;
    MessagePtr& stub = stubs[d.msg->topic];
    if (!stub) {
      auto m = std::make_shared<Message>();
      m->topic = d.msg->topic;
      m->qos = 1;
      stub = std::move(m);
    }
    inflight_bytes_ -= d.msg->payload.size();
    d.msg = stub;
    d.chat_reload = true;
  }
  chatFlushOffsets();
  chatReportDelivered();
  ChatHub* hub = broker_.chat();
  if (hub && chat_->registered) {
    for (auto& [conv, c] : chat_->cursors) hub->removeFollower(conv, id_);
    hub->removeUserSession(chat_->user, id_);
  }
  chat_->registered = false;
  for (auto& [conv, c] : chat_->cursors) c.replay = false;
  chat_->replaying.clear();
  // A clean session ends with its connection; a persistent one keeps its cursors in memory
  // (in-flight records are resent on return, the rest replays from `next`).
  if (!persistent_) chat_.reset();
}

bool Session::chatReload(Delivery& d) {
  ChatHub* hub = broker_.chat();
  const std::string_view conv = convOf(*d.msg);
  std::vector<store::ChatRecord> r;
  if (hub) r = hub->chatStore().loadChatLog(conv, d.chat_seq, 1);
  if (r.empty() || r[0].seq != d.chat_seq) {
    // Trimmed by retention meanwhile: replay from here tells the device (HistoryTrimmed).
    if (chat_) {
      auto it = chat_->cursors.find(conv);
      if (it != chat_->cursors.end()) it->second.next = std::min(it->second.next, d.chat_seq);
    }
    return false;
  }
  d.msg = ChatHub::makeMessage(conv, std::move(r[0].envelope));
  d.chat_reload = false;
  inflight_bytes_ += d.msg->payload.size();
  return true;
}

void Session::sendEphemeral(const MessagePtr& msg) {
  if (!client_) return;
  if (!pending_.empty() || client_->transport().queuedBytes() >= kEphemeralWatermark) {
    Stats::add(broker_.stats().ephemeral_dropped);
    return;
  }
  Delivery d;
  d.msg = msg;
  d.qos = 0;
  if (send(d, 0, false)) client_->transport().requestFlush();
}

void Session::sendReceipts(const MessagePtr& msg) {
  if (!client_) return;
  Delivery d;
  d.msg = msg;
  d.qos = 1;
  deliver(std::move(d));
}

void Session::chatForget() {
  if (!chat_) return;
  ChatHub* hub = broker_.chat();
  if (hub && chat_->registered) {
    for (auto& [conv, c] : chat_->cursors) hub->removeFollower(conv, id_);
    hub->removeUserSession(chat_->user, id_);
  }
  chat_.reset();
}

}  // namespace parley::core
