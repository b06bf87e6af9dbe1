// A tiny hand-written MQTT 3.1.1/5.0 byte builder and parser plus a blocking raw TCP client,
// independent of the broker's codec, so the tests check the broker against the spec and not
// against itself. Used for exact flow control (when to ack), malformed input, keep-alive and
// socket death. A RawClient is used from one thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace itest {

using Bytes = std::vector<uint8_t>;
using Millis = std::chrono::milliseconds;

// Packet types (high nibble of the first byte).
enum PacketType : uint8_t {
  CONNECT = 1, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
  UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH
};

// MQTT 5.0 property identifiers used by the tests.
enum PropId : uint8_t {
  P_PAYLOAD_FORMAT = 0x01, P_MESSAGE_EXPIRY = 0x02, P_CONTENT_TYPE = 0x03, P_RESPONSE_TOPIC = 0x08,
  P_CORRELATION_DATA = 0x09, P_SUBSCRIPTION_ID = 0x0B, P_SESSION_EXPIRY = 0x11,
  P_ASSIGNED_CLIENT_ID = 0x12, P_SERVER_KEEP_ALIVE = 0x13, P_AUTH_METHOD = 0x15,
  P_AUTH_DATA = 0x16, P_REQ_PROBLEM_INFO = 0x17, P_WILL_DELAY = 0x18, P_REQ_RESPONSE_INFO = 0x19,
  P_RESPONSE_INFO = 0x1A, P_SERVER_REFERENCE = 0x1C, P_REASON_STRING = 0x1F,
  P_RECEIVE_MAXIMUM = 0x21, P_TOPIC_ALIAS_MAXIMUM = 0x22, P_TOPIC_ALIAS = 0x23,
  P_MAXIMUM_QOS = 0x24, P_RETAIN_AVAILABLE = 0x25, P_USER_PROPERTY = 0x26,
  P_MAXIMUM_PACKET_SIZE = 0x27, P_WILDCARD_SUB_AVAILABLE = 0x28, P_SUB_ID_AVAILABLE = 0x29,
  P_SHARED_SUB_AVAILABLE = 0x2A
};

// Builds the property section of a 5.0 packet.
class Props {
 public:
  Props& u8(uint8_t id, uint8_t v);
  Props& u16(uint8_t id, uint16_t v);
  Props& u32(uint8_t id, uint32_t v);
  Props& varint(uint8_t id, uint32_t v);
  Props& str(uint8_t id, const std::string& v);  // UTF-8 string or binary data
  Props& user(const std::string& k, const std::string& v);
  const Bytes& body() const { return body_; }

 private:
  Bytes body_;
};

// Parsed 5.0 properties (every value kept, in order).
struct Properties {
  std::vector<std::pair<uint8_t, uint32_t>> ints;
  std::vector<std::pair<uint8_t, std::string>> strs;
  std::vector<std::pair<std::string, std::string>> user;
  std::optional<uint32_t> getInt(uint8_t id) const;
  std::optional<std::string> getStr(uint8_t id) const;
  std::vector<uint32_t> allInts(uint8_t id) const;
  bool has(uint8_t id) const { return getInt(id) || getStr(id); }
};

// Low-level encoders.
void putU16(Bytes& b, uint16_t v);
void putU32(Bytes& b, uint32_t v);
void putVarint(Bytes& b, uint32_t v);
void putStr(Bytes& b, const std::string& s);
Bytes packet(uint8_t first_byte, const Bytes& body);  // fixed header + body

struct Will {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  Props props;
};

struct ConnectSpec {
  int version = 4;  // 4 = 3.1.1, 5 = 5.0
  std::string client_id;
  bool clean = true;
  uint16_t keep_alive = 60;
  Props props;
  std::optional<Will> will;
  std::optional<std::string> username, password;
};

