// The records Parley keeps on disk. Plain values; how they are encoded is the store
// implementation's business (rocksdb_store.cpp, flatbuffers schemas in schema/).
#pragma once
#include <cstdint>
#include <string>

namespace parley::store {

// A PUBLISH kept for sessions that have not yet acknowledged it, or as a retained message.
struct Message {
  uint64_t id = 0;  // assigned by Store::commit, strictly increasing in commit order
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  std::string properties;     // MQTT 5.0 PUBLISH properties as encoded on the wire; opaque here
  int64_t expires_at_ms = 0;  // wall-clock ms since epoch when message expiry ends; 0 = never
  bool operator==(const Message&) const = default;
};

// A session that outlives its connection (3.1.1 clean session = 0, 5.0 session expiry > 0).
struct SessionRecord {
  std::string client_id;
  uint32_t expiry_interval = 0;  // seconds; 0xFFFFFFFF = never expires
  uint8_t protocol_version = 4;
  int64_t disconnected_at_ms = 0;  // 0 while connected
  bool operator==(const SessionRecord&) const = default;
};

struct SubscriptionRecord {
  std::string client_id;
  std::string filter;  // as subscribed, including any "$share/{group}/" prefix
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0;
  bool operator==(const SubscriptionRecord&) const = default;
};

// One message waiting for (or in flight to) one persistent session.
struct QueueEntry {
  std::string client_id;
  uint64_t msg_id = 0;
  uint8_t qos = 1;               // QoS it is delivered at (min of publish and subscription)
  uint16_t packet_id = 0;        // 0 = not yet sent
  bool pubrec_received = false;  // QoS 2: PUBREC came back, PUBREL is what is outstanding
  bool retain = false;           // retain flag as delivered (retain-as-published)
  uint32_t subscription_id = 0;
  bool operator==(const QueueEntry&) const = default;
};

}  // namespace parley::store
