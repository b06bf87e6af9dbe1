#include "client_impl.hpp"

#include <algorithm>
#include <cstdio>

#include "wire.hpp"

namespace parley::sdk {

namespace {

void* ctxOf(uintptr_t v) {
  return reinterpret_cast<void*>(v);
}

uintptr_t opCtx(uint64_t id, uint32_t attempt) {
  return static_cast<uintptr_t>((id << 16) | (attempt & 0xffff));
}

std::string serverUri(const ClientOptions& o) {
  if (!o.server_uri.empty()) return o.server_uri;
  return "tcp://" + o.host + ":" + std::to_string(o.port);
}

bool isTls(const std::string& uri) {
  return uri.rfind("ssl://", 0) == 0 || uri.rfind("wss://", 0) == 0 ||
         uri.rfind("mqtts://", 0) == 0;
}

std::string hex(int code) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", code & 0xff);
  return buf;
}

std::optional<std::string> userProperty(const mqtt::properties& props, const std::string& key) {
  const size_t n = props.count(mqtt::property::USER_PROPERTY);
  for (size_t i = 0; i < n; ++i) {
    auto kv = mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, i);
    if (std::get<0>(kv) == key) return std::get<1>(kv);
  }
  return std::nullopt;
}

}  // namespace

ChatClient::Impl::Impl(ClientOptions options, Handlers handlers)
    : opts_(std::move(options)),
      handlers_(std::move(handlers)),
      reply_topic_(wire::rpcReplyTopic(opts_.device_id)),
      password_(opts_.password) {
  try {
    // No client-side persistence: the outbox lives in this object, and the broker's session
    // (not a local file) is what survives an app restart.
    mqtt::create_options co(MQTTVERSION_5);
    cli_ = std::make_unique<mqtt::async_client>(serverUri(opts_), opts_.device_id, co, nullptr);
  } catch (const std::exception& e) {
    create_error_ = std::string("cannot create the MQTT client: ") + e.what();
    return;
  }
  cli_->set_message_callback([this](mqtt::const_message_ptr m) { onMessage(m); });
  cli_->set_connection_lost_handler([this](const std::string& cause) {
    onConnectionLost(cause.empty() ? "connection lost" : cause);
  });
  // Paho reports a server DISCONNECT here and not as a lost connection.
  cli_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode rc) {
    onConnectionLost("the broker disconnected us (reason " + hex(int(rc)) + ")");
  });
}

ChatClient::Impl::~Impl() {
  shutdown();
}

void ChatClient::Impl::shutdown() {
  bool was_connected;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    wanted_ = false;
    was_connected = connected_ || attempting_;
  }
  if (cli_ && was_connected) {
    try {
      cli_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const std::exception&) {
      // Not connected after all, or the broker is gone: nothing more to say to it.
    }
  }
  {
    std::lock_guard lock(mu_);
    const Error closed{ErrorCode::Closed, 0, "the client was destroyed"};
    for (auto& [id, op] : ops_) {
      dispatcher_.post([done = std::move(op.done), closed] { done(Outcome{closed, 0, {}}); });
    }
    ops_.clear();
    rpc_by_corr_.clear();
    sends_by_cmid_.clear();
    for (auto& w : connect_waiters_) fail(w, closed);
    connect_waiters_.clear();
    for (auto& w : disconnect_waiters_) {
      dispatcher_.post([w = std::move(w)] {
        if (w) w(Result<void>());
      });
    }
    disconnect_waiters_.clear();
  }
  dispatcher_.stop();
  // Paho may call the listener while it tears down (failing what it still holds); the state it
  // would touch is still alive and the dispatcher drops what it posts.
  cli_.reset();
}

// ---- connection ----

