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
#include <string_view>
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
  bool chat_reload = false;            // msg is a stub while offline: read the record again
  uint32_t sub_id = 0;                 // first subscription identifier (common case: 0 or one)
  uint64_t chat_seq = 0;               // a conversation's record (topic conv/{id}); 0 = not chat
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
  // The in-flight window is full and more waits: only the client's acknowledgements can move
  // this session (slow-reader detection).
  bool blockedOnClient() const;

  // Acknowledgements from the client.
  void onPuback(uint16_t packet_id);
  void onPubrec(uint16_t packet_id, bool failed);
  void onPubcomp(uint16_t packet_id);

  // QoS 2 packet ids received from the client and not yet released (PUBREL), with whether the
  // message is durable yet (only then may a retransmission be answered with PUBREC).
  // Allocated on first use: most sessions never receive QoS 2.
  std::unordered_map<uint16_t, bool>& inboundQos2() {
    if (!inbound_qos2_) inbound_qos2_ = std::make_unique<std::unordered_map<uint16_t, bool>>();
    return *inbound_qos2_;
  }

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

  // --- chat (session_chat.cpp; see chat_hub.hpp for the design) ---
  // After attach(): start following the user's conversations (persistent sessions), from the
  // stored offsets; `new_session` = the session was just created (it starts at the heads).
  void chatAttach(const std::string& user, bool new_session);
  // Explicit SUBSCRIBE to conv/{conv} by a member: follow it for this connection. A persistent
  // session that already follows it keeps its cursor.
  void chatSubscribe(const std::string& user, const std::string& conv, uint8_t qos);
  bool chatFollows(std::string_view conv) const;
  // From the hub, on this thread: a durable record; the user joined / left a conversation.
  // Returns false when this session does not follow `conv` (a stale index entry to drop); never
  // changes the hub's shard itself.
  bool chatDeliver(const std::string& conv, uint64_t seq, const MessagePtr& msg);
  void chatMemberAdded(const std::string& conv, uint64_t joined_seq);
  void chatUnfollow(const std::string& conv);
  // Writes acknowledged offsets that changed (lazily: a lost write only causes redelivery).
  void chatFlushOffsets();
  void chatTick(int64_t now_ms);
  void chatForget();  // the session ends: leave the hub's shard
  // A QoS 0 signal (typing): sent only if nothing else waits for this connection — the first
  // traffic shed when a reader falls behind. Never queued.
  void sendEphemeral(const MessagePtr& msg);
  // A receipts event (QoS 1, not stored): queued like a live message while online.
  void sendReceipts(const MessagePtr& msg);

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
  // inflight_ goes through these so inflight_bytes_ stays exact.
  void pushInflight(Inflight f);
  void eraseInflight(size_t i);
  // No more QoS>0 sends now: `window` messages, or kMaxInflightBytes, are unacknowledged.
  bool windowFull(size_t window) const;
  uint16_t allocatePacketId();
  void releasePacketId(uint16_t id);
  void complete(Inflight& f);  // delivery finished: delete its queue entry
  static constexpr size_t kNotFound = SIZE_MAX;
  size_t findInflight(uint16_t packet_id) const;

  // One followed conversation. Everything below `next` has been put in pending_/inflight_ (or
  // acknowledged); `acked` is the highest contiguous seq the client acknowledged.
  struct ChatCursor {
    uint64_t next = 1;
    uint64_t acked = 0;
    uint64_t stored = 0;  // `acked` as last written to the store
    uint8_t qos = 1;
    bool replay = false;        // records from `next` on are read from the log, not taken live
    bool receipts = false;      // the user's delivered cursor is reported (ChatHub)
    bool unreported = false;    // `acked` moved since it was last reported to the hub
    std::vector<uint64_t> ooo;  // acknowledged out of order above acked + 1 (rare)
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct ChatState {
    std::string user;
    bool registered = false;  // in the hub's shard (online)
    std::unordered_map<std::string, ChatCursor, StringHash, std::equal_to<>> cursors;
    std::vector<std::string> replaying;  // conversations to read from the log, in order
    bool dirty = false;                  // some acked != stored
    bool unreported = false;             // some cursor's `unreported` is set
    int64_t flushed_ms = 0;
  };
  void chatRegister(const std::string& user);  // online as `user` in the hub's shard
  ChatCursor& chatFollow(const std::string& conv, uint64_t acked, uint8_t qos);
  void chatStartReplay(const std::string& conv, ChatCursor& c);
  bool chatLoadChunk();  // reads the next records of the first replaying conversation
  void chatAcked(const Delivery& d);
  void chatDetach();  // offline: leave the hub's shard, rewind cursors past dropped deliveries
  void chatReportDelivered();  // hands moved `acked` values to the hub's receipts (per tick)
  // An in-flight record kept as a stub while offline gets its bytes back from the log; false if
  // retention removed it (the cursor then rewinds so replay reports the trim).
  bool chatReload(Delivery& d);

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
  size_t inflight_bytes_ = 0;       // topic + payload bytes of inflight_ (bounds a stuck reader)
  std::vector<uint64_t> pid_bits_;  // packet ids in use, only while many are in flight
  uint16_t next_pid_ = 1;
  std::unique_ptr<std::unordered_map<uint16_t, bool>> inbound_qos2_;
  bool backlog_ = false;
  uint64_t backlog_from_ = 0;  // next store id to read while in backlog mode
  uint64_t live_from_ = 0;     // queued live deliveries below this were already read from disk
  int64_t disconnected_at_ms_ = 0;
  std::unique_ptr<ChatState> chat_;  // only for sessions of chat users
};

}  // namespace parley::core
