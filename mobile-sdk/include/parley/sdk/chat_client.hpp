// ChatClient: one device's connection to Parley's chat layer over MQTT 5 (Eclipse Paho MQTT C++
// underneath; docs/PROTOCOL.md is the wire protocol).
//
// Purpose: an app calls send(), history(), conversations(), markRead(), typing() and gets
// messages, receipts, typing and presence through Handlers. The client keeps a persistent
// session (session expiry > 0), so the broker keeps this device's per-conversation offsets and
// streams what it missed after every reconnect; it reconnects by itself after a drop; sends wait
// in an in-memory outbox while offline and are retried with the same cmid until the broker
// answers, so a message is stored once however often it is retried.
//
// Ownership: the app owns the ChatClient; it owns its Paho client and one callback thread.
// Destroying it disconnects (the session stays on the broker for session_expiry) and completes
// every pending operation with ErrorCode::Closed.
//
// Threading: every public method is thread-safe and never blocks on the network (except the
// destructor and the future-returning shortcuts' get()). Every handler and completion runs on
// the client's single callback thread, one at a time, in the order the events happened. Keep
// them short; never wait on a future of this client inside one (that thread would wait for
// itself), and never destroy the client from one.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "parley/sdk/types.hpp"

namespace parley::sdk {

struct ClientOptions {
  // Where the broker is: tcp://host:port unless server_uri is set (e.g. "ssl://chat.example:8883"
  // with ca_file, or "ws://…/mqtt").
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string server_uri;
  std::string ca_file;  // PEM trust store for ssl:// and wss://; "" = the system's default

  // Identity (PROTOCOL.md): client id = device id, user name = user id, password = a JWT.
  std::string device_id;
  std::string user_id;
  std::string password;

  std::chrono::seconds session_expiry{7 * 24 * 3600};  // how long the broker keeps the session
  std::chrono::seconds keep_alive{60};
  std::chrono::seconds connect_timeout{10};
  // Automatic reconnect: the first attempt after a drop waits min_reconnect_delay, each failed
  // attempt doubles the wait up to max_reconnect_delay.
  std::chrono::milliseconds min_reconnect_delay{500};
  std::chrono::milliseconds max_reconnect_delay{30000};
  // history(), conversations() and receipts() fail with ErrorCode::Timeout after this long
  // without an answer (they are resent after a reconnect within that time).
  std::chrono::milliseconds rpc_timeout{10000};
  // A send acknowledged by the broker learns its seq from its own delivered copy; if none has
  // arrived after this long, the SDK looks the cmid up with rpc/history instead (README).
  std::chrono::milliseconds seq_lookup_delay{1000};
};

struct ConnectionEvent {
  bool connected = false;
  bool session_present = false;  // connected: the broker still had this device's session
  std::string cause;             // why it was lost (from Paho or the broker's DISCONNECT)
};

// Optional: leave any of them empty. They run on the callback thread.
struct Handlers {
  // Every conversation message in seq order per conversation, including system messages
  // (kind == System: member added/removed, role changed, conversation created; seq 0 with
  // SystemEvent::HistoryTrimmed for a retention notice). A message whose seq is at or below the
  // last one handed over for its conversation is a redelivery and is dropped.
  std::function<void(const Message&)> on_message;
  std::function<void(const Receipts&)> on_receipts;  // coalesced delivered/read cursors
  std::function<void(const TypingEvent&)> on_typing;
  std::function<void(const Presence&)> on_presence;  // users passed to subscribePresence()
  std::function<void(const ConnectionEvent&)> on_connection;
};

template <class T>
using Completion = std::function<void(Result<T>)>;

class ChatClient {
 public:
  // Starts the callback thread; connects nothing (call connect(), which also checks the options).
  ChatClient(ClientOptions options, Handlers handlers);
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // Connects (MQTT 5, clean start off, session expiry as configured). The completion reports
  // the first attempt: the CONNACK, or why there was none. Either way the client keeps
  // (re)connecting by itself, with backoff, until disconnect(); Handlers::on_connection tells
  // when it is up or down.
  void connect(Completion<ConnectInfo> done);
  // Sends DISCONNECT and stops reconnecting. The broker keeps the session; the outbox keeps
  // unsent messages for the next connect().
  void disconnect(Completion<void> done);
  bool connected() const;
  // The password (JWT) for every later connect and automatic reconnect, e.g. a refreshed token.
  void setPassword(std::string password);

  // Sends at QoS 1 to conv/{conv}; completes with the broker-assigned seq, or with an Error if
  // the broker refused it (NotAuthorized, InvalidPayload, …) or the arguments are invalid.
  // While offline the message waits in the outbox; it is never given up on before the client
  // is destroyed.
  void send(OutgoingMessage msg, Completion<SendReceipt> done);
  // A page of history: the newest `limit` (1..100) messages with seq < before_seq (0 = head).
  void history(const std::string& conv, uint64_t before_seq, uint32_t limit,
               Completion<HistoryPage> done);
  // The caller's conversations after `after` (paging; "" = from the start), limit 1..500.
  void conversations(const std::string& after, uint32_t limit, Completion<ConversationPage> done);
  // Every member's delivered/read cursors of one conversation (rpc/receipts).
  void receipts(const std::string& conv, Completion<Receipts> done);
  // "I have read up to seq" (conv/{conv}/read, QoS 1; the broker keeps the maximum).
  void markRead(const std::string& conv, uint64_t seq, Completion<void> done);
  // Best effort, QoS 0, dropped while offline: "1" (typing) or "0" (stopped).
  void typing(const std::string& conv, bool typing = true);
  // Presence of `user` (yourself or someone you share a conversation with) through
  // Handlers::on_presence; kept across reconnects. Completes with the SUBACK.
  void subscribePresence(const std::string& user, Completion<void> done);
  void unsubscribePresence(const std::string& user);

  // The seq filter: messages of `conv` at or below `seq` are treated as already seen. Call it
  // before connect() with what the app stored, so a restarted app is not handed them again.
  void setLastSeq(const std::string& conv, uint64_t seq);
  uint64_t lastSeq(const std::string& conv) const;

  // Shortcuts returning futures (completed on the callback thread: never get() inside a
  // handler or completion).
  std::future<Result<ConnectInfo>> connect();
  std::future<Result<void>> disconnect();
  std::future<Result<SendReceipt>> send(OutgoingMessage msg);
  std::future<Result<SendReceipt>> send(const std::string& conv, const std::string& body,
                                        MessageKind kind = MessageKind::Text);
  std::future<Result<HistoryPage>> history(const std::string& conv, uint64_t before_seq = 0,
                                           uint32_t limit = 50);
  std::future<Result<ConversationPage>> conversations(const std::string& after = "",
                                                      uint32_t limit = 100);
  std::future<Result<Receipts>> receipts(const std::string& conv);
  std::future<Result<void>> markRead(const std::string& conv, uint64_t seq);
  std::future<Result<void>> subscribePresence(const std::string& user);

  // A fresh client message id: 26 characters, time-ordered, 80 random bits.
  static std::string newCmid();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::sdk