void ChatClient::Impl::connect(Completion<ConnectInfo> done) {
  std::string bad;
  if (!cli_) {
    bad = create_error_;
  } else if (opts_.device_id.empty() || opts_.device_id.size() > 256) {
    bad = "device_id (the MQTT client id) must be 1-256 bytes";
  } else if (!wire::validUserId(opts_.user_id)) {
    bad = "user_id must be 1-128 bytes without '/', '+', '#' or NUL";
  }
  {
    std::lock_guard lock(mu_);
    if (!bad.empty()) return fail(done, Error{ErrorCode::InvalidArgument, 0, bad});
    if (closing_) return fail(done, Error{ErrorCode::Closed, 0, "the client was destroyed"});
    if (connected_) {
      dispatcher_.post([done = std::move(done), sp = session_present_] {
        if (done) done(ConnectInfo{sp});
      });
      return;
    }
    wanted_ = true;
    backoff_ = std::chrono::milliseconds(0);
    connect_waiters_.push_back(std::move(done));
    if (attempting_) return;
  }
  attemptConnect();
}

void ChatClient::Impl::attemptConnect() {
  std::string password;
  {
    std::lock_guard lock(mu_);
    if (closing_ || !wanted_ || connected_ || attempting_) return;
    attempting_ = true;
    password = password_;
  }
  // Built in place and handed over directly: Paho C++ 1.2.0 copies a connect_options with its
  // C struct still pointing at the *source's* properties, so an options object copied out of a
  // builder or a temporary reaches the broker without them (no Session Expiry Interval: the
  // broker would end the session at every disconnect). async_client::connect() takes its
  // argument by value, and that copy points at `o`, which outlives the call; the C library
  // copies the properties before connect() returns and reuses its copy later.
  mqtt::connect_options o;
  o.set_mqtt_version(MQTTVERSION_5);
  o.set_clean_start(false);
  o.set_keep_alive_interval(opts_.keep_alive);
  o.set_connect_timeout(opts_.connect_timeout);
  o.set_user_name(opts_.user_id);
  if (!password.empty()) o.set_password(password);
  const std::string uri = serverUri(opts_);
  if (isTls(uri)) {
    mqtt::ssl_options ssl;
    if (!opts_.ca_file.empty()) ssl.set_trust_store(opts_.ca_file);
    o.set_ssl(ssl);
  }
  const auto expiry = std::clamp<int64_t>(opts_.session_expiry.count(), 1, 0x7fffffff);
  mqtt::properties props;
  props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(expiry)));
  o.set_properties(props);
  try {
    cli_->connect(o, ctxOf(kConnectCtx), *this);
  } catch (const mqtt::exception& e) {
    onConnectFailed(e.get_return_code(), e.what());
  }
}

void ChatClient::Impl::onConnected(bool session_present) {
  bool disconnect_now = false;
  {
    std::lock_guard lock(mu_);
    attempting_ = false;
    if (closing_) return;
    if (!wanted_) {
      disconnect_now = true;  // disconnect() arrived while this attempt was under way
    } else {
      connected_ = true;
      session_present_ = session_present;
      backoff_ = std::chrono::milliseconds(0);
      for (auto& w : connect_waiters_) {
        dispatcher_.post([w = std::move(w), session_present] {
          if (w) w(ConnectInfo{session_present});
        });
      }
      connect_waiters_.clear();
      if (handlers_.on_connection) {
        dispatcher_.post([this, session_present] {
          handlers_.on_connection(ConnectionEvent{true, session_present, "connected"});
        });
      }
      // Presence subscriptions are renewed on every connection: the session may be new, and a
      // fresh SUBACK brings the retained current state.
      for (const auto& user : presence_) addOpLocked(presenceOp(user, nullptr));
      requestFlushLocked();
    }
  }
  if (disconnect_now) {
    dispatcher_.post([this] {
      try {
        cli_->disconnect();
      } catch (const std::exception&) {
      }
    });
  }
}

