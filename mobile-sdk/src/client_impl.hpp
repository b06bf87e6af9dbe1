// ChatClient::Impl: the connection state machine, the outbox and the Paho glue behind ChatClient.
//
// Design.
// - Outbox. Everything that must reach the broker — a send, a read cursor, an rpc request, a
//   presence SUBSCRIBE — is an Op in ops_, keyed by a growing id, so the map is also the queue
//   order. Queued (no connection) -> InFlight (handed to Paho as attempt n) -> done; a send and
//   an rpc pass through Acked (PUBACK received; the seq, or the reply, still to come). A failure
//   that carries a reason code >= 0x80 is the broker's answer and completes the op. Any other
//   failure (connection lost, the broker had no session for us) puts the op back to Queued and
//   the next connection sends the same bytes again, so a retried send keeps its cmid and the
//   broker stores it once. At most kWindow ops are InFlight at a time. While the session survives a
//   reconnect, Paho itself retransmits what was in flight (same packet, DUP set) and the op simply
//   completes later.
// - How a send learns its seq. The broker reports it as the PUBACK user property `seq`, but
//   Debian 12's Paho (C 1.3.12, C++ 1.2.0) hands no PUBACK properties to the application: the C
//   library passes the *request's* properties to onSuccess5 and the C++ token drops them
//   anyway. So the SDK uses the other answer the protocol gives: every device of the sender
//   follows the conversation, so the stored message comes back on conv/{id} with this user's
//   cmid. A duplicate of a message this device has already acknowledged does not come back,
//   so own messages are remembered (recent_own_), and if an acknowledged send has no copy after
//   seq_lookup_delay the SDK finds its cmid in rpc/history (newest pages first).
// - Reconnect. Paho's automatic reconnect is off: the SDK runs its own loop (backoff timers on
//   the dispatcher) so that every attempt is a connect() with a token — it reports the session
//   present flag and CONNACK refusals each time, picks up a new password, and a server
//   DISCONNECT (which Paho reports without calling connection-lost) is handled like a drop.
//
// Ownership: owned by ChatClient; owns the Paho client (destroyed first), the dispatcher (the
// callback thread) and all state below.
// Threading: mu_ guards the state. Paho calls in on its threads (message arrived, action
// listener, connection lost); public methods on the app's threads; timers and flushes on the
// dispatcher. No Paho function is called with mu_ held (Paho calls back with its own locks
// held). Publishes and subscribes are issued from the dispatcher thread only, so they leave in
// queue order.
#pragma once
#include <mqtt/async_client.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dispatcher.hpp"
#include "parley/sdk/chat_client.hpp"
#include "seq_filter.hpp"

namespace parley::sdk {

class ChatClient::Impl : private mqtt::iaction_listener {
 public:
  Impl(ClientOptions options, Handlers handlers);
  ~Impl() override;

  void connect(Completion<ConnectInfo> done);
  void disconnect(Completion<void> done);
  bool connected() const;
  void setPassword(std::string password);

  void send(OutgoingMessage msg, Completion<SendReceipt> done);
  void history(const std::string& conv, uint64_t before_seq, uint32_t limit,
               Completion<HistoryPage> done);
  void conversations(const std::string& after, uint32_t limit, Completion<ConversationPage> done);
  void receipts(const std::string& conv, Completion<Receipts> done);
  void markRead(const std::string& conv, uint64_t seq, Completion<void> done);
  void typing(const std::string& conv, bool typing);
  void subscribePresence(const std::string& user, Completion<void> done);
  void unsubscribePresence(const std::string& user);
  void setLastSeq(const std::string& conv, uint64_t seq);
  uint64_t lastSeq(const std::string& conv) const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class OpKind : uint8_t { Send, Read, Rpc, Subscribe };
  enum class OpState : uint8_t { Queued, InFlight, Acked };

  // What completes an op: an error, or for a send its seq, for an rpc the reply payload.
  struct Outcome {
    std::optional<Error> error;
    uint64_t seq = 0;
    std::string reply;
  };

