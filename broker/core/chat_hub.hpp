// ChatHub: the chat layer inside the broker core. It connects three things:
//   - the ConversationDirectory (broker/chat), which sequences and stores every chat send;
//   - the sessions following a conversation, which get each durable log record live;
//   - ChatRpc, which answers rpc/{method}.
//
// Delivery design (PRODUCT.md guarantee 4: catch-up by offset, not by queued copies). A
// conversation's log is stored once; no per-device queue entries exist. Each online session that
// follows a conversation keeps a cursor (Session::ChatCursor: next seq to send, highest contiguous
// seq acknowledged). When a record becomes durable the directory reports it here on the store
// writer thread, in seq order; the hub builds one shared, pre-encoded PUBLISH and posts it to
// every event-loop thread, in that same order. Each thread hands it to its local followers. A
// follower that is not exactly at that seq (it is replaying, was offline, or its queue is full)
// ignores the live copy and reads the log from its cursor instead (Session::pumpChat). Because a
// record is always applied before it is posted, "read the head, then follow live" has no gap.
//
// Membership changes travel the same path: the MemberAdded/MemberRemoved system record reaches
// each thread before any later message, so a new member's online devices start following at
// their join record, and a removed member's devices stop before the next message.
//
// Threading: onAppended runs on the store writer thread and only posts. Everything else runs on
// an event-loop thread and touches only that thread's shard (followers by conversation, online
// sessions by user), so no lock is taken per message.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat_rpc.hpp"
#include "conversation_directory.hpp"
#include "message.hpp"
#include "subscription_tree.hpp"

namespace parley::core {

class Broker;
class Session;

class ChatHub : public chat::LogListener {
 public:
  // Registers itself as the directory's listener. Both must outlive the hub's use.
  ChatHub(Broker& broker, chat::ConversationDirectory& directory);

  chat::ConversationDirectory& directory() { return dir_; }
  store::ChatStore& chatStore() { return dir_.chatStore(); }
  chat::ChatRpc& rpc() { return rpc_; }

  // Store writer thread.
  void onAppended(const chat::Appended& a) override;

  // The calling event-loop thread's shard (the session's home thread).
  void addFollower(const std::string& conv, topics::SubscriberId id);
  void removeFollower(const std::string& conv, topics::SubscriberId id);
  void addUserSession(const std::string& user, topics::SubscriberId id);
  void removeUserSession(const std::string& user, topics::SubscriberId id);

  // The PUBLISH a device receives for a stored record (topic conv/{id}, QoS 1).
  static std::shared_ptr<Message> makeMessage(std::string_view conv, std::string envelope);

  // Typing (any event-loop thread): a QoS 0 TypingEvent on conv/{id}/typing to every online
  // session following `conv` except `from`. Never stored; shed first under load (Session).
  void sendTyping(const std::string& conv, std::shared_ptr<Message> msg, topics::SubscriberId from);

  // Presence (any event-loop thread). A user is online while any device is connected; the
  // retained presence/{user} changes when the count does. An unclean drop of the last device
  // turns into "offline" only after the grace (BrokerConfig::presence_grace_s).
  void deviceOnline(const std::string& user);
  void deviceOffline(const std::string& user, bool clean);
  void tickPresence(int64_t now_ms);  // thread 0, from Broker::tick
  // Start-up: no device is connected, so every retained "online" is stale (a crash left it).
  void reconcilePresence();
  // Who may read presence/{target}: the user itself and users sharing a conversation with it.
  bool maySeePresence(const std::string& reader, std::string_view target);

  // Receipts (any event-loop thread). Per conversation and user: delivered = highest seq any of
  // the user's devices acknowledged, read = what conv/{id}/read said; both only move forward.
  // Changes are coalesced into at most one conv/{id}/receipts event per conversation per
  // BrokerConfig::receipts_interval_ms (tickReceipts) and stored with it; a read is stored at once
  // (rpc/conversations counts unread from it). Off above the fan-out threshold and for channels.
  bool receiptsEnabled(const std::string& conv);
  void noteDelivered(const std::string& conv, const std::string& user, uint64_t seq);
  void noteRead(const std::string& conv, const std::string& user, uint64_t seq, bool announce);
  void tickReceipts(int64_t now_ms);  // thread 0, from Broker::tick

 private:
  struct Shard {
    std::unordered_map<std::string, std::vector<topics::SubscriberId>> followers;  // by conv
    std::unordered_map<std::string, std::vector<topics::SubscriberId>> users;      // online
  };
  struct Membership {
    enum Kind : uint8_t { None, Created, Added, Removed } kind = None;
    std::string user;
  };
  void deliverOnThread(size_t thread, const std::string& conv, uint64_t seq, const MessagePtr& msg,
                       const Membership& change);

  void publishPresence(const std::string& user, bool online, uint32_t devices);
  // Posts `msg` to every thread; each calls `send` on its sessions following `conv` (but
  // `except`). The calling thread's share runs at once.
  void toFollowers(const std::string& conv, const MessagePtr& msg,
                   void (Session::*send)(const MessagePtr&), topics::SubscriberId except);
  struct UserPresence {
    uint32_t devices = 0;
    int64_t offline_at_ms = 0;  // unclean drop of the last device: publish offline then
  };

  Broker& broker_;
  chat::ConversationDirectory& dir_;
  struct ConvReceipts {
    std::unordered_map<std::string, store::ChatCursor> cursors;  // users touched so far
    std::vector<std::string> dirty;                              // changed since the last event
    int64_t last_emit_ms = 0;
  };
  store::ChatCursor& cursorLocked(const std::string& conv, const std::string& user, bool& fresh);
  void markDirtyLocked(ConvReceipts& r, const std::string& user);
  std::mutex receipts_mu_;
  std::unordered_map<std::string, ConvReceipts> receipts_;
  std::unordered_map<std::string, bool> receipts_enabled_;  // cache; dropped on membership change
  std::mutex presence_mu_;
  std::unordered_map<std::string, UserPresence> presence_;  // users with devices or a grace
  chat::ChatRpc rpc_;
  std::vector<Shard> shards_;  // one per event-loop thread
};

}  // namespace parley::core