void ChatClient::Impl::onConnectFailed(int rc, const std::string& message) {
  std::lock_guard lock(mu_);
  attempting_ = false;
  if (closing_) return;
  // A positive code is the CONNACK's reason (0x86 bad user name or password, 0x87 not
  // authorized, …); Paho's own errors are negative.
  Error e{ErrorCode::ConnectFailed, rc > 0 ? rc : 0,
          rc > 0 ? "the broker refused the connection (reason " + hex(rc) + ")"
                 : "cannot connect to " + serverUri(opts_) + ": " + message};
  for (auto& w : connect_waiters_) fail(w, e);
  connect_waiters_.clear();
  scheduleReconnectLocked();
}

void ChatClient::Impl::onConnectionLost(const std::string& cause) {
  std::lock_guard lock(mu_);
  if (!connected_) return;
  connected_ = false;
  // An rpc whose request was acknowledged may have lost its reply with the connection; asking
  // again is harmless (requests are not stored) and the first reply completes it.
  for (auto& [id, op] : ops_) {
    if (op.kind == OpKind::Rpc && op.state == OpState::Acked)
      setStateLocked(id, op, OpState::Queued);
  }
  if (handlers_.on_connection && !closing_) {
    dispatcher_.post([this, cause] {
      handlers_.on_connection(ConnectionEvent{false, false, cause});
    });
  }
  scheduleReconnectLocked();
}

void ChatClient::Impl::scheduleReconnectLocked() {
  if (closing_ || !wanted_) return;
  const auto min = std::max(opts_.min_reconnect_delay, std::chrono::milliseconds(10));
  const auto max = std::max(opts_.max_reconnect_delay, min);
  backoff_ = backoff_.count() == 0 ? min : std::min(backoff_ * 2, max);
  dispatcher_.postAt(Clock::now() + backoff_, [this] { attemptConnect(); });
}

void ChatClient::Impl::disconnect(Completion<void> done) {
  bool send_disconnect = false;
  {
    std::lock_guard lock(mu_);
    if (closing_) return fail(done, Error{ErrorCode::Closed, 0, "the client was destroyed"});
    wanted_ = false;
    const Error e{ErrorCode::ConnectFailed, 0, "disconnect() was called"};
    for (auto& w : connect_waiters_) fail(w, e);
    connect_waiters_.clear();
    if (!connected_) {
      dispatcher_.post([done = std::move(done)] {
        if (done) done(Result<void>());
      });
      return;
    }
    disconnect_waiters_.push_back(std::move(done));
    send_disconnect = disconnect_waiters_.size() == 1;
  }
  if (!send_disconnect) return;
  try {
    cli_->disconnect(ctxOf(kDisconnectCtx), *this);
  } catch (const std::exception&) {
    onDisconnected();  // already gone
  }
}

void ChatClient::Impl::onDisconnected() {
  std::lock_guard lock(mu_);
  const bool was = connected_;
  connected_ = false;
  for (auto& [id, op] : ops_) {
    if (op.kind == OpKind::Rpc && op.state == OpState::Acked)
      setStateLocked(id, op, OpState::Queued);
  }
  for (auto& w : disconnect_waiters_) {
    dispatcher_.post([w = std::move(w)] {
      if (w) w(Result<void>());
    });
  }
  disconnect_waiters_.clear();
  if (was && handlers_.on_connection && !closing_) {
    dispatcher_.post([this] {
      handlers_.on_connection(ConnectionEvent{false, false, "disconnected"});
    });
  }
}

bool ChatClient::Impl::connected() const {
  std::lock_guard lock(mu_);
  return connected_;
}

void ChatClient::Impl::setPassword(std::string password) {
  std::lock_guard lock(mu_);
  password_ = std::move(password);
}

// ---- Paho action results ----

void ChatClient::Impl::on_success(const mqtt::token& tok) {
  const auto ctx = reinterpret_cast<uintptr_t>(tok.get_user_context());
  if (ctx == kConnectCtx) {
    bool session_present = false;
    try {
      session_present = tok.get_connect_response().is_session_present();
    } catch (const std::exception&) {
    }
    return onConnected(session_present);
  }
  if (ctx == kDisconnectCtx) return onDisconnected();
  onOpSuccess(ctx >> 16);
}

