// MQTT 3.1.1 and 5.0 control packets as plain values. The codec (codec.hpp) turns bytes into
// these and back; nothing here does I/O. One struct per packet kind; PUBACK, PUBREC, PUBREL and
// PUBCOMP share `Ack` because they have the same shape.
//
// Lifetime: `Publish::topic` and `Publish::payload` are views. After decode they point into the
// input buffer and are valid only until that buffer is reused; the session copies them once into a
// shared message. Every other string is owned.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "reason_codes.hpp"

namespace parley::mqtt {

enum class PacketType : uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  Auth = 15,
};

// Protocol level byte in CONNECT. 3 (MQIsdp, MQTT 3.1) is treated as 3.1.1.
enum class Version : uint8_t { V31 = 3, V311 = 4, V5 = 5 };
inline bool isV5(Version v) { return v == Version::V5; }

using UserProperties = std::vector<std::pair<std::string, std::string>>;

// MQTT 5.0 properties (spec 2.2.2.2). Unset = absent. Binary data is held in std::string.
struct Properties {
  std::optional<uint8_t> payload_format_indicator;      // 0x01
  std::optional<uint32_t> message_expiry_interval;      // 0x02
  std::optional<std::string> content_type;              // 0x03
  std::optional<std::string> response_topic;            // 0x08
  std::optional<std::string> correlation_data;          // 0x09
  std::vector<uint32_t> subscription_identifiers;       // 0x0B (several allowed in PUBLISH)
  std::optional<uint32_t> session_expiry_interval;      // 0x11
  std::optional<std::string> assigned_client_identifier;  // 0x12
  std::optional<uint16_t> server_keep_alive;            // 0x13
  std::optional<std::string> authentication_method;     // 0x15
  std::optional<std::string> authentication_data;       // 0x16
  std::optional<uint8_t> request_problem_information;   // 0x17
  std::optional<uint32_t> will_delay_interval;          // 0x18
  std::optional<uint8_t> request_response_information;  // 0x19
  std::optional<std::string> response_information;      // 0x1A
  std::optional<std::string> server_reference;          // 0x1C
  std::optional<std::string> reason_string;             // 0x1F
  std::optional<uint16_t> receive_maximum;              // 0x21
  std::optional<uint16_t> topic_alias_maximum;          // 0x22
  std::optional<uint16_t> topic_alias;                  // 0x23
  std::optional<uint8_t> maximum_qos;                   // 0x24
  std::optional<uint8_t> retain_available;              // 0x25
  UserProperties user_properties;                       // 0x26 (repeatable, order kept)
  std::optional<uint32_t> maximum_packet_size;          // 0x27
  std::optional<uint8_t> wildcard_subscription_available;    // 0x28
  std::optional<uint8_t> subscription_identifier_available;  // 0x29
  std::optional<uint8_t> shared_subscription_available;      // 0x2A

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties props;  // will properties (5.0)
  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::V311;
  bool clean_start = true;  // "clean session" in 3.1.1
  uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary in 5.0
  std::optional<Will> will;
  Properties props;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  Reason reason = Reason::Success;  // encoded with connackCode311 for 3.1.1
  Properties props;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  uint8_t qos = 0;
  bool retain = false;
  std::string_view topic;  // may be empty in 5.0 when a topic alias is used
  uint16_t packet_id = 0;  // only when qos > 0
  Properties props;
  std::string_view payload;
  bool operator==(const Publish&) const = default;
};

// PUBACK / PUBREC / PUBREL / PUBCOMP.
struct Ack {
  PacketType type = PacketType::Puback;
  uint16_t packet_id = 0;
  Reason reason = Reason::Success;
  Properties props;
  bool operator==(const Ack&) const = default;
};

struct SubscribeOptions {
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;  // 0 send, 1 send if new subscription, 2 never
  bool operator==(const SubscribeOptions&) const = default;
};

struct Subscription {
  std::string filter;
  SubscribeOptions options;
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  Properties props;
  std::vector<Subscription> subscriptions;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  uint16_t packet_id = 0;
  Properties props;
  std::vector<Reason> reasons;  // 3.1.1: 0,1,2 or 0x80
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  Properties props;
  std::vector<std::string> filters;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packet_id = 0;
  Properties props;
  std::vector<Reason> reasons;  // 5.0 only; 3.1.1 UNSUBACK has none
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  Reason reason = Reason::Success;
  Properties props;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  Reason reason = Reason::Success;
  Properties props;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Ack, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

}  // namespace parley::mqtt
