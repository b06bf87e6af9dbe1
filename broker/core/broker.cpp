#include "broker.hpp"

#include <algorithm>
#include <cstdio>

#include "chat_hub.hpp"
#include "client.hpp"
#include "topic_names.hpp"

namespace parley::core {

namespace {
thread_local size_t t_thread = SIZE_MAX;

// Scratch space reused by every PUBLISH on a thread (no per-message allocation for matching).
thread_local topics::MatchResult t_match;

void logStoreError(const char* what) {
  std::fprintf(stderr, "parleyd: store: %s failed\n", what);
}
}  // namespace

Broker::Broker(BrokerConfig config, store::Store& store, const Clock& clock, size_t threads)
    : config_(std::move(config)), store_(store), clock_(clock) {
  for (size_t i = 0; i < threads; ++i) threads_.push_back(std::make_unique<ThreadState>());
  started_ms_ = clock_.nowMs();
}

Broker::~Broker() = default;

size_t Broker::homeThread(std::string_view client_id) const {
  return std::hash<std::string_view>{}(client_id) % threads_.size();
}
size_t Broker::currentThread() {
  return t_thread;
}
void Broker::setCurrentThread(size_t index) {
  t_thread = index;
}

// ---------------------------------------------------------------------------------------------
// Stored ⇄ routed messages. Properties are kept as a 5.0 PUBLISH encoding of a stand-in packet;
// the store treats them as opaque bytes.

store::Message Broker::toStored(const Message& m) {
  store::Message s;
  s.id = m.store_id;
  s.topic = m.topic;
  s.payload = m.payload;
  s.qos = m.qos;
  s.retain = m.retain;
  s.expires_at_ms = m.expires_at_ms;
  if (m.props != mqtt::Properties{}) {
    mqtt::Publish p;
    p.topic = "p";
    p.props = m.props;
    mqtt::Buffer b;
    mqtt::encodePublish(p, mqtt::Version::V5, b);
    s.properties.assign(b.begin(), b.end());
  }
  return s;
}

std::shared_ptr<Message> messageFromStored(const store::Message& s) {
  auto m = std::make_shared<Message>();
  m->topic = s.topic;
  m->payload = s.payload;
  m->qos = s.qos;
  m->retain = s.retain;
  m->store_id = s.id;
  m->expires_at_ms = s.expires_at_ms;
  if (!s.properties.empty()) {
    mqtt::Bytes bytes(reinterpret_cast<const uint8_t*>(s.properties.data()), s.properties.size());
    auto frame = mqtt::readFrame(bytes, UINT32_MAX);
    if (frame && frame->complete) {
      auto pkt = mqtt::decode(frame->frame, bytes, mqtt::Version::V5);
      if (pkt)
        if (auto* p = std::get_if<mqtt::Publish>(&*pkt)) m->props = std::move(p->props);
    }
  }
  return m;
}

std::shared_ptr<Message> Broker::fromStored(const store::Message& s) {
  return messageFromStored(s);
}

// ---------------------------------------------------------------------------------------------
// Start-up

void Broker::recover() {
  store_.deleteUnreferencedMessages();
  store_.forEachQueuedMessageId([&](uint64_t id) { ++refs_[id]; });
  const int64_t now = clock_.wallMs();
  std::unordered_map<std::string, Session*> by_name;
  for (auto& rec : store_.loadSessions()) {
    if (rec.expiry_interval != 0xFFFFFFFF && rec.disconnected_at_ms &&
        rec.disconnected_at_ms + int64_t(rec.expiry_interval) * 1000 <= now) {
      store::WriteSet ws;
      ws.add(store::WriteSet::DeleteSession{rec.client_id});
      ws.setNeedsSync(false);
      store_.commit(std::move(ws), [](const store::CommitResult&) {});
      continue;
    }
    const size_t t = homeThread(rec.client_id);
    const auto version = static_cast<mqtt::Version>(rec.protocol_version);
    Session* s = newSession(*threads_[t], t, rec.client_id, true, version);
    s->setExpiryInterval(rec.expiry_interval);
    s->setVersion(version);
    // The broker was down: count the session's absence from now if it was connected.
    s->setDisconnectedAtMs(rec.disconnected_at_ms ? rec.disconnected_at_ms : now);
    s->enterBacklogFrom(0);
    for (uint16_t id : store_.loadInbound(rec.client_id)) s->inboundQos2()[id] = true;
    by_name[rec.client_id] = s;
  }
  for (auto& sub : store_.loadSubscriptions()) {
    auto it = by_name.find(sub.client_id);
    if (it == by_name.end()) continue;
    topics::SubOptions o{sub.qos, sub.no_local, sub.retain_as_published, sub.retain_handling,
                         sub.subscription_id};
    it->second->subscriptions()[sub.filter] = o;
    subs_.subscribe(sub.filter, it->second->id(), o);
  }
  for (auto& r : store_.loadRetained()) {
    retained_.set(r.topic, fromStored(r));
  }
  stats_.retained_count = retained_.size();
  stats_.subscriptions = subs_.size();
  std::fprintf(stderr, "parleyd: recovered %zu sessions, %zu subscriptions, %zu retained\n",
               by_name.size(), subs_.size(), retained_.size());
}

// ---------------------------------------------------------------------------------------------
// Sessions (home thread)

Session* Broker::newSession(ThreadState& ts, size_t thread, const std::string& client_id,
                            bool persistent, mqtt::Version version) {
  const auto id = SubscriberKey::withV5(SubscriberKey::make(thread, persistent, ts.next_serial++),
                                        mqtt::isV5(version));
  auto s = std::make_unique<Session>(*this, client_id, id, persistent);
  Session* raw = s.get();
  ts.sessions[client_id] = std::move(s);
  ts.by_id[id] = raw;
  if (persistent) {
    std::unique_lock lock(subs_mu_);
    persistent_names_[id] = client_id;
  }
  Stats::add(stats_.clients_total);
  return raw;
}

void Broker::destroySession(ThreadState& ts, Session& s, bool delete_from_store) {
  {
    std::unique_lock lock(subs_mu_);
    for (auto& [filter, o] : s.subscriptions()) subs_.unsubscribe(filter, s.id());
    persistent_names_.erase(s.id());
    stats_.subscriptions = subs_.size();
  }
  if (delete_from_store && s.persistent()) {
    // Release this session's references to stored messages, then drop its records.
    store::WriteSet ws;
    uint64_t from = 0;
    while (true) {
      auto entries = store_.loadQueue(s.clientId(), from, 1024);
      std::lock_guard lock(refs_mu_);
      for (auto& e : entries) {
        from = e.msg_id + 1;
        auto it = refs_.find(e.msg_id);
        if (it != refs_.end() && --it->second == 0) {
          refs_.erase(it);
          ws.add(store::WriteSet::DeleteMessage{e.msg_id});
        }
      }
      if (entries.size() < 1024) break;
    }
    ws.add(store::WriteSet::DeleteSession{s.clientId()});
    ws.setNeedsSync(false);
    store_.commit(std::move(ws), [](const store::CommitResult& r) {
      if (!r.ok) logStoreError("session delete");
    });
  }
  s.chatForget();
  Stats::sub(stats_.clients_total);
  ts.by_id.erase(s.id());
  ts.sessions.erase(s.clientId());  // destroys s
}

Broker::SessionResult Broker::openSession(Client& client, const std::string& client_id,
                                          bool clean_start, bool persistent,
                                          uint32_t expiry_interval, mqtt::Version version) {
  const size_t t = currentThread();
  ThreadState& ts = *threads_[t];

  auto it = ts.sessions.find(client_id);
  if (it != ts.sessions.end() && it->second->client()) {
    // May destroy a non-persistent session, and may schedule the old connection's delayed will.
    it->second->client()->takenOver();
    it = ts.sessions.find(client_id);
  }
  // A delayed will is cancelled by a new connection for the session (5.0 3.1.2.5) — unless the
  // session ends now (clean start), in which case the will goes out now.
  if (auto w = ts.wills.find(client_id); w != ts.wills.end()) {
    auto will = std::const_pointer_cast<Message>(w->second.msg);
    ts.wills.erase(w);
    if (clean_start) publishWill(std::move(will));
  }
  bool present = false;
  Session* s = nullptr;
  if (it != ts.sessions.end()) {
    if (clean_start) {
      destroySession(ts, *it->second, true);
    } else {
      // Resume (3.1.2-4), whatever expiry this connection asks for: the new expiry only governs
      // what happens when it ends.
      s = it->second.get();
      present = true;
    }
  }
  if (!s) s = newSession(ts, t, client_id, persistent, version);
  s->setExpiryInterval(expiry_interval);
  // The subscriber key's version bit is only an encoding hint; a session resumed with another
  // version encodes its own copies (Session::send) until it is created anew.
  s->setVersion(version);
  (void)client;
  if (persistent) {
    store::WriteSet ws;
    ws.add(store::WriteSet::PutSession{
        store::SessionRecord{client_id, expiry_interval, static_cast<uint8_t>(version), 0}});
    ws.setNeedsSync(false);
    store_.commit(std::move(ws), [](const store::CommitResult& r) {
      if (!r.ok) logStoreError("session write");
    });
  }
  return {s, present};
}

void Broker::closeSession(Session& s) {
  ThreadState& ts = *threads_[currentThread()];
  if (s.expiryInterval() == 0) {
    destroySession(ts, s, true);
    return;
  }
  store::WriteSet ws;
  ws.add(store::WriteSet::PutSession{store::SessionRecord{
      s.clientId(), s.expiryInterval(), static_cast<uint8_t>(s.version()), s.disconnectedAtMs()}});
  ws.setNeedsSync(false);
  store_.commit(std::move(ws), [](const store::CommitResult&) {});
}

void Broker::scheduleWill(const std::string& client_id, MessagePtr will, int64_t at_ms) {
  threads_[currentThread()]->wills[client_id] = PendingWill{std::move(will), at_ms};
}

Session* Broker::sessionById(topics::SubscriberId id) {
  ThreadState& ts = *threads_[currentThread()];
  auto it = ts.by_id.find(id);
  return it == ts.by_id.end() ? nullptr : it->second;
}

Session* Broker::findSession(const std::string& client_id) {
  ThreadState& ts = *threads_[currentThread()];
  auto it = ts.sessions.find(client_id);
  return it == ts.sessions.end() ? nullptr : it->second.get();
}

void Broker::publishWill(std::shared_ptr<Message> will) {
  if (will->props.message_expiry_interval)
    will->expires_at_ms = clock_.wallMs() + int64_t(*will->props.message_expiry_interval) * 1000;
  publish(std::move(will), nullptr);
}

void Broker::registerClient(Client* c) {
  threads_[currentThread()]->clients.push_back(c);
  const uint64_t n = Stats::get(stats_.clients_connected) + 1;
  if (n > Stats::get(stats_.clients_maximum)) stats_.clients_maximum = n;
}

void Broker::unregisterClient(Client* c) {
  auto& v = threads_[currentThread()]->clients;
  auto it = std::find(v.begin(), v.end(), c);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

size_t Broker::sessionCount() const {
  return Stats::get(stats_.clients_total);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

bool Broker::subscribe(Session& s, const std::string& filter, const topics::SubOptions& o) {
  bool is_new;
  {
    std::unique_lock lock(subs_mu_);
    is_new = subs_.subscribe(filter, s.id(), o);
    stats_.subscriptions = subs_.size();
  }
  s.subscriptions()[filter] = o;
  return is_new;
}

bool Broker::unsubscribe(Session& s, const std::string& filter) {
  bool existed;
  {
    std::unique_lock lock(subs_mu_);
    existed = subs_.unsubscribe(filter, s.id());
    stats_.subscriptions = subs_.size();
  }
  s.subscriptions().erase(filter);
  if (existed && s.persistent()) {
    store::WriteSet ws;
    ws.add(store::WriteSet::DeleteSubscription{s.clientId(), filter});
    ws.setNeedsSync(false);
    store_.commit(std::move(ws), [](const store::CommitResult&) {});
  }
  return existed;
}

void Broker::persistSubscriptions(Session& s, const std::vector<std::string>& filters,
                                  std::function<void(bool ok)> done) {
  store::WriteSet ws;
  for (auto& f : filters) {
    auto it = s.subscriptions().find(f);
    if (it == s.subscriptions().end()) continue;
    const auto& o = it->second;
    ws.add(store::WriteSet::PutSubscription{
        store::SubscriptionRecord{s.clientId(), f, o.qos, o.no_local, o.retain_as_published,
                                  o.retain_handling, o.subscription_id}});
  }
  const size_t t = currentThread();
  store_.commit(std::move(ws), [this, t, done = std::move(done)](const store::CommitResult& r) {
    if (!r.ok) logStoreError("subscription write");
    post(t, [done, ok = r.ok] { done(ok); });
  });
}

std::vector<MessagePtr> Broker::retainedMatching(const std::string& filter) {
  std::vector<MessagePtr> found;
  std::lock_guard lock(retained_mu_);
  retained_.match(filter, [&](const std::string&, const MessagePtr& m) { found.push_back(m); });
  return found;
}

void Broker::sendRetained(Session& s, const std::string& filter, const topics::SubOptions& o) {
  std::vector<MessagePtr> found;
  {
    std::lock_guard lock(retained_mu_);
    retained_.match(filter, [&](const std::string&, const MessagePtr& m) { found.push_back(m); });
  }
  for (auto& m : found) {
    Delivery d;
    d.msg = m;
    d.qos = std::min(m->qos, o.qos);
    d.retain = true;  // retained messages sent on subscribe keep the flag (3.3.1.3)
    d.sub_id = o.subscription_id;
    s.deliver(std::move(d));
  }
}

// ---------------------------------------------------------------------------------------------
// Routing

void Broker::collectTargets(const Message& msg, topics::SubscriberId self,
                            std::vector<Target>& out) {
  topics::MatchResult& mr = t_match;
  mr.clear();
  std::shared_lock lock(subs_mu_);
  subs_.match(msg.topic, mr);
  // Merge overlapping subscriptions of one subscriber into one delivery (5.0 3.3.4: max QoS, all
  // subscription identifiers).
  std::sort(mr.direct.begin(), mr.direct.end(), [](const topics::Match& a, const topics::Match& b) {
    return a.subscriber < b.subscriber;
  });
  for (size_t i = 0; i < mr.direct.size();) {
    const auto id = mr.direct[i].subscriber;
    Target t{id, {}, 0, false, 0, {}};
    bool any = false;
    for (; i < mr.direct.size() && mr.direct[i].subscriber == id; ++i) {
      const auto& o = mr.direct[i].options;
      if (o.no_local && id == self) continue;  // no-local: not back to the publisher
      any = true;
      t.qos = std::max(t.qos, std::min(o.qos, msg.qos));
      if (o.retain_as_published && msg.retain) t.retain = true;
      if (o.subscription_id) {
        if (!t.sub_id)
          t.sub_id = o.subscription_id;
        else
          t.more_sub_ids.push_back(o.subscription_id);
      }
    }
    if (any) out.push_back(std::move(t));
  }
  for (const topics::SharedGroup* g : mr.shared) {
    const auto& members = g->members();
    if (members.empty()) continue;
    const auto& m = members[g->nextStart() % members.size()];
    Target t{
        m.subscriber, {}, std::min(m.options.qos, msg.qos), false, m.options.subscription_id, {}};
    out.push_back(std::move(t));
  }
  for (auto& t : out) {
    if (SubscriberKey::persistent(t.id) && t.qos > 0) {
      auto n = persistent_names_.find(t.id);
      if (n != persistent_names_.end()) t.client_id = n->second;
    }
  }
}

void Broker::fillEncodings(Message& m, const std::vector<Target>& targets) {
  for (const auto& t : targets) {
    if (t.sub_id) continue;
    const bool v5 = SubscriberKey::v5(t.id);
    if (v5 && m.expires_at_ms) continue;  // remaining expiry differs per send
    auto& slot = m.encoded[Message::variant(v5, t.qos, t.retain)];
    if (!slot)
      slot = std::make_shared<EncodedPublish>(
          encodeMessage(m, v5 ? mqtt::Version::V5 : mqtt::Version::V311, t.qos, t.retain));
  }
}

bool Broker::publish(std::shared_ptr<Message> msg, std::function<void(bool ok)> on_durable,
                     const Session* from, uint16_t inbound_qos2_id, bool force_ordered, bool sync) {
  std::vector<Target> targets;
  collectTargets(*msg, from ? from->id() : 0, targets);
  fillEncodings(*msg, targets);

  // One queue entry per session: a session matched twice (a plain and a shared subscription)
  // gets its second copy live only.
  size_t queued = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].client_id.empty()) continue;
    for (size_t j = 0; j < i; ++j)
      if (targets[j].id == targets[i].id && !targets[j].client_id.empty()) {
        targets[i].client_id.clear();
        break;
      }
    if (!targets[i].client_id.empty()) ++queued;
  }
  store::WriteSet ws;
  if (queued) {
    ws.add(store::WriteSet::PutMessage{toStored(*msg)});
    for (auto& t : targets) {
      if (t.client_id.empty()) continue;
      store::QueueEntry e;
      e.client_id = t.client_id;
      e.qos = t.qos;
      e.retain = t.retain;
      e.subscription_id = t.sub_id;
      ws.add(store::WriteSet::PutQueueEntry{std::move(e)});
    }
  }
  const bool retain_change = msg->retain;
  if (retain_change) {
    if (msg->payload.empty())
      ws.add(store::WriteSet::DeleteRetained{msg->topic});
    else
      ws.add(store::WriteSet::PutRetained{toStored(*msg)});
  }
  if (inbound_qos2_id && from && from->persistent())
    ws.add(store::WriteSet::PutInbound{from->clientId(), inbound_qos2_id});

