// Broker limits and behaviour switches. Filled by broker/app from flags or a config file;
// read-only once the broker runs.
#pragma once
#include <cstdint>
#include <string>

namespace parley::core {

// Who may subscribe to presence/{user} (besides the user): users sharing a conversation with it
// (the default), only the user itself, or any authenticated user.
enum class PresencePolicy : uint8_t { Shared, Self, Authenticated };

struct BrokerConfig {
  uint32_t max_packet_size = 1 << 20;    // bytes; larger packets → disconnect 0x95
  uint16_t receive_maximum = 1024;       // QoS>0 PUBLISHes a client may have unacked to us
  uint16_t max_inflight = 1024;          // QoS>0 PUBLISHes we have unacked to one client
  uint16_t topic_alias_maximum = 64;     // aliases a 5.0 client may use towards us
  uint32_t max_queued_in_memory = 1000;  // per online session; beyond: persistent → disk
                                         // backlog, clean session QoS 0 dropped (counted)
  uint32_t max_queued_clean = 500000;    // clean session QoS 1/2 in-memory queue bound
  // Deliveries of one publisher's messages allowed to wait in session queues in memory before
  // the broker stops reading from that publisher (TCP then slows it down).
  uint32_t publisher_backlog_limit = 256;
  uint32_t max_session_expiry = 0xFFFFFFFF;
  // 3.1.1 persistent sessions never expire by the spec; an operator may bound how long an
  // abandoned one is kept (seconds; 0 = keep, as the spec says).
  uint32_t persistent_session_expiry_311 = 0;  // cap on what a client may ask for (seconds)
  uint16_t max_keep_alive = 0;                 // 0 = accept the client's; else server keep-alive
  uint32_t keepalive_grace_percent = 150;      // spec: 1.5 × keep-alive
  uint32_t sys_interval_s = 10;                // $SYS publish period; 0 = off
  uint32_t max_topic_length = 65535;
  uint32_t max_topic_levels = 128;
  uint32_t max_subscriptions_per_client = 10000;
  // Per-client PUBLISH token buckets (burst = one second's worth); 0 = off. Exceeding one ends
  // the connection: 5.0 DISCONNECT 0x96 (message rate too high), 3.1.1 close.
  uint32_t max_publish_rate = 0;        // PUBLISH packets per second
  uint64_t max_publish_bytes_rate = 0;  // topic + payload bytes per second
  // Chat layer II. A device that drops without DISCONNECT keeps its user "online" this long
  // (a flaky link reconnecting within it causes no flap); a clean DISCONNECT counts at once.
  uint32_t presence_grace_s = 5;
  PresencePolicy presence_policy = PresencePolicy::Shared;
  // Typing signals forwarded per connection and conversation: at most one per this interval.
  uint32_t typing_interval_ms = 1000;
  // Receipts: at most one conv/{id}/receipts event per conversation per interval (coalesced).
  uint32_t receipts_interval_ms = 1000;
  // Fan-out threshold: conversations with more members (and every channel) get no per-member
  // work beyond writing to online sockets — no delivered/read receipts.
  uint32_t fanout_threshold = 500;
  // Slow readers: a connection whose unsent output has not drained (no write completed) for this
  // long is disconnected (5.0: 0x97), freeing its buffers; a persistent session then catches up
  // from its stored offsets on return. 0 = never.
  uint32_t slow_reader_timeout_s = 60;
  std::string version = "parley 0.1.0";
};

}  // namespace parley::core
