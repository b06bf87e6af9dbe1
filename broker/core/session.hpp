// Session: the MQTT session state of one client id — subscriptions, messages waiting for it,
// messages in flight to it, QoS 2 packet ids received from it. Outlives connections when
// persistent (3.1.1 clean session 0, 5.0 session expiry > 0).
//
// Threading: lives on its home thread (Broker::homeThread(client_id)) and is only touched there.
//
// Queueing design. Deliveries go to `pending_` and from there, within the client's receive
// maximum, into `inflight_`. A persistent session's QoS>0 deliveries also exist on disk as queue
// entries keyed by the message's store id (the store assigns ids in commit order, and live
// deliveries arrive in that order). When `pending_` is full, or while the session is offline, it
// switches to *backlog* mode: live deliveries that are on disk are ignored and the session later
// reads them back from the store, in id order, from `backlog_from_`. Memory stays bounded however
// far behind a device falls, and nothing acknowledged to a publisher is dropped.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "message.hpp"
#include "packets.hpp"
#include "ring_queue.hpp"
#include "subscription_tree.hpp"

namespace parley::core {

class Broker;
class Client;

// One message on its way to one session.
struct Delivery {
  MessagePtr msg;
  uint8_t qos = 0;
  bool retain = false;                 // retain flag as it goes on the wire
  bool queued = false;                 // has a queue entry in the store for this session
  uint32_t sub_id = 0;                 // first subscription identifier (common case: 0 or one)
  std::vector<uint32_t> more_sub_ids;  // the rest, rarely any
};

class Session {
 public:
  Session(Broker& broker, std::string client_id, topics::SubscriberId id, bool persistent);

  const std::string& clientId() const { return client_id_; }
  topics::SubscriberId id() const { return id_; }
  bool persistent() const { return persistent_; }
  uint32_t expiryInterval() const { return expiry_interval_; }
  void setExpiryInterval(uint32_t s) { expiry_interval_ = s; }
  mqtt::Version version() const { return version_; }
  void setVersion(mqtt::Version v) { version_ = v; }

  Client* client() const { return client_; }
  void attach(Client* c);  // a connection took this session: resend in-flight, then pump
  void detach();           // the connection went away; state stays for a persistent session

  // A message routed to this session (live path).
  void deliver(Delivery d);
  // Send what the client's receive maximum and the socket's watermark allow.
  void pump();

  // Acknowledgements from the client.
  void onPuback(uint16_t packet_id);
  void onPubrec(uint16_t packet_id, bool failed);
  void onPubcomp(uint16_t packet_id);

  // QoS 2 packet ids received from the client and not yet released (PUBREL), with whether the
  // message is durable yet (only then may a retransmission be answered with PUBREC).
  std::unordered_map<uint16_t, bool>& inboundQos2() { return inbound_qos2_; }

  std::map<std::string, topics::SubOptions, std::less<>>& subscriptions() { return subs_; }

  // Start-up: a persistent session restored from the store reads its queue from disk.
  void enterBacklogFrom(uint64_t from) {
    backlog_ = true;
    backlog_from_ = from;
  }

  int64_t disconnectedAtMs() const { return disconnected_at_ms_; }
  void setDisconnectedAtMs(int64_t t) { disconnected_at_ms_ = t; }
  size_t inflightCount() const { return inflight_.size(); }
  size_t pendingCount() const { return pending_.size(); }

 private:
  struct Inflight {
    Delivery d;
    uint16_t packet_id = 0;
    bool pubrec = false;
  };
  // Writes the PUBLISH; false if it was discarded for exceeding the client's maximum packet
  // size (5.0 3.1.2.11.4: then it counts as delivered).
  bool send(Delivery& d, uint16_t packet_id, bool dup);
  void sendPubrel(uint16_t packet_id);
  bool loadBacklogChunk();
  // pending_ goes through these so each publisher's count of queued deliveries stays exact.
  void pushPending(Delivery d);
  Delivery takePending();
  void clearPending();
  uint16_t allocatePacketId();
  void releasePacketId(uint16_t id);
  void complete(Inflight& f);  // delivery finished: delete its queue entry
  static constexpr size_t kNotFound = SIZE_MAX;
  size_t findInflight(uint16_t packet_id) const;

  Broker& broker_;
  std::string client_id_;
  topics::SubscriberId id_;
  bool persistent_;
  uint32_t expiry_interval_ = 0;
  mqtt::Version version_ = mqtt::Version::V311;
  Client* client_ = nullptr;
  std::map<std::string, topics::SubOptions, std::less<>> subs_;
  RingQueue<Delivery> pending_;
  RingQueue<Inflight> inflight_;    // in send order
  std::vector<uint64_t> pid_bits_;  // packet ids in use; allocated on first QoS>0 send
  uint16_t next_pid_ = 1;
  std::unordered_map<uint16_t, bool> inbound_qos2_;
  bool backlog_ = false;
  uint64_t backlog_from_ = 0;  // next store id to read while in backlog mode
  uint64_t live_from_ = 0;     // queued live deliveries below this were already read from disk
  int64_t disconnected_at_ms_ = 0;
};

}  // namespace parley::core