  const size_t origin = currentThread();
  if (ws.empty() && !force_ordered) {
    dispatch(msg, std::move(targets));
    return false;
  }
  ws.setNeedsSync(sync && !ws.empty() && (msg->qos > 0 || retain_change));
  // After commit() the message belongs to the completion: it sets the store id, publishes the
  // retained copy and hands the message to subscribers, all before anyone else can see it.
  // The reference count is set under refs_mu_ held across commit(), so a session that reads the
  // new queue entry from disk before the completion runs cannot acknowledge it too early.
  std::unique_lock refs_lock(refs_mu_, std::defer_lock);
  if (queued) refs_lock.lock();
  const uint64_t id = store_.commit(
      std::move(ws),
      [this, msg = std::move(msg), targets = std::move(targets), queued, retain_change, origin,
       on_durable = std::move(on_durable)](const store::CommitResult& r) mutable {
        if (!r.ok) {
          logStoreError("publish");
          Stats::add(stats_.store_errors);
          if (queued) {
            std::lock_guard lock(refs_mu_);
            refs_.erase(r.message_id);
          }
          if (on_durable && origin < threads_.size())
            post(origin, [cb = std::move(on_durable)] { cb(false); });
          return;
        }
        if (queued) msg->store_id = r.message_id;
        if (retain_change) {
          std::lock_guard lock(retained_mu_);
          if (msg->payload.empty())
            retained_.erase(msg->topic);
          else
            retained_.set(msg->topic, msg);
          stats_.retained_count = retained_.size();
        }
        dispatch(msg, std::move(targets));
        if (on_durable) {
          if (origin < threads_.size())
            post(origin, [cb = std::move(on_durable)] { cb(true); });
          else
            on_durable(true);
        }
      });
  if (queued) refs_[id] = static_cast<uint32_t>(queued);
  return true;
}

