#include "client.hpp"

#include <cstdio>
#include <random>

#include "broker.hpp"
#include "chat_hub.hpp"
#include "chat_topics.hpp"
#include "session.hpp"
#include "topic_names.hpp"

namespace parley::core {

using mqtt::Reason;

namespace {
std::string randomClientId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "parley-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// Properties a broker forwards from a PUBLISH to subscribers (5.0 3.3.2.3): everything but the
// topic alias and subscription identifiers, which are per connection / per subscription.
void keepForwardedProps(mqtt::Properties& p) {
  p.topic_alias.reset();
  p.subscription_identifiers.clear();
}
}  // namespace

Client::Client(Broker& broker, Transport& transport) : broker_(broker), transport_(transport) {
  last_rx_ms_ = broker_.clock().nowMs();
  broker_config_publisher_backlog_limit_ = broker_.config().publisher_backlog_limit;
  rate_ms_ = last_rx_ms_;
  pub_tokens_ = broker_.config().max_publish_rate;
  byte_tokens_ = double(broker_.config().max_publish_bytes_rate);
}

Client::~Client() = default;

void Client::send(const mqtt::Packet& p) {
  mqtt::encode(p, version_, transport_.output());
}

void Client::onPacket(mqtt::Packet& packet) {
  if (finished_) return;
  last_rx_ms_ = broker_.clock().nowMs();
  if (!got_connect_) {
    if (auto* c = std::get_if<mqtt::Connect>(&packet)) {
      handleConnect(*c);
    } else {
      // 3.1.0-1: the first packet must be CONNECT.
      std::fprintf(stderr, "parleyd: %s: first packet is not CONNECT; closing\n",
                   transport_.peer().c_str());
      Stats::add(broker_.stats().protocol_errors);
      finished_ = true;
      transport_.close();
    }
    return;
  }
  std::visit(
      [&](auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mqtt::Publish>) {
          handlePublish(p);
        } else if constexpr (std::is_same_v<T, mqtt::Ack>) {
          output_stalled_ms_ = 0;  // the reader is consuming (checkSlowReader)
          switch (p.type) {
            case mqtt::PacketType::Puback:
              session_->onPuback(p.packet_id);
              break;
            case mqtt::PacketType::Pubrec:
              session_->onPubrec(p.packet_id, static_cast<uint8_t>(p.reason) >= 0x80);
              break;
            case mqtt::PacketType::Pubrel:
              handlePubrel(p.packet_id);
              break;
            case mqtt::PacketType::Pubcomp:
              session_->onPubcomp(p.packet_id);
              break;
            default:
              break;
          }
        } else if constexpr (std::is_same_v<T, mqtt::Subscribe>) {
          handleSubscribe(p);
        } else if constexpr (std::is_same_v<T, mqtt::Unsubscribe>) {
          handleUnsubscribe(p);
        } else if constexpr (std::is_same_v<T, mqtt::Pingreq>) {
          send(mqtt::Pingresp{});
        } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
          handleDisconnect(p);
        } else if constexpr (std::is_same_v<T, mqtt::Connect>) {
          protocolError(Reason::ProtocolError, "second CONNECT");
        } else if constexpr (std::is_same_v<T, mqtt::Auth>) {
          // No enhanced authentication method is offered, so an AUTH is a protocol error.
          protocolError(Reason::ProtocolError, "AUTH without an authentication method");
        } else {
          protocolError(Reason::ProtocolError, "packet a client may not send");
        }
      },
      packet);
}

