// Message: one application message as the broker routes it — immutable after creation and
// shared (shared_ptr<const Message>) by every session it goes to, on any thread.
//
// Encode once: the publishing thread fills `encoded` for each (version, QoS, retain) variant its
// subscribers need before handing the message to other threads; a session then copies those bytes
// into its connection's output buffer and patches only the packet id. Subscribers that need
// per-subscriber properties (subscription ids, topic aliases, a shrinking expiry interval) encode
// their own copy.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec.hpp"
#include "packets.hpp"

namespace parley::core {

struct EncodedPublish {
  mqtt::Buffer bytes;
  size_t packet_id_offset = 0;  // 0 for QoS 0
};

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  mqtt::Properties props;     // 5.0 properties forwarded to subscribers (no alias, no sub ids)
  uint64_t store_id = 0;      // id in the store when persisted, else 0
  int64_t expires_at_ms = 0;  // wall clock; 0 = never
  std::string publisher;      // client id of the sender, for no-local ("" for the broker)
  // The publishing connection's count of this message's deliveries waiting in session queues
  // in memory: the connection stops reading while it is high (per-publisher backpressure).
  std::shared_ptr<std::atomic<int64_t>> publisher_backlog;

  // [v5?][qos][retain]; filled before sharing, read-only afterwards.
  std::array<std::shared_ptr<const EncodedPublish>, 12> encoded;
  static size_t variant(bool v5, uint8_t qos, bool retain) {
    return (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
  }
};

using MessagePtr = std::shared_ptr<const Message>;

// Builds the wire PUBLISH for `m` as delivered at `qos`/`retain` with optional subscription ids,
// topic alias and remaining expiry. Used both to fill Message::encoded and for per-subscriber
// encodings.
inline EncodedPublish encodeMessage(const Message& m, mqtt::Version version, uint8_t qos,
                                    bool retain, const std::vector<uint32_t>& sub_ids = {},
                                    uint16_t topic_alias = 0, bool omit_topic = false,
                                    int64_t now_ms = 0) {
  mqtt::Publish p;
  p.qos = qos;
  p.retain = retain;
  p.topic = omit_topic ? std::string_view{} : std::string_view{m.topic};
  p.packet_id = qos ? 1 : 0;  // placeholder, patched per send
  p.payload = m.payload;
  if (mqtt::isV5(version)) {
    p.props = m.props;
    p.props.subscription_identifiers = sub_ids;
    if (topic_alias) p.props.topic_alias = topic_alias;
    if (m.expires_at_ms && now_ms) {
      int64_t left_ms = m.expires_at_ms - now_ms;
      p.props.message_expiry_interval =
          static_cast<uint32_t>(left_ms <= 0 ? 0 : (left_ms + 999) / 1000);
    }
  }
  EncodedPublish e;
  e.packet_id_offset = mqtt::encodePublish(p, version, e.bytes);
  return e;
}

}  // namespace parley::core