void Broker::dispatch(const MessagePtr& msg, std::vector<Target> targets) {
  if (targets.empty()) return;
  const size_t here = currentThread();
  if (threads_.size() == 1 || std::all_of(targets.begin(), targets.end(), [&](const Target& t) {
        return SubscriberKey::thread(t.id) == SubscriberKey::thread(targets[0].id);
      })) {
    const size_t t = SubscriberKey::thread(targets[0].id);
    if (t == here) {
      for (auto& tg : targets) deliverLocal(tg.id, msg, tg);
    } else {
      post(t, [this, msg, targets = std::move(targets)] {
        for (auto& tg : targets) deliverLocal(tg.id, msg, tg);
      });
    }
    return;
  }
  // One batch per thread: the message bytes are shared, only the target list is split.
  std::vector<std::vector<Target>> per(threads_.size());
  for (auto& tg : targets) per[SubscriberKey::thread(tg.id)].push_back(std::move(tg));
  for (size_t t = 0; t < per.size(); ++t) {
    if (per[t].empty()) continue;
    if (t == here) {
      for (auto& tg : per[t]) deliverLocal(tg.id, msg, tg);
    } else {
      post(t, [this, msg, batch = std::move(per[t])] {
        for (auto& tg : batch) deliverLocal(tg.id, msg, tg);
      });
    }
  }
}