void Client::onDecodeError(Reason reason, const char* what) {
  if (finished_) return;
  if (reason == Reason::PacketTooLarge) Stats::add(broker_.stats().packets_too_large);
  if (!got_connect_) {
    std::fprintf(stderr, "parleyd: %s: bad CONNECT (%s)\n", transport_.peer().c_str(), what);
    Stats::add(broker_.stats().protocol_errors);
    if (reason == Reason::UnsupportedProtocolVersion) {
      // Answer in the version the client can read: 3.1.1's code 0x01 is what older clients
      // understand (spec 3.1.2.2 / MQTT 5 3.1.2.2).
      version_ = mqtt::Version::V311;
      sendConnackError(reason);
    } else if (version_ == mqtt::Version::V5) {
      sendConnackError(reason);
    }
    finished_ = true;
    transport_.close();
    return;
  }
  protocolError(reason, what);
}

void Client::protocolError(Reason reason, const char* what) {
  std::fprintf(stderr, "parleyd: client '%s' (%s): %s; disconnecting (reason 0x%02x)\n",
               client_id_.c_str(), transport_.peer().c_str(), what, static_cast<unsigned>(reason));
  Stats::add(broker_.stats().protocol_errors);
  disconnect(reason, what, true);
}

void Client::sendConnackError(Reason reason) {
  mqtt::Connack ack;
  ack.reason = reason;
  send(ack);
}

void Client::handleConnect(mqtt::Connect& c) {
  got_connect_ = true;
  version_ = c.version == mqtt::Version::V31 ? mqtt::Version::V311 : c.version;
  const bool v5 = mqtt::isV5(version_);
  const auto& cfg = broker_.config();

  if (c.props.authentication_method) {
    std::fprintf(stderr, "parleyd: %s: unsupported authentication method '%s'\n",
                 transport_.peer().c_str(), c.props.authentication_method->c_str());
    sendConnackError(Reason::BadAuthenticationMethod);
    finished_ = true;
    transport_.close();
    return;
  }

  bool assigned = false;
  if (c.client_id.empty()) {
    if (!v5 && !c.clean_start) {
      // 3.1.1 3.1.3-8: an empty client id requires clean session 1.
      sendConnackError(Reason::ClientIdentifierNotValid);
      finished_ = true;
      transport_.close();
      return;
    }
    // The connection did not move threads (it had no id); pick an id whose home is this thread
    // so a 5.0 client resuming with it finds its session.
    do {
      c.client_id = randomClientId();
    } while (broker_.homeThread(c.client_id) != Broker::currentThread());
    assigned = true;
  }
  client_id_ = c.client_id;

  AuthResult auth;
  if (const auto& cert_user = transport_.certificateUser()) {
    // A verified client certificate is the credential; its CN is the user name.
    auth = {true, Reason::Success, *cert_user, ""};
  } else {
    auth = broker_.authenticator().authenticate(client_id_, c.username, c.password);
  }
  if (!auth.ok) {
    std::fprintf(stderr, "parleyd: %s: client '%s' user '%s' refused (reason 0x%02x): %s\n",
                 transport_.peer().c_str(), client_id_.c_str(), c.username.value_or("").c_str(),
                 static_cast<unsigned>(auth.reason), auth.why.c_str());
    Stats::add(broker_.stats().auth_failures);
    sendConnackError(auth.reason);
    finished_ = true;
    transport_.close();
    return;
  }
  user_ = std::move(auth.user);

  if (c.will) {
    if (!topics::isValidTopicName(c.will->topic)) {
      sendConnackError(v5 ? Reason::TopicNameInvalid : Reason::NotAuthorized);
      finished_ = true;
      transport_.close();
      return;
    }
    if (!broker_.authorizer().canPublish({client_id_, user_}, c.will->topic)) {
      std::fprintf(stderr, "parleyd: %s: client '%s' user '%s': will topic '%s' not authorized\n",
                   transport_.peer().c_str(), client_id_.c_str(), user_.c_str(),
                   c.will->topic.c_str());
      Stats::add(broker_.stats().acl_denied);
      sendConnackError(Reason::NotAuthorized);
      finished_ = true;
      transport_.close();
      return;
    }
    will_ = std::make_unique<mqtt::Will>(std::move(*c.will));
  }

  keep_alive_s_ = c.keep_alive;
  bool server_keep_alive = false;
  if (cfg.max_keep_alive && (keep_alive_s_ == 0 || keep_alive_s_ > cfg.max_keep_alive) && v5) {
    keep_alive_s_ = cfg.max_keep_alive;
    server_keep_alive = true;
  }
  if (v5) {
    if (c.props.receive_maximum) client_receive_max_ = *c.props.receive_maximum;
    if (c.props.maximum_packet_size) client_max_packet_ = *c.props.maximum_packet_size;
    if (c.props.topic_alias_maximum) client_topic_alias_max_ = *c.props.topic_alias_maximum;
    if (c.props.request_problem_information)
      request_problem_info_ = *c.props.request_problem_information != 0;
  }
  uint32_t expiry = 0;
  if (v5) {
    expiry = c.props.session_expiry_interval.value_or(0);
    if (expiry > cfg.max_session_expiry) expiry = cfg.max_session_expiry;
  } else {
    expiry = c.clean_start ? 0
                           : (cfg.persistent_session_expiry_311 ? cfg.persistent_session_expiry_311
                                                                : 0xFFFFFFFF);
  }
  const bool persistent = expiry > 0;

  auto result = broker_.openSession(*this, client_id_, c.clean_start, persistent, expiry, version_);
  session_ = result.session;

  mqtt::Connack ack;
  ack.session_present = result.present;
  if (v5) {
    ack.props.receive_maximum = cfg.receive_maximum;
    ack.props.topic_alias_maximum = cfg.topic_alias_maximum;
    ack.props.maximum_packet_size = cfg.max_packet_size;
    ack.props.retain_available = 1;
    ack.props.wildcard_subscription_available = 1;
    ack.props.subscription_identifier_available = 1;
    ack.props.shared_subscription_available = 1;
    if (assigned) ack.props.assigned_client_identifier = client_id_;
    if (server_keep_alive) ack.props.server_keep_alive = keep_alive_s_;
    if (expiry != c.props.session_expiry_interval.value_or(0))
      ack.props.session_expiry_interval = expiry;
  }
  send(ack);
  broker_.registerClient(this);
  Stats::add(broker_.stats().clients_connected);
  session_->attach(this);
  session_->chatAttach(user_, !result.present);
  if (ChatHub* hub = broker_.chat(); hub && !user_.empty()) {
    presence_counted_ = true;
    hub->deviceOnline(user_);
  }
  transport_.requestFlush();
}

