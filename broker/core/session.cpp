#include "session.hpp"

#include <cstdio>

#include "broker.hpp"
#include "client.hpp"

namespace parley::core {

namespace {
// Stop writing to a socket that has this much unsent; resume when the writer drains it
// (the connection pumps the session again after every completed write). Together with the
// in-flight byte bound this caps what a reader that stopped reading costs (output buffers plus
// the messages it has not acknowledged); 256 KiB per write still keeps catch-up at full speed.
constexpr size_t kHighWatermark = 256 * 1024;
constexpr size_t kMaxInflightBytes = 256 * 1024;
constexpr size_t kBacklogChunk = 256;
constexpr size_t kPidScanLimit = 32;  // in flight below this: packet-id clashes by scanning

size_t deliveryBytes(const Delivery& d) {
  return d.msg->topic.size() + d.msg->payload.size();
}
}  // namespace

Session::Session(Broker& broker, std::string client_id, topics::SubscriberId id, bool persistent)
    : broker_(broker), client_id_(std::move(client_id)), id_(id), persistent_(persistent) {}

void Session::pushPending(Delivery d) {
  if (d.msg->publisher_backlog) d.msg->publisher_backlog->fetch_add(1, std::memory_order_relaxed);
  pending_.push_back(std::move(d));
}

void Session::pushInflight(Inflight f) {
  inflight_bytes_ += deliveryBytes(f.d);
  inflight_.push_back(std::move(f));
}

void Session::eraseInflight(size_t i) {
  inflight_bytes_ -= deliveryBytes(inflight_[i].d);
  inflight_.erase(i);
}

Delivery Session::takePending() {
  Delivery d = std::move(pending_.front());
  pending_.pop_front();
  if (d.msg->publisher_backlog) d.msg->publisher_backlog->fetch_sub(1, std::memory_order_relaxed);
  return d;
}

void Session::clearPending() {
  while (!pending_.empty()) takePending();
}

void Session::attach(Client* c) {
  client_ = c;
  disconnected_at_ms_ = 0;
  // Spec 4.4: on reconnect, resend unacknowledged PUBLISH (DUP set, same packet id) and PUBREL,
  // in their original order, before anything new.
  for (size_t i = 0; i < inflight_.size();) {
    Inflight& f = inflight_[i];
    if (f.d.chat_reload && !chatReload(f.d)) {
      releasePacketId(f.packet_id);
      eraseInflight(i);
      continue;
    }
    if (f.pubrec) {
      sendPubrel(f.packet_id);
    } else if (!send(f.d, f.packet_id, true)) {
      complete(f);
      eraseInflight(i);
      continue;
    }
    ++i;
  }
  pump();
}

void Session::detach() {
  if (chat_) chatDetach();  // before pending_ is cleared: cursors rewind past what it held
  client_ = nullptr;
  disconnected_at_ms_ = broker_.clock().wallMs();
  size_t dropped = 0;
  uint64_t first_queued = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Delivery& d = pending_[i];
    if (d.chat_seq) continue;  // read from the log again on return
    if (!d.queued)
      ++dropped;
    else if (!first_queued)
      first_queued = d.msg->store_id;
  }
  if (persistent_) {
    // pending_ holds entries below backlog_from_ (read from disk, or live ones before an
    // overflow): reading must restart from the first of them, or they would be skipped. The rest
    // is on disk; the device's absence costs no memory.
    if (first_queued) backlog_from_ = first_queued;
    if (first_queued || backlog_) backlog_ = true;
  }
  if (dropped) Stats::add(broker_.stats().publish_dropped, dropped);
  clearPending();
}

void Session::deliver(Delivery d) {
  if (d.queued) {
    // Queued deliveries arrive in store-id order. Those below live_from_ were read from disk.
    if (backlog_ || d.msg->store_id < live_from_) return;
  }
  if (!client_ && !d.queued) {
    // QoS 0 (or a clean-session copy) to an offline session is not kept.
    Stats::add(broker_.stats().publish_dropped);
    return;
  }
  if (!client_) {
    // Offline: the message is on disk; it is read back on reconnect. Holding it in pending_
    // would also count against its publisher's backlog, which an offline session never drains
    // — the publisher would stop being read (found by the catch-up benchmark).
    backlog_ = true;
    backlog_from_ = d.msg->store_id;
    return;
  }
  const auto& cfg = broker_.config();
  if (pending_.size() >= cfg.max_queued_in_memory) {
    if (d.queued) {
      // Fall back to reading from disk from this message on.
      backlog_ = true;
      backlog_from_ = d.msg->store_id;
      return;
    }
    if (d.qos == 0) {  // QoS 0 may be dropped under load (counted)
      Stats::add(broker_.stats().publish_dropped);
      return;
    }
    if (pending_.size() >= cfg.max_queued_clean) {
      // A clean session far behind even though its publishers are held back: it ends, with a
      // reason, rather than silently losing messages or growing without bound.
      Stats::add(broker_.stats().slow_consumers_disconnected);
      if (client_) client_->disconnect(mqtt::Reason::QuotaExceeded, "slow consumer: queue full");
      return;
    }
  }
  pushPending(std::move(d));
  pump();
}

