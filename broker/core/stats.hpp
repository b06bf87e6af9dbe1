// Broker-wide counters. Relaxed atomics: they are statistics, read by $SYS and metrics only.
#pragma once
#include <atomic>
#include <cstdint>

namespace parley::core {

struct Stats {
  std::atomic<uint64_t> clients_connected{0};
  std::atomic<uint64_t> clients_total{0};  // persistent sessions incl. offline + connected
  std::atomic<uint64_t> clients_maximum{0};
  std::atomic<uint64_t> messages_received{0};  // PUBLISH from clients
  std::atomic<uint64_t> messages_sent{0};      // PUBLISH to clients
  std::atomic<uint64_t> publish_dropped{0};    // QoS 0 dropped on a full queue, expired, ...
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> retained_count{0};
  std::atomic<uint64_t> subscriptions{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> slow_consumers_disconnected{0};  // clean sessions over max_queued_clean
  std::atomic<uint64_t> slow_readers_disconnected{0};    // output stuck past slow_reader_timeout_s
  std::atomic<uint64_t> publishers_paused{0};            // reads held back by backpressure
  std::atomic<uint64_t> store_errors{0};
  // Access control and limits: each counts the times it refused something.
  std::atomic<uint64_t> auth_failures{0};             // CONNECT refused by the authenticator
  std::atomic<uint64_t> acl_denied{0};                // PUBLISH/SUBSCRIBE/will refused by the ACL
  std::atomic<uint64_t> connections_refused_max{0};   // --max-connections
  std::atomic<uint64_t> connections_refused_rate{0};  // --max-connect-rate
  std::atomic<uint64_t> handshake_failures{0};        // TLS / WebSocket handshake failed
  std::atomic<uint64_t> publish_rate_exceeded{0};     // --max-publish-rate / --max-publish-bytes
  std::atomic<uint64_t> packets_too_large{0};         // --max-packet-size
  std::atomic<uint64_t> subscriptions_refused{0};     // --max-subscriptions
  std::atomic<uint64_t> topic_limit_exceeded{0};      // --max-topic-length / --max-topic-levels
  // Chat layer.
  std::atomic<uint64_t> chat_sent{0};          // chat messages stored (not counting retried cmids)
  std::atomic<uint64_t> chat_duplicates{0};    // sends answered with an existing seq
  std::atomic<uint64_t> chat_refused{0};       // sends refused (not a member, role, bad envelope)
  std::atomic<uint64_t> chat_rpc{0};           // rpc/{method} requests answered
  std::atomic<uint64_t> typing_forwarded{0};   // typing signals passed on (before fan-out)
  std::atomic<uint64_t> typing_limited{0};     // typing signals dropped by the per-sender limit
  std::atomic<uint64_t> ephemeral_dropped{0};  // typing copies shed at a backed-up connection

  static void add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  static void sub(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_sub(n, std::memory_order_relaxed);
  }
  static uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }
};

}  // namespace parley::core