void Client::handlePublish(mqtt::Publish& p) {
  const bool v5 = mqtt::isV5(version_);
  const auto& cfg = broker_.config();
  Stats::add(broker_.stats().messages_received);
  Stats::add(broker_.stats().bytes_received, p.payload.size() + p.topic.size());
  if (!withinPublishRate(p.topic.size() + p.payload.size())) return;

  std::string_view topic = p.topic;
  if (p.props.topic_alias) {
    const uint16_t alias = *p.props.topic_alias;
    if (!v5 || alias == 0 || alias > cfg.topic_alias_maximum)
      return protocolError(Reason::TopicAliasInvalid, "topic alias out of range");
    if (topic.empty()) {
      if (!inbound_aliases_) return protocolError(Reason::ProtocolError, "unknown topic alias");
      auto it = inbound_aliases_->find(alias);
      if (it == inbound_aliases_->end())
        return protocolError(Reason::ProtocolError, "unknown topic alias");
      topic = it->second;
    } else {
      if (!inbound_aliases_) inbound_aliases_ = std::make_unique<InboundAliases>();
      (*inbound_aliases_)[alias] = std::string(topic);
    }
  } else if (topic.empty()) {
    return protocolError(Reason::ProtocolError, "empty topic without alias");
  }
  if (!topics::isValidTopicName(topic))
    return protocolError(Reason::TopicNameInvalid, "invalid topic name");
  if (topic.size() > cfg.max_topic_length || topics::levelCount(topic) > cfg.max_topic_levels) {
    Stats::add(broker_.stats().topic_limit_exceeded);
    return protocolError(Reason::TopicNameInvalid,
                         "topic longer than --max-topic-length or --max-topic-levels");
  }
  if (!topic.empty() && topic[0] == '$') {
    // Clients may not publish into the broker's $SYS tree.
    if (topic.rfind("$SYS", 0) == 0) {
      if (p.qos == 1)
        send(mqtt::Ack{mqtt::PacketType::Puback,
                       p.packet_id,
                       v5 ? Reason::NotAuthorized : Reason::Success,
                       {}});
      if (p.qos == 2)
        send(mqtt::Ack{mqtt::PacketType::Pubrec,
                       p.packet_id,
                       v5 ? Reason::NotAuthorized : Reason::Success,
                       {}});
      return;
    }
  }

  if (!broker_.authorizer().canPublish({client_id_, user_}, topic)) {
    // Refused: 5.0 says so in the ack; 3.1.1 has no refusal, so the ack is sent and the
    // message dropped (as other brokers do). Logged either way.
    std::fprintf(stderr, "parleyd: client '%s' user '%s': publish to '%.*s' not authorized\n",
                 client_id_.c_str(), user_.c_str(), int(topic.size()), topic.data());
    Stats::add(broker_.stats().acl_denied);
    const Reason r = v5 ? Reason::NotAuthorized : Reason::Success;
    if (p.qos == 1) send(mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, r, {}});
    if (p.qos == 2) send(mqtt::Ack{mqtt::PacketType::Pubrec, p.packet_id, r, {}});
    return;
  }
  if (p.qos == 2) {
    auto it = session_->inboundQos2().find(p.packet_id);
    if (it != session_->inboundQos2().end()) {
      // A retransmission of a QoS 2 PUBLISH we already own: never route it again. Acknowledge it
      // only once the original is durable; until then its completion sends the PUBREC.
      if (it->second) send(mqtt::Ack{mqtt::PacketType::Pubrec, p.packet_id, Reason::Success, {}});
      return;
    }
  }
  if (p.qos > 0) {
    if (inbound_inflight_ >= cfg.receive_maximum && v5)
      return protocolError(Reason::ReceiveMaximumExceeded, "receive maximum exceeded");
    ++inbound_inflight_;
  }
  if (ChatHub* hub = broker_.chat()) {
    // conv/{id} and rpc/{method} belong to the chat layer (client_chat.cpp), not to the tree.
    if (auto conv = topics::chatConversation(topic)) return handleChatSend(*hub, *conv, p);
    if (auto method = topics::rpcMethod(topic)) return handleRpc(*hub, *method, p);
    if (auto conv = topics::typingConversation(topic)) return handleTyping(*hub, *conv, p);
    if (auto conv = topics::readConversation(topic)) return handleRead(*hub, *conv, p);
    if (topics::receiptsConversation(topic)) {
      std::fprintf(stderr, "parleyd: client '%s': publish to '%.*s' refused: broker-owned topic\n",
                   client_id_.c_str(), int(topic.size()), topic.data());
      Stats::add(broker_.stats().acl_denied);
      return ackChatSignal(p, v5 ? Reason::NotAuthorized : Reason::Success);
    }
    if (topics::isPresenceTopic(topic)) {
      // Only the broker publishes presence.
      std::fprintf(stderr, "parleyd: client '%s': publish to '%.*s' refused: broker-owned topic\n",
                   client_id_.c_str(), int(topic.size()), topic.data());
      Stats::add(broker_.stats().acl_denied);
      return ackChatSignal(p, v5 ? Reason::NotAuthorized : Reason::Success);
    }
  }

  auto msg = std::make_shared<Message>();
  msg->topic.assign(topic);
  msg->payload.assign(p.payload);
  msg->qos = p.qos;
  msg->retain = p.retain;
  msg->publisher = client_id_;
  if (!backlog_) backlog_ = std::make_shared<std::atomic<int64_t>>(0);
  msg->publisher_backlog = backlog_;
  if (v5) {
    msg->props = std::move(p.props);
    keepForwardedProps(msg->props);
    if (msg->props.message_expiry_interval)
      msg->expires_at_ms =
          broker_.clock().wallMs() + int64_t(*msg->props.message_expiry_interval) * 1000;
  }

  const uint8_t qos = p.qos;
  const uint16_t pid = p.packet_id;
  if (qos == 2) session_->inboundQos2()[pid] = false;
  std::weak_ptr<Client> self = weak_from_this();
  std::function<void(bool)> on_durable;
  if (qos == 2) {
    // QoS 2: the packet id belongs to the session, not this connection — a reconnected client
    // may be waiting for the PUBREC — so the completion finds the session by client id.
    on_durable = [this_broker = &broker_, self, id = client_id_, pid](bool ok) {
      if (auto c = self.lock()) c->ordered_pending_--;
      Session* s = this_broker->findSession(id);
      if (!s) return;
      auto it = s->inboundQos2().find(pid);
      if (it == s->inboundQos2().end()) return;
      Client* c = s->client();
      if (ok) {
        it->second = true;
      } else {
        s->inboundQos2().erase(it);
      }
      if (!c || c->finished_) return;
      if (!ok && !mqtt::isV5(c->version_)) {
        c->disconnect(Reason::UnspecifiedError, "store write failed", true);
        return;
      }
      if (!ok) c->inboundDone();  // the flow ends here for this packet id
      c->send(mqtt::Ack{
          mqtt::PacketType::Pubrec, pid, ok ? Reason::Success : Reason::UnspecifiedError, {}});
      c->transport_.requestFlush();
    };
  } else {
    on_durable = [self, qos, pid](bool ok) {
      auto c = self.lock();
      if (!c) return;
      c->ordered_pending_--;
      if (c->finished_ || qos == 0) return;
      c->inboundDone();
      if (!ok && !mqtt::isV5(c->version_)) {
        // 3.1.1 has no way to refuse: withhold the ack and drop the connection; the client
        // resends after reconnecting.
        c->disconnect(Reason::UnspecifiedError, "store write failed", true);
        return;
      }
      c->send(mqtt::Ack{
          mqtt::PacketType::Puback, pid, ok ? Reason::Success : Reason::UnspecifiedError, {}});
      c->transport_.requestFlush();
    };
  }
  ordered_pending_++;
  // While an earlier PUBLISH of ours waits in the store queue, later ones queue behind it even
  // if they need no write, so subscribers see them in the order sent (4.6).
  if (!broker_.publish(std::move(msg), on_durable, session_, qos == 2 ? pid : 0,
                       ordered_pending_ > 1))
    on_durable(true);
}