void Broker::deliverLocal(topics::SubscriberId id, const MessagePtr& msg, const Target& t) {
  ThreadState& ts = *threads_[SubscriberKey::thread(id)];
  auto it = ts.by_id.find(id);
  if (it == ts.by_id.end()) return;  // session ended meanwhile
  Delivery d;
  d.msg = msg;
  d.qos = t.qos;
  d.retain = t.retain;
  d.queued = !t.client_id.empty() && msg->store_id != 0;
  d.sub_id = t.sub_id;
  d.more_sub_ids = t.more_sub_ids;
  it->second->deliver(std::move(d));
}

// ---------------------------------------------------------------------------------------------
// Queue bookkeeping

void Broker::ackQueued(const std::string& client_id, uint64_t store_id) {
  store::WriteSet ws;
  ws.add(store::WriteSet::DeleteQueueEntry{client_id, store_id});
  {
    std::lock_guard lock(refs_mu_);
    auto it = refs_.find(store_id);
    if (it != refs_.end() && --it->second == 0) {
      refs_.erase(it);
      ws.add(store::WriteSet::DeleteMessage{store_id});
    }
  }
  // Losing this write only causes a redelivery, so it does not wait for an fsync.
  ws.setNeedsSync(false);
  store_.commit(std::move(ws), [](const store::CommitResult&) {});
}