void Session::pump() {
  if (!client_) return;
  Transport& t = client_->transport();
  const size_t window =
      std::min<size_t>(client_->clientReceiveMaximum(), broker_.config().max_inflight);
  bool sent_any = false;
  while (client_ && t.queuedBytes() < kHighWatermark) {
    // The client holds as many unacknowledged messages as it may: wait for its acks before
    // reading more from disk, so a reader that stopped reading does not pin a chunk in memory.
    const bool window_full = windowFull(window);
    if (pending_.empty()) {
      if (window_full) break;
      if (backlog_) loadBacklogChunk();
      // Conversations being replayed from their log: one chunk at a time, so memory stays
      // bounded however far behind the device is.
      if (pending_.empty() && chat_ && !chat_->replaying.empty()) chatLoadChunk();
      if (pending_.empty()) break;
    }
    if (pending_.front().qos > 0 && window_full) break;
    Delivery d = takePending();
    if (d.msg->expires_at_ms && d.msg->expires_at_ms <= broker_.clock().wallMs()) {
      // Message expiry ran out while it waited: it is not delivered (5.0 3.3.2.3.3).
      if (d.queued) broker_.ackQueued(client_id_, d.msg->store_id);
      Stats::add(broker_.stats().publish_dropped);
      continue;
    }
    if (d.qos == 0) {
      send(d, 0, false);
      if (d.chat_seq) chatAcked(d);  // QoS 0: sent is as far as it goes
    } else {
      Inflight f{std::move(d), allocatePacketId(), false};
      if (!send(f.d, f.packet_id, false)) {
        complete(f);  // discarded as too large: behave as if delivered
      } else {
        if (f.d.qos == 2 && f.d.queued) broker_.persistQueueEntry(*this, f.d, f.packet_id, false);
        pushInflight(std::move(f));
      }
    }
    sent_any = true;
  }
  if (sent_any && client_) t.requestFlush();
}

bool Session::windowFull(size_t window) const {
  return inflight_.size() >= window || (inflight_bytes_ >= kMaxInflightBytes && !inflight_.empty());
}

bool Session::blockedOnClient() const {
  if (!client_) return false;
  const size_t window =
      std::min<size_t>(client_->clientReceiveMaximum(), broker_.config().max_inflight);
  return windowFull(window) &&
         (!pending_.empty() || backlog_ || (chat_ && !chat_->replaying.empty()));
}

bool Session::loadBacklogChunk() {
  auto entries = broker_.store().loadQueue(client_id_, backlog_from_, kBacklogChunk);
  for (auto& e : entries) {
    backlog_from_ = e.msg_id + 1;
    bool in_flight = false;
    for (size_t i = 0; i < inflight_.size(); ++i)
      if (inflight_[i].d.queued && inflight_[i].d.msg->store_id == e.msg_id) in_flight = true;
    if (in_flight) continue;
    auto stored = broker_.store().loadMessage(e.msg_id);
    if (!stored) continue;  // deleted meanwhile (expired)
    Delivery d;
    d.msg = messageFromStored(*stored);
    d.qos = e.qos;
    d.retain = e.retain;
    d.queued = true;
    d.sub_id = e.subscription_id;
    if (e.packet_id) {
      // In flight before a restart: resend with its packet id (QoS 2 exactly-once needs it).
      Inflight f{std::move(d), e.packet_id, e.pubrec_received};
      if (!pid_bits_.empty()) pid_bits_[f.packet_id >> 6] |= 1ull << (f.packet_id & 63);
      if (client_) {
        if (f.pubrec) {
          sendPubrel(f.packet_id);
        } else if (!send(f.d, f.packet_id, true)) {
          complete(f);
          continue;
        }
      }
      pushInflight(std::move(f));
      continue;
    }
    pushPending(std::move(d));
  }
  if (entries.size() < kBacklogChunk) {
    backlog_ = false;
    live_from_ = backlog_from_;
  }
  return !entries.empty() || !backlog_;
}

bool Session::send(Delivery& d, uint16_t packet_id, bool dup) {
  Client* c = client_;
  mqtt::Buffer& out = c->transport().output();
  const Message& m = *d.msg;
  const bool v5 = mqtt::isV5(c->version());
  const size_t start = out.size();
  bool alias_known = false;
  const uint16_t alias = v5 ? c->outboundAlias(m.topic, alias_known) : 0;
  const bool shared_ok = d.sub_id == 0 && !(v5 && m.expires_at_ms) && alias == 0;
  const EncodedPublish* enc =
      shared_ok ? m.encoded[Message::variant(v5, d.qos, d.retain)].get() : nullptr;
  if (enc) {
    // The common case: copy the bytes encoded once for every subscriber, patch the packet id.
    out.insert(out.end(), enc->bytes.begin(), enc->bytes.end());
    if (d.qos) mqtt::patchPacketId(out.data() + start + enc->packet_id_offset, packet_id);
  } else {
    std::vector<uint32_t> ids;
    if (d.sub_id) {
      ids.push_back(d.sub_id);
      ids.insert(ids.end(), d.more_sub_ids.begin(), d.more_sub_ids.end());
    }
    EncodedPublish e = encodeMessage(m, c->version(), d.qos, d.retain, ids, alias, alias_known,
                                     broker_.clock().wallMs());
    out.insert(out.end(), e.bytes.begin(), e.bytes.end());
    if (d.qos) mqtt::patchPacketId(out.data() + start + e.packet_id_offset, packet_id);
  }
  if (dup) out[start] |= 0x08;
  const size_t size = out.size() - start;
  if (c->clientMaximumPacketSize() && size > c->clientMaximumPacketSize()) {
    // 5.0 3.1.2.11.4: a packet larger than the client's maximum is discarded as if sent.
    out.resize(start);
    if (alias && !alias_known) c->forgetAlias(m.topic);  // the client never learned it
    Stats::add(broker_.stats().publish_dropped);
    return false;
  }
  Stats::add(broker_.stats().messages_sent);
  Stats::add(broker_.stats().bytes_sent, size);
  return true;
}