// Per-client token buckets for PUBLISH packets and bytes, refilled continuously, holding one
// second's worth. Returns false (after disconnecting) when either runs dry.
bool Client::withinPublishRate(size_t bytes) {
  const auto& cfg = broker_.config();
  if (!cfg.max_publish_rate && !cfg.max_publish_bytes_rate) return true;
  const int64_t now = broker_.clock().nowMs();
  const double elapsed_s = double(now - rate_ms_) / 1000.0;
  rate_ms_ = now;
  bool ok = true;
  if (cfg.max_publish_rate) {
    const double cap = cfg.max_publish_rate;
    pub_tokens_ = std::min(cap, pub_tokens_ + elapsed_s * cap);
    if (pub_tokens_ >= 1) {
      pub_tokens_ -= 1;
    } else {
      ok = false;
    }
  }
  if (ok && cfg.max_publish_bytes_rate) {
    const double cap = double(cfg.max_publish_bytes_rate);
    byte_tokens_ = std::min(cap, byte_tokens_ + elapsed_s * cap);
    if (byte_tokens_ >= double(bytes)) {
      byte_tokens_ -= double(bytes);
    } else {
      ok = false;
    }
  }
  if (ok) return true;
  std::fprintf(stderr,
               "parleyd: client '%s' (%s): publish rate above --max-publish-rate %u/s or "
               "--max-publish-bytes %llu/s; disconnecting (reason 0x96)\n",
               client_id_.c_str(), transport_.peer().c_str(), cfg.max_publish_rate,
               static_cast<unsigned long long>(cfg.max_publish_bytes_rate));
  Stats::add(broker_.stats().publish_rate_exceeded);
  disconnect(Reason::MessageRateTooHigh, "message rate too high", true);
  return false;
}