void ChatClient::Impl::on_failure(const mqtt::token& tok) {
  const auto ctx = reinterpret_cast<uintptr_t>(tok.get_user_context());
  const int rc = tok.get_return_code();
  if (ctx == kConnectCtx) return onConnectFailed(rc, mqtt::exception::error_str(rc));
  if (ctx == kDisconnectCtx) return onDisconnected();
  int reason = static_cast<int>(tok.get_reason_code());
  if (reason < 0x80 || reason > 0xff) reason = 0;
  onOpFailure(ctx >> 16, static_cast<uint32_t>(ctx & 0xffff), reason);
}

void ChatClient::Impl::onOpSuccess(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = ops_.find(id);
  if (it == ops_.end()) return;  // already completed (a copy, a reply, a timeout, an earlier ack)
  Op& op = it->second;
  switch (op.kind) {
    case OpKind::Read:
    case OpKind::Subscribe:
      completeLocked(id, Outcome{});
      return;
    case OpKind::Rpc:
      setStateLocked(id, op, OpState::Acked);  // the reply completes it
      return;
    case OpKind::Send:
      if (auto seq = knownOwnLocked(op.conv, op.cmid)) {
        completeLocked(id, Outcome{std::nullopt, *seq, {}});
        return;
      }
      if (op.state == OpState::Acked) return;
      setStateLocked(id, op, OpState::Acked);
      dispatcher_.postAt(Clock::now() + opts_.seq_lookup_delay,
                         [this, id] { lookupSeq(id, 0, 10); });
      return;
  }
}

void ChatClient::Impl::onOpFailure(uint64_t id, uint32_t attempt, int reason_code) {
  std::lock_guard lock(mu_);
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  Op& op = it->second;
  if (reason_code >= 0x80) {
    completeLocked(id, Outcome{wire::reasonError(reason_code, op.what), 0, {}});
    return;
  }
  // No answer from the broker (connection or session lost, Paho's buffer full): send it again
  // on the next connection — or shortly, if still connected — unless a newer attempt is
  // already under way.
  if (op.state == OpState::InFlight && (op.attempt & 0xffff) == attempt) {
    setStateLocked(id, op, OpState::Queued);
    if (connected_) {
      dispatcher_.postAt(Clock::now() + std::chrono::milliseconds(50), [this] {
        std::lock_guard lock2(mu_);
        if (connected_) requestFlushLocked();
      });
    }
  }
}

// ---- the outbox ----

uint64_t ChatClient::Impl::addOpLocked(Op op) {
  const uint64_t id = next_op_++;
  if (op.kind == OpKind::Rpc) rpc_by_corr_[op.corr] = id;
  if (op.kind == OpKind::Send) sends_by_cmid_.emplace(std::make_pair(op.conv, op.cmid), id);
  op.state = OpState::Queued;
  ops_.emplace(id, std::move(op));
  queued_.insert(id);
  if (connected_) requestFlushLocked();
  return id;
}

// Every state change goes through here, so queued_ and in_flight_ always agree with ops_.
void ChatClient::Impl::setStateLocked(uint64_t id, Op& op, OpState state) {
  if (op.state == state) return;
  if (op.state == OpState::Queued) queued_.erase(id);
  if (op.state == OpState::InFlight) {
    --in_flight_;
    if (connected_ && !queued_.empty()) requestFlushLocked();  // a slot in the window is free
  }
  op.state = state;
  if (state == OpState::Queued) queued_.insert(id);
  if (state == OpState::InFlight) ++in_flight_;
}