void Session::sendPubrel(uint16_t packet_id) {
  mqtt::Ack a;
  a.type = mqtt::PacketType::Pubrel;
  a.packet_id = packet_id;
  mqtt::encode(a, client_->version(), client_->transport().output());
}

uint16_t Session::allocatePacketId() {
  // Few in flight (the common case: a chat member getting a message now and then): clashes are
  // found by scanning inflight_, so no 8 KiB bitmap is allocated and cleared per message. Many
  // in flight: a bitmap of all 65,535 ids, kept until the window empties again.
  if (pid_bits_.empty() && inflight_.size() >= kPidScanLimit) {
    pid_bits_.assign(1024, 0);
    for (size_t i = 0; i < inflight_.size(); ++i) {
      const uint16_t used = inflight_[i].packet_id;
      pid_bits_[used >> 6] |= 1ull << (used & 63);
    }
  }
  for (int tries = 0; tries < 65535; ++tries) {
    const uint16_t id = next_pid_;
    next_pid_ = next_pid_ == 65535 ? 1 : next_pid_ + 1;
    if (!pid_bits_.empty()) {
      uint64_t& word = pid_bits_[id >> 6];
      const uint64_t bit = 1ull << (id & 63);
      if (word & bit) continue;
      word |= bit;
      return id;
    }
    bool used = false;
    for (size_t i = 0; i < inflight_.size() && !used; ++i) used = inflight_[i].packet_id == id;
    if (!used) return id;
  }
  return 0;  // unreachable: inflight is bounded by receive maximum (< 65535)
}

void Session::releasePacketId(uint16_t id) {
  if (!pid_bits_.empty()) pid_bits_[id >> 6] &= ~(1ull << (id & 63));
  // Idle sessions give the 8 KiB of packet-id bits back.
  if (inflight_.empty() || (inflight_.size() == 1 && inflight_[0].packet_id == id))
    std::vector<uint64_t>().swap(pid_bits_);
}

size_t Session::findInflight(uint16_t packet_id) const {
  // Acks usually come in order, so this finds the front at once.
  for (size_t i = 0; i < inflight_.size(); ++i)
    if (inflight_[i].packet_id == packet_id) return i;
  return kNotFound;
}

void Session::complete(Inflight& f) {
  releasePacketId(f.packet_id);
  if (f.d.queued) broker_.ackQueued(client_id_, f.d.msg->store_id);
  if (f.d.chat_seq) chatAcked(f.d);
}

void Session::onPuback(uint16_t packet_id) {
  const size_t i = findInflight(packet_id);
  if (i == kNotFound || inflight_[i].d.qos != 1) return;  // unknown id: ignore (spec allows)
  complete(inflight_[i]);
  eraseInflight(i);
  pump();
}

void Session::onPubrec(uint16_t packet_id, bool failed) {
  const size_t i = findInflight(packet_id);
  if (i == kNotFound || inflight_[i].d.qos != 2) {
    // 5.0: answer an unknown PUBREC with PUBREL 0x92 so the client can clean up.
    if (client_) {
      mqtt::Ack a;
      a.type = mqtt::PacketType::Pubrel;
      a.packet_id = packet_id;
      if (mqtt::isV5(client_->version())) a.reason = mqtt::Reason::PacketIdentifierNotFound;
      mqtt::encode(a, client_->version(), client_->transport().output());
    }
    return;
  }
  Inflight& f = inflight_[i];
  if (failed) {  // 5.0: a PUBREC with an error reason ends the flow
    complete(f);
    eraseInflight(i);
    pump();
    return;
  }
  if (!f.pubrec) {
    f.pubrec = true;
    if (f.d.queued) broker_.persistQueueEntry(*this, f.d, packet_id, true);
  }
  if (client_) sendPubrel(packet_id);
}

void Session::onPubcomp(uint16_t packet_id) {
  const size_t i = findInflight(packet_id);
  if (i == kNotFound || inflight_[i].d.qos != 2) return;
  complete(inflight_[i]);
  eraseInflight(i);
  pump();
}

}  // namespace parley::core