  struct Op {
    OpKind kind = OpKind::Send;
    OpState state = OpState::Queued;
    uint32_t attempt = 0;
    std::string topic, payload;
    std::string corr;                   // Rpc: correlation data
    std::string conv, cmid;             // Send
    std::string what;                   // for error messages: "send to conv/x", "rpc/history", …
    std::function<void(Outcome)> done;  // runs on the dispatcher
  };

  // Publishing/subscribing, on the dispatcher.
  struct Job {
    uint64_t id;
    uint32_t attempt;
    OpKind kind;
    std::string topic, payload, corr;
  };

  // Token contexts: 1 = connect, 2 = disconnect, op tokens carry (id << 16 | attempt).
  static constexpr uintptr_t kConnectCtx = 1;
  static constexpr uintptr_t kDisconnectCtx = 2;

  // mqtt::iaction_listener (Paho threads).
  void on_success(const mqtt::token& tok) override;
  void on_failure(const mqtt::token& tok) override;

  void onMessage(const mqtt::const_message_ptr& msg);
  void onConnectionLost(const std::string& cause);
  void onConnected(bool session_present);
  void onConnectFailed(int rc, const std::string& message);
  void onDisconnected();
  void onOpSuccess(uint64_t id);
  void onOpFailure(uint64_t id, uint32_t attempt, int reason_code);
  void onRpcReply(const mqtt::const_message_ptr& msg);

  void attemptConnect();
  void scheduleReconnectLocked();
  uint64_t addOpLocked(Op op);
  void setStateLocked(uint64_t id, Op& op, OpState state);
  void completeLocked(uint64_t id, Outcome outcome);
  void requestFlushLocked();
  void flush();
  void issue(const Job& job);
  void matchOwnLocked(const Message& m);
  void rememberOwnLocked(const std::string& conv, const std::string& cmid, uint64_t seq);
  std::optional<uint64_t> knownOwnLocked(const std::string& conv, const std::string& cmid) const;
  Op presenceOp(const std::string& user, Completion<void> done);  // SUBSCRIBE presence/{user}
  void lookupSeq(uint64_t send_id, uint64_t before_seq, int pages_left);
  void rpc(const std::string& method, std::string payload, std::function<void(Outcome)> done);
  void shutdown();

  template <class T>
  void fail(Completion<T>& done, Error e) {
    dispatcher_.post([done = std::move(done), e = std::move(e)] {
      if (done) done(Result<T>(e));
    });
  }

  const ClientOptions opts_;
  const Handlers handlers_;
  const std::string reply_topic_;
  std::string create_error_;  // why cli_ could not be made (bad server URI), else ""
  Dispatcher dispatcher_;

  mutable std::mutex mu_;
  bool closing_ = false;  // destructor running: nothing new starts
  bool wanted_ = false;   // between connect() and disconnect()
  bool connected_ = false;
  bool attempting_ = false;  // a connect token is outstanding
  bool flush_posted_ = false;
  bool session_present_ = false;
  std::chrono::milliseconds backoff_{0};
  std::string password_;
  std::vector<Completion<ConnectInfo>> connect_waiters_;
  std::vector<Completion<void>> disconnect_waiters_;

  std::map<uint64_t, Op> ops_;
  std::set<uint64_t> queued_;  // ids of the Queued ops: the next flush's work, in order
  // Ops handed to Paho and not answered yet. Kept under Paho's command buffer (100 by default),
  // which refuses more with an error instead of queueing them, and it bounds what a reconnect
  // has to retransmit.
  static constexpr size_t kWindow = 64;
  size_t in_flight_ = 0;
  uint64_t next_op_ = 1;
  uint64_t next_corr_ = 1;
  std::unordered_map<std::string, uint64_t> rpc_by_corr_;
  std::multimap<std::pair<std::string, std::string>, uint64_t> sends_by_cmid_;

  SeqFilter seqs_;
  // (conv, cmid) -> seq of this user's recent messages, oldest evicted first.
  static constexpr size_t kRecentOwn = 4096;
  std::map<std::pair<std::string, std::string>, uint64_t> recent_own_;
  std::deque<std::pair<std::string, std::string>> recent_order_;
  std::set<std::string> presence_;

  std::unique_ptr<mqtt::async_client> cli_;
};

}  // namespace parley::sdk