void ChatClient::Impl::completeLocked(uint64_t id, Outcome outcome) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  setStateLocked(id, it->second, OpState::Acked);  // leaves the queue or the window
  Op op = std::move(it->second);
  ops_.erase(it);
  if (op.kind == OpKind::Rpc) rpc_by_corr_.erase(op.corr);
  if (op.kind == OpKind::Send) {
    auto [lo, hi] = sends_by_cmid_.equal_range({op.conv, op.cmid});
    for (auto s = lo; s != hi; ++s) {
      if (s->second == id) {
        sends_by_cmid_.erase(s);
        break;
      }
    }
  }
  dispatcher_.post([done = std::move(op.done), outcome = std::move(outcome)]() mutable {
    done(std::move(outcome));
  });
}

void ChatClient::Impl::requestFlushLocked() {
  if (flush_posted_ || closing_) return;
  flush_posted_ = true;
  dispatcher_.post([this] { flush(); });
}

void ChatClient::Impl::flush() {
  std::vector<Job> jobs;
  {
    std::lock_guard lock(mu_);
    flush_posted_ = false;
    if (!connected_ || closing_) return;
    while (in_flight_ < kWindow && !queued_.empty()) {
      const uint64_t id = *queued_.begin();
      Op& op = ops_.at(id);
      setStateLocked(id, op, OpState::InFlight);
      ++op.attempt;
      jobs.push_back(Job{id, op.attempt, op.kind, op.topic, op.payload, op.corr});
    }
  }
  for (const Job& j : jobs) issue(j);
}

void ChatClient::Impl::issue(const Job& j) {
  void* ctx = ctxOf(opCtx(j.id, j.attempt));
  try {
    if (j.kind == OpKind::Subscribe) {
      cli_->subscribe(j.topic, 1, ctx, *this);
      return;
    }
    auto msg = mqtt::make_message(j.topic, j.payload, 1, false);
    if (j.kind == OpKind::Rpc) {
      // The reply goes to rpc/reply/{client id}: the broker sends that to this connection only
      // (PROTOCOL.md), never through the subscription tree.
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, reply_topic_));
      props.add(mqtt::property(mqtt::property::CORRELATION_DATA, j.corr));
      msg->set_properties(props);
    }
    cli_->publish(msg, ctx, *this);
  } catch (const mqtt::exception& e) {
    // Disconnected between the check and the call, or Paho's buffers are full: it goes again
    // later. Anything else is a request Paho will never accept, so it ends here.
    const int rc = e.get_return_code();
    if (rc == MQTTASYNC_DISCONNECTED || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
        rc == MQTTASYNC_NO_MORE_MSGIDS || rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT) {
      onOpFailure(j.id, j.attempt, 0);
    } else {
      std::lock_guard lock(mu_);
      completeLocked(j.id, Outcome{Error{ErrorCode::InvalidArgument, 0,
                                         std::string("the MQTT client refused it: ") + e.what()},
                                   0,
                                   {}});
    }
  }
}

// ---- incoming ----

void ChatClient::Impl::onMessage(const mqtt::const_message_ptr& msg) {
  if (!msg) return;
  std::string key;
  const std::string& payload = msg->get_payload();
  switch (wire::classify(msg->get_topic(), opts_.device_id, &key)) {
    case wire::Inbound::ChatMessage: {
      auto m = wire::decodeChatMessage(payload);
      if (!m) return;  // not a ChatMessage: nothing an app could show
      std::lock_guard lock(mu_);
      matchOwnLocked(*m);
      if (!seqs_.admit(*m) || !handlers_.on_message || closing_) return;
      dispatcher_.post([this, m = std::move(*m)] { handlers_.on_message(m); });
      return;
    }
    case wire::Inbound::Receipts: {
      auto r = wire::decodeReceipts(payload);
      if (r && handlers_.on_receipts) {
        dispatcher_.post([this, r = std::move(*r)] { handlers_.on_receipts(r); });
      }
      return;
    }
    case wire::Inbound::Typing: {
      auto t = wire::decodeTyping(payload);
      if (t && handlers_.on_typing) {
        dispatcher_.post([this, t = std::move(*t)] { handlers_.on_typing(t); });
      }
      return;
    }
    case wire::Inbound::Presence: {
      auto p = wire::decodePresence(payload);
      if (p && handlers_.on_presence) {
        dispatcher_.post([this, p = std::move(*p)] { handlers_.on_presence(p); });
      }
      return;
    }
    case wire::Inbound::RpcReply:
      return onRpcReply(msg);
    case wire::Inbound::Other:
      return;
  }
}

