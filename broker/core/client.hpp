// Client: the protocol side of one network connection — CONNECT handshake, the packets a client
// sends, keep-alive, topic aliases, the will. Owns nothing durable: that is the Session's.
//
// Threading: created by the net layer on the connection's thread, which (after CONNECT) is the
// session's home thread. Asynchronous completions (a store commit) reach it through a weak_ptr,
// so a client that disconnected meanwhile is simply skipped.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "conversation_directory.hpp"
#include "message.hpp"
#include "packets.hpp"
#include "transport.hpp"

namespace parley::core {

class Broker;
class ChatHub;
class Session;

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Broker& broker, Transport& transport);
  ~Client();

  // Called by the net layer for every decoded packet, and for a decode error.
  void onPacket(mqtt::Packet& packet);
  void onDecodeError(mqtt::Reason reason, const char* what);
  // The socket is gone (EOF, error, or after close()). Runs the will logic once.
  void onConnectionLost();
  // Called by the broker's per-thread tick.
  void checkKeepAlive(int64_t now_ms);
  // Per tick as well: ends a connection that has not consumed anything (no write completed, no
  // acknowledgement) for BrokerConfig::slow_reader_timeout_s while output or messages wait for
  // it (a reader that stopped reading holds buffers and, for a clean session, a queue; a
  // persistent one is better served from its offsets later).
  void checkSlowReader(int64_t now_ms);
  // The net layer finished a write: the reader is alive; sessions held back by the watermark go on.
  void onOutputWritten();

  bool connected() const { return session_ != nullptr; }
  // Backpressure: too many deliveries of this client's messages wait in session queues.
  bool readPaused() const {
    return backlog_ && backlog_->load(std::memory_order_relaxed) >
                           int64_t(broker_config_publisher_backlog_limit_);
  }
  mqtt::Version version() const { return version_; }
  Transport& transport() { return transport_; }
  Session* session() const { return session_; }
  const std::string& clientId() const { return client_id_; }
  const std::string& user() const { return user_; }
  uint16_t clientReceiveMaximum() const { return client_receive_max_; }
  uint32_t clientMaximumPacketSize() const { return client_max_packet_; }

  // Server-initiated disconnect: DISCONNECT with reason (5.0), then close. `publish_will` tells
  // whether the will goes out (it does for everything but a normal client DISCONNECT).
  void disconnect(mqtt::Reason reason, const char* log_reason, bool publish_will = true);
  // The session was taken over by a new connection with the same client id.
  void takenOver();

  // Broker → client topic alias for `topic` (5.0, when the client allows aliases). Returns 0
  // when none can be used; `known` tells whether the client already has the mapping (then the
  // topic may be left out of the PUBLISH).
  uint16_t outboundAlias(const std::string& topic, bool& known);
  void forgetAlias(const std::string& topic) {
    if (outbound_aliases_) outbound_aliases_->erase(topic);
  }

  // Packet ids the client may use for QoS>0 that the broker has not yet answered.
  void inboundDone() {
    if (inbound_inflight_) --inbound_inflight_;
  }

 private:
  void handleConnect(mqtt::Connect& c);
  void handlePublish(mqtt::Publish& p);
  void handlePubrel(uint16_t packet_id);
  void handleSubscribe(mqtt::Subscribe& s);
  void handleUnsubscribe(mqtt::Unsubscribe& u);
  void handleDisconnect(mqtt::Disconnect& d);
  // Chat layer (client_chat.cpp): a send on conv/{id}, a request on rpc/{method}, and the
  // SUBSCRIBE/UNSUBSCRIBE filters it owns (nullopt: not a chat filter, handle as plain MQTT).
  void handleChatSend(ChatHub& hub, std::string_view conv, mqtt::Publish& p);
  static void chatSendDone(Broker& broker, const std::weak_ptr<Client>& self,
                           const std::string& client_id, const std::string& conv, uint8_t qos,
                           uint16_t packet_id, const chat::SendResult& r);
  void handleRpc(ChatHub& hub, std::string_view method, mqtt::Publish& p);
  void handleTyping(ChatHub& hub, std::string_view conv, mqtt::Publish& p);
  void handleRead(ChatHub& hub, std::string_view conv, mqtt::Publish& p);
  void ackChatSignal(const mqtt::Publish& p, mqtt::Reason reason);
  std::optional<mqtt::Reason> chatSubscribe(const std::string& filter, uint8_t qos);
  std::optional<mqtt::Reason> chatUnsubscribe(const std::string& filter);
  void sendConnackError(mqtt::Reason reason);
  void send(const mqtt::Packet& p);
  void protocolError(mqtt::Reason reason, const char* what);
  void finish(bool publish_will);
  bool withinPublishRate(size_t bytes);

  Broker& broker_;
  Transport& transport_;
  Session* session_ = nullptr;
  std::string client_id_;
  std::string user_;  // authenticated user id ("" when anonymous)
  mqtt::Version version_ = mqtt::Version::V311;
  bool got_connect_ = false;
  bool finished_ = false;
  uint16_t keep_alive_s_ = 0;
  int64_t last_rx_ms_ = 0;
  int64_t output_stalled_ms_ = 0;  // first tick that saw the reader stalled since its last progress
  uint16_t client_receive_max_ = 65535;
  uint32_t client_max_packet_ = 0;  // 0 = no limit
  uint16_t client_topic_alias_max_ = 0;
  uint32_t inbound_inflight_ = 0;  // QoS 1 awaiting PUBACK, QoS 2 awaiting PUBREL (receive max)
  uint32_t ordered_pending_ = 0;
  std::shared_ptr<std::atomic<int64_t>> backlog_;  // shared with this client's messages
  uint32_t broker_config_publisher_backlog_limit_ =
      0;  // our PUBLISHes still in the store queue (keeps topic order)
  // Topic aliases (5.0, when used at all): allocated on first use, since an empty hash map is
  // 56 bytes in every idle connection.
  using InboundAliases = std::unordered_map<uint16_t, std::string>;
  using OutboundAliases = std::unordered_map<std::string, uint16_t>;
  std::unique_ptr<InboundAliases> inbound_aliases_;
  std::unique_ptr<OutboundAliases> outbound_aliases_;
  std::unique_ptr<mqtt::Will> will_;  // rare, and large: not inline
  bool request_problem_info_ = true;
  bool presence_counted_ = false;  // counted as one of user_'s connected devices
  bool clean_disconnect_ = false;  // ended by a DISCONNECT packet
  // Typing rate limit: last forwarded signal per conversation (rare: only for typists).
  std::unique_ptr<std::unordered_map<std::string, int64_t>> typing_sent_;
  // Publish token buckets (BrokerConfig::max_publish_rate / max_publish_bytes_rate).
  double pub_tokens_ = 0;
  double byte_tokens_ = 0;
  int64_t rate_ms_ = 0;
};

}  // namespace parley::core
