// Helpers for the chat-layer acceptance tests: a parleyd with the admin HTTP API, a minimal
// HTTP/1.1 client for that API, ChatSend/ChatMessage/rpc envelope codecs over the generated
// flatbuffers header, and ChatDevice — one MQTT device (a RawClient) that acknowledges what it
// receives, keeps every chat message per conversation and can send and wait for the PUBACK.
//
// Everything here is used from one test thread, except that distinct ChatDevice objects may be
// driven from distinct threads (each device owns its socket and buffers).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat_generated.h"
#include "itest.hpp"

namespace chattest {

using json = nlohmann::json;
using itest::Millis;
using namespace std::chrono_literals;
namespace fb = parley::chat::fb;

// parleyd with --auth none and the admin API on an ephemeral loopback port (token kToken).
// The admin port is read again after every (re)start.
class ChatBroker {
 public:
  static constexpr const char* kToken = "chat-test-token";
  explicit ChatBroker(std::vector<std::string> extra = {});
  uint16_t port() const { return proc_->port(); }
  uint16_t adminPort() const { return admin_port_; }
  itest::BrokerProcess& proc() { return *proc_; }
  int stop() { return proc_->stop(); }  // SIGTERM
  void kill() { proc_->kill(); }        // SIGKILL
  void restart();                       // same data dir and flags

 private:
  void readAdminPort();
  itest::TempDir dir_;
  std::string admin_port_file_;
  std::unique_ptr<itest::BrokerProcess> proc_;
  uint16_t admin_port_ = 0;
};

struct HttpReply {
  int status = 0;
  json body;
};

// One admin API request over a fresh loopback connection (Connection: close).
HttpReply adminCall(uint16_t admin_port, const std::string& method, const std::string& path,
                    const json& body = nullptr, const std::string& token = ChatBroker::kToken);

// Admin API shortcuts; each asserts (gtest ADD_FAILURE) on an unexpected status.
json createConversation(uint16_t admin_port, const std::string& id, const std::string& kind,
                        const std::vector<std::pair<std::string, std::string>>& members);
uint64_t addMember(uint16_t admin_port, const std::string& conv, const std::string& user,
                   const std::string& role = "member");
uint64_t removeMember(uint16_t admin_port, const std::string& conv, const std::string& user);
// Every stored message of a conversation via GET .../messages, oldest first (pages of 100).
std::vector<json> adminHistory(uint16_t admin_port, const std::string& conv);

// Envelopes.
std::string chatSend(const std::string& cmid, const std::string& body,
                     fb::Kind kind = fb::Kind::Text);
std::string historyRequest(const std::string& conv, uint64_t before_seq, uint32_t limit);
std::string conversationsRequest();

// A decoded ChatMessage (copied out of the flatbuffer).
struct ChatMsg {
  bool valid = false;
  std::string conv;
  uint64_t seq = 0;
  std::string sender_user, sender_device, cmid, body;
  int64_t server_time_ms = 0;
  fb::Kind kind = fb::Kind::Text;
  fb::SystemEvent event = fb::SystemEvent::ConversationCreated;
  std::string subject;
};
ChatMsg decodeChatMessage(const std::string& bytes);

// A decoded HistoryResponse; `rpc_error` is set when the payload was an RpcError instead.
struct HistoryPage {
  bool valid = false;
  std::vector<ChatMsg> messages;
  uint64_t head_seq = 0, floor_seq = 0;
  bool has_more = false;
};
HistoryPage decodeHistory(const std::string& bytes);
struct RpcErr {
  bool valid = false;
  fb::RpcErrorCode code = fb::RpcErrorCode::BadRequest;
  std::string message;
};
RpcErr decodeRpcError(const std::string& bytes);

// The decimal `seq` user property of a 5.0 PUBACK, if present.
std::optional<uint64_t> pubackSeq(const itest::Ack& ack);

// One device: client id = device, user name = user. Persistent: 3.1.1 clean session 0 / 5.0
// session expiry 1 h; otherwise a clean session. Incoming QoS 1 PUBLISHes are acknowledged at
// once unless autoAck(false). Chat messages (topic conv/{id}) are kept per conversation.
class ChatDevice {
 public:
  ChatDevice(uint16_t port, int version, std::string device, std::string user,
             bool persistent = true);