void ChatClient::Impl::onRpcReply(const mqtt::const_message_ptr& msg) {
  const auto& props = msg->get_properties();
  if (!props.contains(mqtt::property::CORRELATION_DATA)) return;
  std::string corr;
  try {
    corr = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
  } catch (const std::exception&) {
    return;
  }
  const bool is_error = userProperty(props, "error") == std::optional<std::string>("1");
  std::lock_guard lock(mu_);
  auto it = rpc_by_corr_.find(corr);
  if (it == rpc_by_corr_.end()) return;  // a second answer to a resent request, or timed out
  Outcome o;
  if (is_error) {
    o.error = wire::decodeRpcError(msg->get_payload());
  } else {
    o.reply = msg->get_payload();
  }
  completeLocked(it->second, std::move(o));
}

void ChatClient::Impl::matchOwnLocked(const Message& m) {
  if (m.seq == 0 || m.cmid.empty() || m.sender_user != opts_.user_id) return;
  rememberOwnLocked(m.conv, m.cmid, m.seq);
  // Every send waiting for this (conv, cmid) is now known to be stored under m.seq, whether its
  // PUBACK has arrived yet or not — even one still queued (another device, or this app before
  // a restart, got there first).
  std::vector<uint64_t> ids;
  auto [lo, hi] = sends_by_cmid_.equal_range({m.conv, m.cmid});
  for (auto s = lo; s != hi; ++s) ids.push_back(s->second);
  for (uint64_t id : ids) completeLocked(id, Outcome{std::nullopt, m.seq, {}});
}