void Broker::persistQueueEntry(const Session& s, const Delivery& d, uint16_t packet_id,
                               bool pubrec) {
  store::QueueEntry e;
  e.client_id = s.clientId();
  e.msg_id = d.msg->store_id;
  e.qos = d.qos;
  e.packet_id = packet_id;
  e.pubrec_received = pubrec;
  e.retain = d.retain;
  e.subscription_id = d.sub_id;
  store::WriteSet ws;
  ws.add(store::WriteSet::PutQueueEntry{std::move(e)});
  ws.setNeedsSync(false);
  store_.commit(std::move(ws), [](const store::CommitResult&) {});
}

void Broker::persistInboundDone(const Session& s, uint16_t packet_id) {
  if (!s.persistent()) return;
  store::WriteSet ws;
  ws.add(store::WriteSet::DeleteInbound{s.clientId(), packet_id});
  ws.setNeedsSync(false);
  store_.commit(std::move(ws), [](const store::CommitResult&) {});
}

// ---------------------------------------------------------------------------------------------
// Housekeeping

void Broker::tick(size_t thread) {
  ThreadState& ts = *threads_[thread];
  const int64_t now = clock_.nowMs();
  const int64_t wall = clock_.wallMs();
  // Copy: a keep-alive disconnect unregisters the client from this list.
  std::vector<Client*> clients = ts.clients;
  for (Client* c : clients) {
    c->checkKeepAlive(now);
    c->checkSlowReader(now);
  }
  for (Client* c : ts.clients) {
    if (!c->session()) continue;
    c->session()->pump();  // resume sessions stopped by the watermark
    c->session()->chatTick(now);
  }

  if (chat_ && thread == 0) {
    chat_->tickPresence(now);
    chat_->tickReceipts(now);
  }
  for (auto it = ts.wills.begin(); it != ts.wills.end();) {
    if (it->second.at_ms <= now) {
      auto m = std::const_pointer_cast<Message>(it->second.msg);
      it = ts.wills.erase(it);
      publishWill(std::move(m));
    } else {
      ++it;
    }
  }
  std::vector<Session*> expired;
  for (auto& [id, s] : ts.sessions) {
    if (s->client() || s->expiryInterval() == 0xFFFFFFFF) continue;
    if (s->disconnectedAtMs() + int64_t(s->expiryInterval()) * 1000 <= wall)
      expired.push_back(s.get());
  }
  for (Session* s : expired) {
    auto w = ts.wills.find(s->clientId());
    if (w != ts.wills.end()) {  // the session ends before the will delay: send the will now
      auto m = std::const_pointer_cast<Message>(w->second.msg);
      ts.wills.erase(w);
      publishWill(std::move(m));
    }
    destroySession(ts, *s, true);
  }
}