  // Opens a new TCP connection and CONNECTs (clean start only for non-persistent devices).
  std::optional<itest::ConnAck> connect();
  // Same, on another port (after a broker restart).
  std::optional<itest::ConnAck> connect(uint16_t port) {
    port_ = port;
    return connect();
  }
  void disconnect();  // DISCONNECT 0x00 and close
  // SO_RCVBUF for the next connect() (0 = the kernel's default).
  void setReceiveBuffer(int bytes) { rcvbuf_ = bytes; }
  void abort();  // drop the socket without DISCONNECT
  bool closed() const { return !cli_ || cli_->closed(); }

  // Reads whatever arrived within `timeout` (the first read waits, the rest do not).
  // Returns the number of packets handled.
  size_t poll(Millis timeout = 0ms);

  // Publishes QoS 1 and returns its packet id; awaitAck() reads until its PUBACK.
  uint16_t publish(const std::string& topic, const std::string& payload,
                   const itest::Props& props = {});
  std::optional<itest::Ack> awaitAck(uint16_t id, Millis timeout = 5s);
  std::optional<itest::Ack> send(const std::string& conv, const std::string& cmid,
                                 const std::string& body, Millis timeout = 5s);
  // SUBSCRIBE one filter, returns the SUBACK codes (empty on timeout).
  std::vector<uint8_t> subscribe(const std::string& filter, int qos, Millis timeout = 5s);

  // One rpc call; returns the reply PUBLISH (5.0: on rpc/reply/{device} with correlation data;
  // 3.1.1: on rpc/reply/{device} or .../error, which the caller must have subscribed to).
  std::optional<itest::PublishIn> rpc(const std::string& method, const std::string& payload,
                                      Millis timeout = 5s);
  const std::string& lastCorrelation() const { return last_corr_; }

  // Waits until conversation `conv` holds at least n messages (or the connection closed).
  bool waitMessages(const std::string& conv, size_t n, Millis timeout);
  const std::vector<ChatMsg>& messages(const std::string& conv) { return by_conv_[conv]; }
  std::map<std::string, std::vector<ChatMsg>>& allMessages() { return by_conv_; }
  std::vector<itest::PublishIn>& otherPublishes() { return other_; }
  std::optional<itest::Disconnect> disconnectSeen() const { return disconnect_; }

  void autoAck(bool on) { auto_ack_ = on; }
  std::vector<uint16_t>& unacked() { return unacked_; }  // ids held back while autoAck(false)
  void ack(uint16_t id);

  const std::string& device() const { return device_; }
  const std::string& user() const { return user_; }
  int version() const { return version_; }

 private:
  void handle(const itest::Packet& p);
  uint16_t nextId();

  uint16_t port_;
  int version_;
  std::string device_, user_;
  bool persistent_;
  int rcvbuf_ = 0;
  bool auto_ack_ = true;
  uint16_t next_id_ = 0;
  std::unique_ptr<itest::RawClient> cli_;
  std::map<std::string, std::vector<ChatMsg>> by_conv_;
  std::vector<itest::PublishIn> other_;
  std::map<uint16_t, itest::Ack> acks_;
  std::map<uint16_t, itest::SubAck> subacks_;
  std::vector<uint16_t> unacked_;
  std::optional<itest::Disconnect> disconnect_;
  std::string last_corr_;
};

// For a 3.1.1 device: subscribes its own rpc/reply/{id} and rpc/reply/{id}/error (both must be
// granted). Nothing for 5.0.
void prepareRpcReplies(ChatDevice& d);
// Checks that `reply` is an RpcError with `code` (5.0: user property error=1 and the request's
// correlation data; 3.1.1: on rpc/reply/{id}/error).
void expectRpcError(ChatDevice& d, const std::optional<itest::PublishIn>& reply,
                    fb::RpcErrorCode code);
// Checks that `reply` is a successful response (5.0: correlation data, no error property;
// 3.1.1: on rpc/reply/{id}); returns false (with a gtest failure) otherwise.
bool expectRpcOk(ChatDevice& d, const std::optional<itest::PublishIn>& reply);

// Polls many devices until pred() holds or timeout; true if it held.
bool pollAll(const std::vector<ChatDevice*>& devices, const std::function<bool()>& pred,
             Millis timeout);

// Checks that `msgs` are exactly seqs first..last in order (gapless, no duplicates); returns a
// description of the first violation, or "" if fine.
std::string checkSeqRun(const std::vector<ChatMsg>& msgs, uint64_t first, uint64_t last);

}  // namespace chattest