// A ConnectSpec with defaults for everything but the version and client id.
inline ConnectSpec cs(int version, std::string client_id) {
  ConnectSpec s;
  s.version = version;
  s.client_id = std::move(client_id);
  return s;
}

Bytes connectPacket(const ConnectSpec& c);
Bytes publishPacket(int version, const std::string& topic, const std::string& payload, int qos,
                    uint16_t packet_id = 0, bool retain = false, const Props& props = {},
                    bool dup = false);
// PUBACK/PUBREC/PUBREL/PUBCOMP with an optional 5.0 reason code.
Bytes ackPacket(PacketType type, uint16_t id, int version = 4, uint8_t reason = 0);
struct SubEntry {
  std::string filter;
  uint8_t options;  // QoS in bits 0-1; 5.0: no-local 0x04, retain-as-published 0x08, handling <<4
};
Bytes subscribePacket(int version, uint16_t id, const std::vector<SubEntry>& subs,
                      const Props& props = {});
Bytes unsubscribePacket(int version, uint16_t id, const std::vector<std::string>& filters);
Bytes pingreqPacket();
Bytes disconnectPacket(int version, uint8_t reason = 0, const Props& props = {});

// A received packet.
struct Packet {
  uint8_t type = 0;
  uint8_t flags = 0;
  Bytes body;
};

struct ConnAck {
  bool session_present = false;
  uint8_t code = 0;
  Properties props;
};
struct PublishIn {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t id = 0;
  Properties props;
};
struct Ack {  // PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (v3: no codes)
  uint16_t id = 0;
  uint8_t reason = 0;
  std::vector<uint8_t> codes;  // UNSUBACK 5.0
  Properties props;
};
struct SubAck {
  uint16_t id = 0;
  std::vector<uint8_t> codes;
  Properties props;
};
struct Disconnect {
  uint8_t reason = 0;
  Properties props;
};

ConnAck parseConnack(const Packet& p, int version);
PublishIn parsePublish(const Packet& p, int version);
Ack parseAck(const Packet& p, int version);
SubAck parseSuback(const Packet& p, int version);
Disconnect parseDisconnect(const Packet& p);
const char* typeName(uint8_t type);

// A blocking TCP client to 127.0.0.1 with bounded reads.
class RawClient {
 public:
  // `rcvbuf` > 0 sets SO_RCVBUF before connecting: a small one makes a client that stops
  // reading back up the broker quickly (the kernel no longer absorbs megabytes for it).
  RawClient(uint16_t port, int version = 4, int rcvbuf = 0);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int version() const { return version_; }
  bool send(const Bytes& b);  // false if the socket is already broken
  // The next complete packet, or nullopt on timeout or when the connection closes.
  std::optional<Packet> read(Millis timeout = Millis(5000));
  // The next packet that is not a PINGRESP.
  std::optional<Packet> readSkippingPings(Millis timeout = Millis(5000));
  bool closed() const { return closed_; }
  // Reads (and keeps) packets until the peer closes; true if closed within timeout.
  bool waitClosed(Millis timeout, std::vector<Packet>* seen = nullptr);
  // Closes abruptly (RST, no DISCONNECT): simulates a client whose socket dies.
  void abort();

  // Convenience: CONNECT and read the CONNACK (nullopt if none arrived).
  std::optional<ConnAck> connect(ConnectSpec spec);
  // SUBSCRIBE and read the SUBACK (skipping nothing else: use before traffic).
  std::optional<SubAck> subscribe(uint16_t id, const std::vector<SubEntry>& subs,
                                  const Props& props = {});
  // Waits for the next PUBLISH (other packet types are kept in `others`).
  std::optional<PublishIn> nextPublish(Millis timeout = Millis(5000));
  std::vector<Packet> others;

 private:
  bool fill(Millis timeout);
  std::optional<Packet> tryParse();

  int fd_ = -1;
  int version_;
  bool closed_ = false;
  Bytes buf_;
};

}  // namespace itest