void Broker::publishSys() {
  const int64_t up_s = (clock_.nowMs() - started_ms_) / 1000;
  const store::Store::Stats ss = store_.stats();
  const std::pair<const char*, uint64_t> values[] = {
      {"$SYS/broker/clients/connected", Stats::get(stats_.clients_connected)},
      {"$SYS/broker/clients/total", Stats::get(stats_.clients_total)},
      {"$SYS/broker/clients/maximum", Stats::get(stats_.clients_maximum)},
      {"$SYS/broker/messages/received", Stats::get(stats_.messages_received)},
      {"$SYS/broker/messages/sent", Stats::get(stats_.messages_sent)},
      {"$SYS/broker/messages/dropped", Stats::get(stats_.publish_dropped)},
      {"$SYS/broker/bytes/received", Stats::get(stats_.bytes_received)},
      {"$SYS/broker/bytes/sent", Stats::get(stats_.bytes_sent)},
      {"$SYS/broker/retained messages/count", Stats::get(stats_.retained_count)},
      {"$SYS/broker/subscriptions/count", Stats::get(stats_.subscriptions)},
      {"$SYS/broker/uptime", static_cast<uint64_t>(up_s)},
      {"$SYS/broker/store/commits", ss.commits},
      {"$SYS/broker/store/syncs", ss.syncs},
      {"$SYS/broker/store/records written", ss.records_written},
      {"$SYS/broker/limits/auth failures", Stats::get(stats_.auth_failures)},
      {"$SYS/broker/limits/acl denied", Stats::get(stats_.acl_denied)},
      {"$SYS/broker/limits/connections refused max", Stats::get(stats_.connections_refused_max)},
      {"$SYS/broker/limits/connections refused rate", Stats::get(stats_.connections_refused_rate)},
      {"$SYS/broker/limits/handshake failures", Stats::get(stats_.handshake_failures)},
      {"$SYS/broker/limits/publish rate exceeded", Stats::get(stats_.publish_rate_exceeded)},
      {"$SYS/broker/limits/packets too large", Stats::get(stats_.packets_too_large)},
      {"$SYS/broker/limits/subscriptions refused", Stats::get(stats_.subscriptions_refused)},
      {"$SYS/broker/limits/topic limit exceeded", Stats::get(stats_.topic_limit_exceeded)},
  };
  for (auto& [topic, value] : values) {
    auto m = std::make_shared<Message>();
    m->topic = topic;
    m->payload = std::to_string(value);
    publish(std::move(m), nullptr);
  }
  auto v = std::make_shared<Message>();
  v->topic = "$SYS/broker/version";
  v->payload = config_.version;
  publish(std::move(v), nullptr);
}

}  // namespace parley::core