void ChatClient::Impl::rememberOwnLocked(const std::string& conv, const std::string& cmid,
                                         uint64_t seq) {
  auto key = std::make_pair(conv, cmid);
  if (recent_own_.emplace(key, seq).second) {
    recent_order_.push_back(std::move(key));
    if (recent_order_.size() > kRecentOwn) {
      recent_own_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
  }
}

std::optional<uint64_t> ChatClient::Impl::knownOwnLocked(const std::string& conv,
                                                         const std::string& cmid) const {
  auto it = recent_own_.find({conv, cmid});
  if (it == recent_own_.end()) return std::nullopt;
  return it->second;
}

// Runs on the dispatcher. Pages back through the conversation for this user's cmid; the
// message is stored (the broker acknowledged it), usually near the head.
void ChatClient::Impl::lookupSeq(uint64_t send_id, uint64_t before_seq, int pages_left) {
  std::string conv, cmid;
  {
    std::lock_guard lock(mu_);
    auto it = ops_.find(send_id);
    if (it == ops_.end() || it->second.state != OpState::Acked) return;
    conv = it->second.conv;
    cmid = it->second.cmid;
    if (auto seq = knownOwnLocked(conv, cmid)) {
      completeLocked(send_id, Outcome{std::nullopt, *seq, {}});
      return;
    }
  }
  rpc("history", wire::encodeHistoryRequest(conv, before_seq, 100),
      [this, send_id, conv, cmid, pages_left](Outcome o) {
        auto page = o.error ? std::nullopt : wire::decodeHistory(o.reply);
        std::lock_guard lock(mu_);
        if (!ops_.count(send_id)) return;
        if (page) {
          for (const auto& m : page->messages) {
            if (m.cmid == cmid && m.sender_user == opts_.user_id) {
              rememberOwnLocked(conv, cmid, m.seq);
              completeLocked(send_id, Outcome{std::nullopt, m.seq, {}});
              return;
            }
          }
          if (page->has_more && pages_left > 1 && !page->messages.empty()) {
            const uint64_t next = page->messages.front().seq;
            dispatcher_.post(
                [this, send_id, next, pages_left] { lookupSeq(send_id, next, pages_left - 1); });
            return;
          }
        }
        // Stored, but its seq is out of reach (far back, trimmed, or history unavailable).
        completeLocked(send_id, Outcome{std::nullopt, 0, {}});
      });
}

// ---- public operations ----

void ChatClient::Impl::send(OutgoingMessage msg, Completion<SendReceipt> done) {
  if (msg.cmid.empty()) msg.cmid = ChatClient::newCmid();
  const std::string bad = wire::checkOutgoing(msg);
  std::lock_guard lock(mu_);
  if (!bad.empty()) return fail(done, Error{ErrorCode::InvalidArgument, 0, bad});
  if (closing_) return fail(done, Error{ErrorCode::Closed, 0, "the client was destroyed"});
  Op op;
  op.kind = OpKind::Send;
  op.conv = msg.conv;
  op.cmid = msg.cmid;
  op.topic = "conv/" + msg.conv;
  op.what = "send to " + op.topic;
  op.payload = wire::encodeChatSend(msg);
  op.done = [done = std::move(done), conv = msg.conv, cmid = msg.cmid](Outcome o) {
    if (!done) return;
    if (o.error) return done(*o.error);
    done(SendReceipt{conv, cmid, o.seq});
  };
  // Known already (this app sent it before, or its copy arrived): no need to ask again.
  if (auto seq = knownOwnLocked(op.conv, op.cmid)) {
    const uint64_t id = next_op_++;
    ops_.emplace(id, std::move(op));
    completeLocked(id, Outcome{std::nullopt, *seq, {}});
    return;
  }
  addOpLocked(std::move(op));
}

void ChatClient::Impl::rpc(const std::string& method, std::string payload,
                           std::function<void(Outcome)> done) {
  std::lock_guard lock(mu_);
  if (closing_) {
    dispatcher_.post([done = std::move(done)] {
      done(Outcome{Error{ErrorCode::Closed, 0, "the client was destroyed"}, 0, {}});
    });
    return;
  }
  Op op;
  op.kind = OpKind::Rpc;
  op.topic = "rpc/" + method;
  op.what = op.topic;
  op.payload = std::move(payload);
  op.corr = std::to_string(next_corr_++);
  op.done = std::move(done);
  const uint64_t id = addOpLocked(std::move(op));
  dispatcher_.postAt(Clock::now() + opts_.rpc_timeout, [this, id, method] {
    std::lock_guard lock2(mu_);
    completeLocked(
        id,
        Outcome{Error{ErrorCode::Timeout, 0, "no answer to rpc/" + method + " in time"}, 0, {}});
  });
}

namespace {

// Wraps a typed completion: decode the reply payload with `decode`, or pass the error on.
template <class T, class Decode>
auto replyHandler(Completion<T> done, Decode decode, std::string what) {
  return [done = std::move(done), decode, what = std::move(what)](auto outcome) {
    if (!done) return;
    if (outcome.error) return done(*outcome.error);
    auto v = decode(outcome.reply);
    if (!v) return done(Error{ErrorCode::Protocol, 0, "undecodable " + what + " reply"});
    done(std::move(*v));
  };
}

}  // namespace

void ChatClient::Impl::history(const std::string& conv, uint64_t before_seq, uint32_t limit,
                               Completion<HistoryPage> done) {
  if (!wire::validConvId(conv)) {
    std::lock_guard lock(mu_);
    return fail(done, Error{ErrorCode::InvalidArgument, 0, "invalid conversation id"});
  }
  rpc("history", wire::encodeHistoryRequest(conv, before_seq, std::clamp<uint32_t>(limit, 1, 100)),
      replyHandler(std::move(done), wire::decodeHistory, "rpc/history"));
}

void ChatClient::Impl::conversations(const std::string& after, uint32_t limit,
                                     Completion<ConversationPage> done) {
  rpc("conversations", wire::encodeConversationsRequest(after, std::clamp<uint32_t>(limit, 1, 500)),
      replyHandler(std::move(done), wire::decodeConversations, "rpc/conversations"));
}

void ChatClient::Impl::receipts(const std::string& conv, Completion<Receipts> done) {
  if (!wire::validConvId(conv)) {
    std::lock_guard lock(mu_);
    return fail(done, Error{ErrorCode::InvalidArgument, 0, "invalid conversation id"});
  }
  rpc("receipts", wire::encodeReceiptsRequest(conv),
      replyHandler(std::move(done), wire::decodeReceipts, "rpc/receipts"));
}

void ChatClient::Impl::markRead(const std::string& conv, uint64_t seq, Completion<void> done) {
  std::lock_guard lock(mu_);
  if (!wire::validConvId(conv)) {
    return fail(done, Error{ErrorCode::InvalidArgument, 0, "invalid conversation id"});
  }
  if (closing_) return fail(done, Error{ErrorCode::Closed, 0, "the client was destroyed"});
  Op op;
  op.kind = OpKind::Read;
  op.topic = "conv/" + conv + "/read";
  op.what = "read cursor on " + op.topic;
  op.payload = wire::encodeReadCursor(conv, seq);
  op.done = [done = std::move(done)](Outcome o) {
    if (!done) return;
    if (o.error) return done(*o.error);
    done(Result<void>());
  };
  addOpLocked(std::move(op));
}

void ChatClient::Impl::typing(const std::string& conv, bool typing) {
  if (!wire::validConvId(conv)) return;
  dispatcher_.post([this, topic = "conv/" + conv + "/typing", typing] {
    {
      std::lock_guard lock(mu_);
      if (!connected_ || closing_) return;  // ephemeral: worthless later
    }
    try {
      cli_->publish(mqtt::make_message(topic, typing ? "1" : "0", 0, false));
    } catch (const mqtt::exception&) {
    }
  });
}

void ChatClient::Impl::subscribePresence(const std::string& user, Completion<void> done) {
  std::lock_guard lock(mu_);
  if (!wire::validUserId(user)) {
    return fail(done, Error{ErrorCode::InvalidArgument, 0, "invalid user id"});
  }
  if (closing_) return fail(done, Error{ErrorCode::Closed, 0, "the client was destroyed"});
  presence_.insert(user);
  addOpLocked(presenceOp(user, std::move(done)));
}

ChatClient::Impl::Op ChatClient::Impl::presenceOp(const std::string& user, Completion<void> done) {
  Op op;
  op.kind = OpKind::Subscribe;
  op.topic = "presence/" + user;
  op.what = op.topic;
  op.done = [this, user, done = std::move(done)](Outcome o) {
    if (o.error && o.error->reason_code >= 0x80) {
      std::lock_guard lock(mu_);
      presence_.erase(user);  // refused: do not ask again on every reconnect
    }
    if (!done) return;
    if (o.error) return done(*o.error);
    done(Result<void>());
  };
  return op;
}

void ChatClient::Impl::unsubscribePresence(const std::string& user) {
  {
    std::lock_guard lock(mu_);
    if (!presence_.erase(user)) return;
  }
  dispatcher_.post([this, topic = "presence/" + user] {
    {
      std::lock_guard lock(mu_);
      if (!connected_ || closing_) return;  // the next session gets no subscription anyway
    }
    try {
      cli_->unsubscribe(topic);
    } catch (const mqtt::exception&) {
    }
  });
}

void ChatClient::Impl::setLastSeq(const std::string& conv, uint64_t seq) {
  std::lock_guard lock(mu_);
  seqs_.set(conv, seq);
}

uint64_t ChatClient::Impl::lastSeq(const std::string& conv) const {
  std::lock_guard lock(mu_);
  return seqs_.last(conv);
}

}  // namespace parley::sdk
