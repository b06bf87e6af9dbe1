// Client, chat part: what a connection does with the topics the chat layer owns —
// conv/{id} sends, rpc/{method} requests, and SUBSCRIBE/UNSUBSCRIBE of conv/{id} and
// rpc/reply/{client_id}. The rules are in docs/PROTOCOL.md; errors become a PUBACK/SUBACK reason
// (5.0) or a disconnect (3.1.1, which has no way to refuse a PUBLISH) here and nowhere else.
#include <cstdio>

#include "broker.hpp"
#include "chat_hub.hpp"
#include "chat_topics.hpp"
#include "client.hpp"
#include "envelope.hpp"
#include "session.hpp"
#include "topic_names.hpp"

namespace parley::core {

using mqtt::Reason;

void Client::handleChatSend(ChatHub& hub, std::string_view conv, mqtt::Publish& p) {
  const uint8_t qos = p.qos;
  const uint16_t pid = p.packet_id;
  std::weak_ptr<Client> self = weak_from_this();
  auto content = chat::decodeChatSend(p.payload);
  if (!content) {
    chat::SendResult r;
    r.status = content.error().status;
    r.error = content.error().message;
    return chatSendDone(broker_, self, client_id_, std::string(conv), qos, pid, r);
  }
  store::WriteSet extra;
  if (qos == 2) {
    // The packet id belongs to the session until PUBREL; persisted with the message.
    session_->inboundQos2()[pid] = false;
    if (session_->persistent()) extra.add(store::WriteSet::PutInbound{client_id_, pid});
  }
  chat::SendRequest req;
  req.conv.assign(conv);
  req.sender_user = user_;
  req.sender_device = client_id_;
  req.content = std::move(*content);
  // The directory answers on the store writer thread (or at once for a refusal or a stored
  // duplicate): either way the answer goes back through this thread's queue.
  hub.directory().send(std::move(req), std::move(extra),
                       [broker = &broker_, origin = Broker::currentThread(), self, id = client_id_,
                        conv = std::string(conv), qos, pid](chat::SendResult r) {
                         broker->post(origin, [broker, self, id, conv, qos, pid, r = std::move(r)] {
                           chatSendDone(*broker, self, id, conv, qos, pid, r);
                         });
                       });
}

void Client::chatSendDone(Broker& broker, const std::weak_ptr<Client>& self,
                          const std::string& client_id, const std::string& conv, uint8_t qos,
                          uint16_t pid, const chat::SendResult& r) {
  const bool ok = r.status == chat::ChatStatus::Ok;
  std::shared_ptr<Client> sender = self.lock();
  Client* c = sender.get();
  if (qos == 2) {
    // As for plain QoS 2: the session owns the packet id, and a reconnected client may be the
    // one waiting for the PUBREC.
    Session* s = broker.findSession(client_id);
    if (s) {
      if (auto it = s->inboundQos2().find(pid); it != s->inboundQos2().end()) {
        if (ok)
          it->second = true;
        else
          s->inboundQos2().erase(it);
      }
    }
    c = s ? s->client() : nullptr;
  }
  if (ok) {
    Stats::add(r.duplicate ? broker.stats().chat_duplicates : broker.stats().chat_sent);
  } else {
    Stats::add(broker.stats().chat_refused);
    std::fprintf(stderr, "parleyd: client '%s' user '%s': chat send to conv/%s refused (%s): %s\n",
                 client_id.c_str(), c ? c->user_.c_str() : "?", conv.c_str(),
                 chat::statusName(r.status), r.error.c_str());
  }
  if (!c || c->finished_) return;
  if (qos == 1 || (qos == 2 && !ok)) c->inboundDone();
  const bool v5 = mqtt::isV5(c->version_);
  if (!ok && !v5) {
    // 3.1.1 cannot refuse a PUBLISH: withhold the ack and end the connection (PROTOCOL.md).
    c->disconnect(Reason::NotAuthorized, "chat send refused", true);
    return;
  }
  if (qos == 0) return;
  mqtt::Ack a{qos == 1 ? mqtt::PacketType::Puback : mqtt::PacketType::Pubrec,
              pid,
              chat::pubackReason(r.status),
              {}};
  if (v5) {
    if (ok) a.props.user_properties.emplace_back("seq", std::to_string(r.seq));
    if (!ok && c->request_problem_info_) a.props.reason_string = r.error;
  }
  c->send(a);
  c->transport_.requestFlush();
}

void Client::handleRpc(ChatHub& hub, std::string_view method, mqtt::Publish& p) {
  const bool v5 = mqtt::isV5(version_);
  Stats::add(broker_.stats().chat_rpc);
  chat::RpcReply reply;
  if (method == "history") {
    reply = hub.rpc().history(user_, p.payload);
  } else if (method == "receipts") {
    reply = hub.rpc().receipts(user_, p.payload);
  } else if (method == "conversations") {
    session_->chatFlushOffsets();  // the reply shows this device's offsets
    reply = hub.rpc().conversations(user_, client_id_, p.payload);
  } else {
    reply.ok = false;
    reply.payload = chat::encodeRpcError(static_cast<uint8_t>(chat::fb::RpcErrorCode::NotFound),
                                         "no such method: " + std::string(method));
  }
  // The request is complete once answered; it is not stored.
  if (p.qos == 1) {
    inboundDone();
    send(mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, Reason::Success, {}});
  } else if (p.qos == 2) {
    session_->inboundQos2()[p.packet_id] = true;
    send(mqtt::Ack{mqtt::PacketType::Pubrec, p.packet_id, Reason::Success, {}});
  }
  // Where the reply goes: a 5.0 response topic of the client's choosing outside rpc/reply/ is
  // published like any message (standard MQTT request/response: whoever subscribed to it gets
  // it). Otherwise — 3.1.1, no response topic, or one under rpc/reply/ — the reply goes to this
  // connection only, never through the subscription tree, so no other client can read it.
  auto m = std::make_shared<Message>();
  bool routed = false;
  if (v5 && p.props.response_topic && topics::isValidTopicName(*p.props.response_topic)) {
    const auto kind = topics::rpcReplyFilter(*p.props.response_topic, client_id_);
    if (kind != topics::ReplyFilter::Foreign) m->topic = *p.props.response_topic;
    routed = kind == topics::ReplyFilter::NotReply;
  }
  if (m->topic.empty()) {
    m->topic.append(topics::kRpcReplyPrefix).append(client_id_);
    if (!v5 && !reply.ok) m->topic += "/error";  // 3.1.1 has no user properties
  }
  m->payload = std::move(reply.payload);
  m->qos = 1;
  m->publisher = client_id_;
  if (v5) {
    m->props.correlation_data = p.props.correlation_data;
    if (!reply.ok) m->props.user_properties.emplace_back("error", "1");
  }
  if (routed) {
    if (!broker_.authorizer().canPublish({client_id_, user_}, m->topic)) {
      std::fprintf(stderr, "parleyd: client '%s': rpc response topic '%s' not authorized\n",
                   client_id_.c_str(), m->topic.c_str());
      Stats::add(broker_.stats().acl_denied);
      return;
    }
    broker_.publish(std::move(m), nullptr);
    return;
  }
  Delivery d;
  d.msg = std::move(m);
  d.qos = 1;
  session_->deliver(std::move(d));
  transport_.requestFlush();
}