void Client::handlePubrel(uint16_t packet_id) {
  mqtt::Ack a{mqtt::PacketType::Pubcomp, packet_id, Reason::Success, {}};
  if (session_->inboundQos2().erase(packet_id)) {
    broker_.persistInboundDone(*session_, packet_id);
    inboundDone();
  } else if (mqtt::isV5(version_)) {
    a.reason = Reason::PacketIdentifierNotFound;
  }
  send(a);
}

void Client::handleSubscribe(mqtt::Subscribe& s) {
  const bool v5 = mqtt::isV5(version_);
  const auto& cfg = broker_.config();
  uint32_t sub_id = 0;
  if (!s.props.subscription_identifiers.empty()) sub_id = s.props.subscription_identifiers[0];

  struct Granted {
    std::string filter;
    topics::SubOptions options;
    bool is_new;
  };
  std::vector<Granted> granted;
  mqtt::Suback ack;
  ack.packet_id = s.packet_id;
  for (auto& sub : s.subscriptions) {
    const std::string& f = sub.filter;
    Reason r;
    if (!topics::isValidSubscriptionFilter(f)) {
      r = v5 ? Reason::TopicFilterInvalid : Reason::UnspecifiedError;
    } else if (f.size() > cfg.max_topic_length || topics::levelCount(f) > cfg.max_topic_levels) {
      std::fprintf(stderr,
                   "parleyd: client '%s': filter longer than --max-topic-length or "
                   "--max-topic-levels refused\n",
                   client_id_.c_str());
      Stats::add(broker_.stats().topic_limit_exceeded);
      r = v5 ? Reason::TopicFilterInvalid : Reason::UnspecifiedError;
    } else if (!broker_.authorizer().canSubscribe({client_id_, user_}, f)) {
      std::fprintf(stderr, "parleyd: client '%s' user '%s': subscribe to '%s' not authorized\n",
                   client_id_.c_str(), user_.c_str(), f.c_str());
      Stats::add(broker_.stats().acl_denied);
      r = v5 ? Reason::NotAuthorized : Reason::UnspecifiedError;
    } else if (auto chat_reason = chatSubscribe(f, sub.options.qos)) {
      r = *chat_reason;  // conv/{id} or rpc/reply/...: the chat layer decides, no tree entry
    } else if (v5 && sub.options.no_local && topics::isShared(f)) {
      return protocolError(Reason::ProtocolError, "no-local on a shared subscription");
    } else if (session_->subscriptions().size() >= cfg.max_subscriptions_per_client &&
               !session_->subscriptions().count(f)) {
      std::fprintf(stderr, "parleyd: client '%s': --max-subscriptions (%u) reached; '%s' refused\n",
                   client_id_.c_str(), cfg.max_subscriptions_per_client, f.c_str());
      Stats::add(broker_.stats().subscriptions_refused);
      r = v5 ? Reason::QuotaExceeded : Reason::UnspecifiedError;
    } else {
      topics::SubOptions o;
      o.qos = sub.options.qos > 2 ? 2 : sub.options.qos;
      o.no_local = v5 && sub.options.no_local;
      o.retain_as_published = v5 && sub.options.retain_as_published;
      o.retain_handling = v5 ? sub.options.retain_handling : 0;
      o.subscription_id = sub_id;
      bool is_new = broker_.subscribe(*session_, f, o);
      granted.push_back({f, o, is_new});
      r = static_cast<Reason>(o.qos);
    }
    ack.reasons.push_back(r);
  }
  std::vector<std::string> filters;
  for (auto& g : granted) filters.push_back(g.filter);
  std::weak_ptr<Client> self = weak_from_this();
  auto finish_subscribe = [self, ack = std::move(ack),
                           granted = std::move(granted)](bool ok) mutable {
    auto c = self.lock();
    if (!c || c->finished_) return;
    if (!ok) {
      // Not durable, so not granted: undo and say so (a persistent subscription that would
      // vanish on restart is worse than a refused one).
      for (auto& g : granted) c->broker_.unsubscribe(*c->session_, g.filter);
      for (auto& r : ack.reasons)
        if (static_cast<uint8_t>(r) < 0x80) r = Reason::UnspecifiedError;
      c->send(ack);
      c->transport_.requestFlush();
      return;
    }
    c->send(ack);
    for (auto& g : granted) {
      // Retain handling 0: always send retained; 1: only for a new subscription; 2: never.
      if (g.options.retain_handling == 2 || (g.options.retain_handling == 1 && !g.is_new)) continue;
      if (topics::isShared(g.filter)) continue;  // 5.0 4.8.2: no retained on shared subs
      c->broker_.sendRetained(*c->session_, g.filter, g.options);
    }
    c->transport_.requestFlush();
  };
  if (session_->persistent()) {
    broker_.persistSubscriptions(*session_, filters, std::move(finish_subscribe));
  } else
    finish_subscribe(true);
}

