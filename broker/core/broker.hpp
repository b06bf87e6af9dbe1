// Broker: the state shared by all threads and the routing of a PUBLISH.
//
// Path of a PUBLISH: net/connection.cpp decodes it → Client::handlePublish → Broker::publish:
// match the subscription tree, decide which sessions need it durably, write message + queue
// entries (+ retained) through the Store's group commit, then acknowledge the publisher and hand
// the shared, pre-encoded message to each target session's home thread in one batch per thread.
//
// Threading: one instance, used from every event-loop thread. The subscription tree is behind a
// reader/writer lock (a PUBLISH takes the read side once); the retained tree behind a mutex.
// Sessions are sharded by home thread (ThreadState) and touched only there.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "authenticator.hpp"
#include "config.hpp"
#include "message.hpp"
#include "retained_tree.hpp"
#include "session.hpp"
#include "stats.hpp"
#include "store.hpp"
#include "subscription_tree.hpp"
#include "transport.hpp"

namespace parley::core {

class ChatHub;
class Client;

// Subscriber ids carry their home thread and whether the session is persistent, so routing
// needs no lookup on the publishing thread.
struct SubscriberKey {
  static topics::SubscriberId make(size_t thread, bool persistent, uint64_t serial) {
    return (static_cast<uint64_t>(thread) << 56) | (persistent ? (1ull << 55) : 0) |
           (serial & ((1ull << 54) - 1));
  }
  static size_t thread(topics::SubscriberId id) { return static_cast<size_t>(id >> 56); }
  static bool persistent(topics::SubscriberId id) { return (id >> 55) & 1; }
  static bool v5(topics::SubscriberId id) { return (id >> 54) & 1; }
  static topics::SubscriberId withV5(topics::SubscriberId id, bool v5) {
    return v5 ? id | (1ull << 54) : id & ~(1ull << 54);
  }
};

class Broker {
 public:
  Broker(BrokerConfig config, store::Store& store, const Clock& clock, size_t threads);
  ~Broker();

  // --- wiring (start-up, before any connection) ---
  void setExecutors(std::vector<Executor*> executors) { executors_ = std::move(executors); }
  // Not owned; must outlive the broker. Default: everyone is accepted.
  void setAuthenticator(Authenticator* a) { auth_ = a ? a : &allow_all_; }
  Authenticator& authenticator() { return *auth_; }
  void setAuthorizer(Authorizer* a) { authz_ = a ? a : &allow_all_authz_; }
  Authorizer& authorizer() { return *authz_; }
  // The chat layer (conv/{id}, rpc/{method}); nullptr = those topics are plain MQTT. Not owned.
  void setChat(ChatHub* hub) { chat_ = hub; }
  ChatHub* chat() const { return chat_; }
  // Loads persistent sessions, subscriptions and retained messages from the store.
  void recover();

  // --- any thread ---
  size_t threadCount() const { return threads_.size(); }
  size_t homeThread(std::string_view client_id) const;
  static size_t currentThread();  // index of the calling event-loop thread
  static void setCurrentThread(size_t index);
  const BrokerConfig& config() const { return config_; }
  Stats& stats() { return stats_; }
  store::Store& store() { return store_; }
  const Clock& clock() const { return clock_; }
  void post(size_t thread, std::function<void()> fn) { executors_[thread]->post(std::move(fn)); }
  bool hasExecutors() const { return !executors_.empty(); }

  // --- home thread of the client id ---
  struct SessionResult {
    Session* session = nullptr;
    bool present = false;
  };
  // Finds or creates the session for a CONNECT; takes it over from a live connection.
  SessionResult openSession(Client& client, const std::string& client_id, bool clean_start,
                            bool persistent, uint32_t expiry_interval, mqtt::Version version);
  // The client left: keep (persistent) or drop the session.
  void closeSession(Session& session);
  // Delayed wills (5.0 will delay interval), cancelled if the session reconnects.
  void scheduleWill(const std::string& client_id, MessagePtr will, int64_t at_ms);
  void registerClient(Client* c);
  void unregisterClient(Client* c);

  // Subscriptions (home thread of the session). `done` runs on this thread once the change is
  // durable (persistent sessions) — SUBACK waits for it.
  bool subscribe(Session& s, const std::string& filter, const topics::SubOptions& o);
  bool unsubscribe(Session& s, const std::string& filter);
  void persistSubscriptions(Session& s, const std::vector<std::string>& filters,
                            std::function<void(bool ok)> done);
  // The retained messages matching `filter` (any thread).
  std::vector<MessagePtr> retainedMatching(const std::string& filter);
  // Sends the retained messages matching `filter` to `s` (SUBSCRIBE).
  void sendRetained(Session& s, const std::string& filter, const topics::SubOptions& o);