void Client::ackChatSignal(const mqtt::Publish& p, Reason reason) {
  if (p.qos == 1) {
    inboundDone();
    send(mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, reason, {}});
  } else if (p.qos == 2) {
    if (static_cast<uint8_t>(reason) < 0x80)
      session_->inboundQos2()[p.packet_id] = true;
    else
      inboundDone();
    send(mqtt::Ack{mqtt::PacketType::Pubrec, p.packet_id, reason, {}});
  }
}

void Client::handleTyping(ChatHub& hub, std::string_view conv, mqtt::Publish& p) {
  // Typing is best-effort: never stored, limited per sender, refused only for non-members.
  const bool v5 = mqtt::isV5(version_);
  const int64_t now = broker_.clock().nowMs();
  if (!typing_sent_) typing_sent_ = std::make_unique<std::unordered_map<std::string, int64_t>>();
  auto [it, fresh] = typing_sent_->try_emplace(std::string(conv), 0);
  if (!fresh && now - it->second < int64_t(broker_.config().typing_interval_ms)) {
    Stats::add(broker_.stats().typing_limited);
    return ackChatSignal(p, Reason::Success);
  }
  if (user_.empty() || !hub.chatStore().loadMember(conv, user_)) {
    std::fprintf(stderr,
                 "parleyd: client '%s' user '%s': typing in conv/%.*s refused: not a member\n",
                 client_id_.c_str(), user_.c_str(), int(conv.size()), conv.data());
    Stats::add(broker_.stats().acl_denied);
    typing_sent_->erase(it);
    return ackChatSignal(p, v5 ? Reason::NotAuthorized : Reason::Success);
  }
  if (p.payload.size() > chat::kMaxTypingStateBytes) {
    return ackChatSignal(p, v5 ? Reason::PayloadFormatInvalid : Reason::Success);
  }
  it->second = now;
  ackChatSignal(p, Reason::Success);
  auto m = std::make_shared<Message>();
  m->topic.append(topics::kConvPrefix).append(conv).append("/typing");
  m->payload = chat::encodeTyping({std::string(conv), user_, client_id_, std::string(p.payload)});
  m->qos = 0;
  Stats::add(broker_.stats().typing_forwarded);
  hub.sendTyping(std::string(conv), std::move(m), session_->id());
}