void Client::handleUnsubscribe(mqtt::Unsubscribe& u) {
  mqtt::Unsuback ack;
  ack.packet_id = u.packet_id;
  for (auto& f : u.filters) {
    if (auto chat_reason = chatUnsubscribe(f)) {
      ack.reasons.push_back(*chat_reason);
      continue;
    }
    bool existed = broker_.unsubscribe(*session_, f);
    ack.reasons.push_back(existed ? Reason::Success : Reason::NoSubscriptionExisted);
  }
  send(ack);
}

void Client::handleDisconnect(mqtt::Disconnect& d) {
  if (mqtt::isV5(version_) && d.props.session_expiry_interval) {
    const uint32_t e = *d.props.session_expiry_interval;
    if (session_->expiryInterval() == 0 && e != 0)
      return protocolError(Reason::ProtocolError, "session expiry set at DISCONNECT");
    session_->setExpiryInterval(std::min(e, broker_.config().max_session_expiry));
  }
  // Only reason 0x00 (normal disconnection) discards the will (5.0 3.14.4; 3.1.1 has no reason).
  const bool with_will = d.reason != Reason::Success;
  clean_disconnect_ = true;
  finish(with_will);
  transport_.close();
}

void Client::disconnect(Reason reason, const char* log_reason, bool publish_will) {
  if (finished_) return;
  if (mqtt::isV5(version_) && got_connect_) {
    mqtt::Disconnect d;
    d.reason = reason;
    if (log_reason && *log_reason) d.props.reason_string = log_reason;
    send(d);
  }
  finish(publish_will);
  transport_.close();
}