  // Routes a message. If it must be written first (or `force_ordered`: an earlier message of the
  // same publisher is still in the store queue), returns true and later runs `on_durable` on the
  // calling thread — the PUBACK/PUBREC goes out from there. Otherwise delivers at once, returns
  // false and does not call `on_durable`. `inbound_qos2_id` is persisted in the same write when
  // the publisher's session is persistent. `sync` = false: the write need not wait for an fsync
  // (the broker's own best-effort messages, such as presence).
  bool publish(std::shared_ptr<Message> msg, std::function<void(bool ok)> on_durable,
               const Session* from = nullptr, uint16_t inbound_qos2_id = 0,
               bool force_ordered = false, bool sync = true);
  // A will: its message expiry starts now, when it is published (5.0 3.1.3.2.4).
  void publishWill(std::shared_ptr<Message> will);
  // The session of `client_id` if it lives on the calling thread.
  Session* findSession(const std::string& client_id);
  // The session with subscriber id `id` if it lives on the calling thread.
  Session* sessionById(topics::SubscriberId id);

  // Queue-entry bookkeeping from sessions (home thread).
  void ackQueued(const std::string& client_id, uint64_t store_id);
  void persistQueueEntry(const Session& s, const Delivery& d, uint16_t packet_id, bool pubrec);
  void persistInboundDone(const Session& s, uint16_t packet_id);

  // Per-thread housekeeping, every ~250 ms: keep-alive, session expiry, delayed wills.
  void tick(size_t thread);
  // $SYS statistics (thread 0, every sys_interval_s).
  void publishSys();

  size_t sessionCount() const;

 private:
  struct PendingWill {
    MessagePtr msg;
    int64_t at_ms;
  };
  struct ThreadState {
    std::unordered_map<std::string, std::unique_ptr<Session>> sessions;  // by client id
    std::unordered_map<topics::SubscriberId, Session*> by_id;
    std::vector<Client*> clients;
    std::unordered_map<std::string, PendingWill> wills;  // by client id
    uint64_t next_serial = 1;
    std::mutex mu;  // guards nothing on the hot path; only session counting from other threads
  };
  struct Target {
    topics::SubscriberId id;
    std::string client_id;  // only for persistent targets that get a queue entry
    uint8_t qos;
    bool retain;
    uint32_t sub_id;
    std::vector<uint32_t> more_sub_ids;
  };

  Session* newSession(ThreadState& ts, size_t thread, const std::string& client_id, bool persistent,
                      mqtt::Version version);
  void destroySession(ThreadState& ts, Session& s, bool delete_from_store);
  void collectTargets(const Message& msg, topics::SubscriberId self, std::vector<Target>& out);
  void dispatch(const MessagePtr& msg, std::vector<Target> targets);
  void deliverLocal(topics::SubscriberId id, const MessagePtr& msg, const Target& t);
  void setRetained(const std::shared_ptr<Message>& msg, store::WriteSet& ws);
  static store::Message toStored(const Message& m);
  static std::shared_ptr<Message> fromStored(const store::Message& s);
  void fillEncodings(Message& m, const std::vector<Target>& targets);

  BrokerConfig config_;
  store::Store& store_;
  const Clock& clock_;
  Stats stats_;
  std::vector<Executor*> executors_;
  std::vector<std::unique_ptr<ThreadState>> threads_;

  mutable std::shared_mutex subs_mu_;
  topics::SubscriptionTree subs_;
  std::mutex retained_mu_;
  topics::RetainedTree<MessagePtr> retained_;
  // Store ids → number of sessions whose queue entry still refers to the message.
  std::mutex refs_mu_;
  std::unordered_map<uint64_t, uint32_t> refs_;
  // Client ids of persistent sessions by subscriber id, for queue entries written on the
  // publishing thread. Guarded by subs_mu_.
  std::unordered_map<topics::SubscriberId, std::string> persistent_names_;
  int64_t started_ms_ = 0;
  AllowAllAuthenticator allow_all_;
  Authenticator* auth_ = &allow_all_;
  AllowAllAuthorizer allow_all_authz_;
  Authorizer* authz_ = &allow_all_authz_;
  ChatHub* chat_ = nullptr;

  friend class Session;
  friend std::shared_ptr<Message> messageFromStored(const store::Message&);
};

// Converts between the store's record and the broker's shared message (properties travel as a
// 5.0 PUBLISH encoding, opaque to the store).
std::shared_ptr<Message> messageFromStored(const store::Message& s);

}  // namespace parley::core