void Client::handleRead(ChatHub& hub, std::string_view conv, mqtt::Publish& p) {
  const bool v5 = mqtt::isV5(version_);
  const std::string c(conv);
  auto seq = chat::decodeReadCursor(p.payload);
  if (!seq) return ackChatSignal(p, v5 ? Reason::PayloadFormatInvalid : Reason::Success);
  if (user_.empty() || !hub.chatStore().loadMember(c, user_)) {
    std::fprintf(stderr, "parleyd: client '%s' user '%s': read in conv/%s refused: not a member\n",
                 client_id_.c_str(), user_.c_str(), c.c_str());
    Stats::add(broker_.stats().acl_denied);
    return ackChatSignal(p, v5 ? Reason::NotAuthorized : Reason::Success);
  }
  // Never beyond what exists; never backwards (ChatHub::noteRead).
  const uint64_t head = hub.chatStore().loadChatHead(c);
  // The read cursor is kept for every conversation (unread counts); receipts events are sent
  // only below the fan-out threshold.
  hub.noteRead(c, user_, std::min(*seq, head), hub.receiptsEnabled(c));
  ackChatSignal(p, Reason::Success);
}

std::optional<Reason> Client::chatSubscribe(const std::string& filter, uint8_t qos) {
  ChatHub* hub = broker_.chat();
  if (!hub) return std::nullopt;
  const bool v5 = mqtt::isV5(version_);
  const Reason refused = v5 ? Reason::NotAuthorized : Reason::UnspecifiedError;
  if (topics::isPresenceTopic(filter)) {
    // presence/{user}: the user itself or someone sharing a conversation; never wildcards.
    auto target = topics::presenceUser(filter);
    if (target && hub->maySeePresence(user_, *target)) return std::nullopt;  // a plain subscription
    std::fprintf(stderr, "parleyd: client '%s' user '%s': subscribe to '%s' refused: presence\n",
                 client_id_.c_str(), user_.c_str(), filter.c_str());
    Stats::add(broker_.stats().acl_denied);
    return refused;
  }
  auto child = topics::typingConversation(filter);
  if (!child) child = topics::receiptsConversation(filter);
  if (!child) child = topics::readConversation(filter);
  if (auto conv = child) {
    // Members get typing and receipts with the conversation; the subscription changes nothing.
    if (!user_.empty() && hub->chatStore().loadMember(*conv, user_)) return static_cast<Reason>(0);
    Stats::add(broker_.stats().acl_denied);
    return refused;
  }
  if (auto conv = topics::chatConversation(filter)) {
    if (user_.empty() || !hub->chatStore().loadMember(*conv, user_)) {
      std::fprintf(stderr,
                   "parleyd: client '%s' user '%s': subscribe to '%s' refused: not a member\n",
                   client_id_.c_str(), user_.c_str(), filter.c_str());
      Stats::add(broker_.stats().acl_denied);
      return refused;
    }
    session_->chatSubscribe(user_, std::string(*conv), qos);
    return static_cast<Reason>(qos > 1 ? 1 : qos);
  }
  switch (topics::rpcReplyFilter(filter, client_id_)) {
    case topics::ReplyFilter::NotReply:
      return std::nullopt;
    case topics::ReplyFilter::Own:
      // Replies are delivered to the requesting connection directly; the subscription only
      // tells client libraries that filter incoming messages to expect them.
      return static_cast<Reason>(qos > 1 ? 1 : qos);
    case topics::ReplyFilter::Foreign:
      std::fprintf(stderr,
                   "parleyd: client '%s': subscribe to '%s' refused: another client's replies\n",
                   client_id_.c_str(), filter.c_str());
      Stats::add(broker_.stats().acl_denied);
      return refused;
  }
  return std::nullopt;
}

std::optional<Reason> Client::chatUnsubscribe(const std::string& filter) {
  ChatHub* hub = broker_.chat();
  if (!hub) return std::nullopt;
  if (auto conv = topics::chatConversation(filter)) {
    if (!session_->chatFollows(*conv)) return Reason::NoSubscriptionExisted;
    session_->chatUnfollow(std::string(*conv));
    return Reason::Success;
  }
  if (topics::rpcReplyFilter(filter, client_id_) == topics::ReplyFilter::Own)
    return Reason::Success;
  return std::nullopt;
}

}  // namespace parley::core