void Client::takenOver() {
  std::fprintf(stderr, "parleyd: client '%s' (%s): session taken over\n", client_id_.c_str(),
               transport_.peer().c_str());
  disconnect(Reason::SessionTakenOver, "session taken over", true);
}

void Client::onConnectionLost() {
  finish(true);
}

uint16_t Client::outboundAlias(const std::string& topic, bool& known) {
  known = false;
  if (client_topic_alias_max_ == 0 || !mqtt::isV5(version_)) return 0;
  if (!outbound_aliases_) outbound_aliases_ = std::make_unique<OutboundAliases>();
  auto it = outbound_aliases_->find(topic);
  if (it != outbound_aliases_->end()) {
    known = true;
    return it->second;
  }
  // Aliases are handed out first come, first served and never reassigned: simple, and the
  // topics a device hears most are usually the first it hears.
  if (outbound_aliases_->size() >= client_topic_alias_max_) return 0;
  const auto alias = static_cast<uint16_t>(outbound_aliases_->size() + 1);
  outbound_aliases_->emplace(topic, alias);
  return alias;
}

void Client::checkKeepAlive(int64_t now_ms) {
  if (finished_ || !got_connect_ || keep_alive_s_ == 0) return;
  const int64_t limit =
      int64_t(keep_alive_s_) * 10 * int64_t(broker_.config().keepalive_grace_percent);
  if (now_ms - last_rx_ms_ > limit) {
    std::fprintf(stderr, "parleyd: client '%s' (%s): keep-alive timeout\n", client_id_.c_str(),
                 transport_.peer().c_str());
    disconnect(Reason::KeepAliveTimeout, "keep-alive timeout", true);
  }
}

void Client::checkSlowReader(int64_t now_ms) {
  const uint32_t limit_s = broker_.config().slow_reader_timeout_s;
  if (finished_ || !got_connect_ || limit_s == 0) return;
  // Waiting on the reader: bytes it has not taken from the socket, or a full in-flight window
  // with more to send. Progress (a completed write, an acknowledgement) restarts the clock.
  if (transport_.queuedBytes() == 0 && !(session_ && session_->blockedOnClient())) {
    output_stalled_ms_ = 0;
    return;
  }
  if (output_stalled_ms_ == 0) {
    output_stalled_ms_ = now_ms;
    return;
  }
  if (now_ms - output_stalled_ms_ < int64_t(limit_s) * 1000) return;
  std::fprintf(stderr,
               "parleyd: client '%s' (%s): slow reader: %zu bytes unsent, no write completed and no"
               " acknowledgement for %u s; disconnecting\n",
               client_id_.c_str(), transport_.peer().c_str(), transport_.queuedBytes(), limit_s);
  Stats::add(broker_.stats().slow_readers_disconnected);
  disconnect(Reason::QuotaExceeded, "slow reader: output not drained", true);
}

void Client::onOutputWritten() {
  output_stalled_ms_ = 0;
  if (!finished_ && session_) session_->pump();
}

// The connection's end for the session: the will (now or delayed), then the session is kept
// or dropped. Runs once.
void Client::finish(bool publish_will) {
  if (finished_) return;
  finished_ = true;
  if (!session_) return;
  broker_.unregisterClient(this);
  Stats::sub(broker_.stats().clients_connected);
  if (presence_counted_ && broker_.chat()) broker_.chat()->deviceOffline(user_, clean_disconnect_);
  if (publish_will && will_) {
    auto m = std::make_shared<Message>();
    m->topic = will_->topic;
    m->payload = will_->payload;
    m->qos = will_->qos;
    m->retain = will_->retain;
    m->props = will_->props;
    m->props.will_delay_interval.reset();
    m->publisher = client_id_;
    uint32_t delay = will_->props.will_delay_interval.value_or(0);
    if (delay > session_->expiryInterval()) delay = session_->expiryInterval();
    if (delay > 0 && session_->persistent())
      broker_.scheduleWill(client_id_, std::move(m),
                           broker_.clock().nowMs() + int64_t(delay) * 1000);
    else
      broker_.publishWill(std::move(m));
  }
  will_.reset();
  Session* s = session_;
  session_ = nullptr;
  if (s->client() == this) {
    s->detach();
    broker_.closeSession(*s);
  }
}

}  // namespace parley::core
