// ConversationDirectory: conversations, members and the per-conversation sequence — the chat
// layer's write side. The admin API uses it to create conversations and manage members; the
// core uses send() for every chat PUBLISH on conv/{id}. Pure logic over the Store interface: no
// sockets, no clocks of its own (a wall clock is injected).
//
// Sequencing (the gapless guarantee). Every write to a conversation's log — a chat message or a
// system message about a membership change — takes the conversation's `seq_mu`, assigns
// head + 1 and calls Store::commit *while still holding it*. commit() only enqueues, so the lock
// is held for microseconds, and the store applies WriteSets in queue order: commit order == seq
// order, and a group commit is atomic, so the log has no holes after any crash. The durable
// write runs later on the store's writer thread, where the completion reports the result.
//
// Dedup. (conversation, sender user, cmid) is looked up first among this conversation's sends
// still in flight (in memory), then in the store. A retry of a message still being written
// waits for that write and gets its seq; a retry of a stored one gets the stored seq at once.
// Either way nothing is written.
//
// Membership changes are serialised per conversation by a second lock, `admin_mu`, held for
// the whole read-validate-write-wait of one change, so each change sees the previous ones in
// the store. Sends never take `admin_mu`.
//
// Write failures. A failed commit leaves its seq unused. The conversation then refuses new
// writes (Unavailable) until its in-flight writes have completed, and re-reads its head from
// the store before taking the next seq. (RocksDB refuses all writes after a WAL write error,
// so no later seq can land after a lost one.)
//
// Threading: every method may be called from any thread. send() is asynchronous: `done` runs on
// the store's writer thread (keep it short; post to your own thread). The other mutating
// methods block until their write is durable: never call them from a store completion or an
// event-loop thread that must not block (the admin API calls them on its own thread).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat_error.hpp"
#include "chat_store.hpp"
#include "envelope.hpp"
#include "result.hpp"
#include "store.hpp"

namespace parley::chat {

using store::ConversationKind;
using store::MemberRole;

struct DirectoryOptions {
  uint32_t group_member_cap = 5000;        // default and maximum for groups
  uint32_t channel_member_cap = 0;         // 0 = unlimited
  uint64_t retention_max_age_s = 0;        // global policy for conversations without their own;
  uint64_t retention_max_count = 0;        // 0 = keep forever
  std::function<int64_t()> wall_clock_ms;  // default: the system clock
};

struct NewMember {
  std::string user;
  MemberRole role = MemberRole::Member;
};

struct CreateRequest {
  std::string id;  // "" = generate one
  ConversationKind kind = ConversationKind::Group;
  std::string title;
  std::vector<NewMember> members;  // direct: exactly two users; group/channel: at least one owner
  uint32_t member_cap = 0;         // 0 = the kind's default; may not exceed it
  uint64_t retention_max_age_s = 0;
  uint64_t retention_max_count = 0;
  std::string actor;  // recorded in the ConversationCreated system message; "" = the backend
};

struct CreateResult {
  store::Conversation conversation;
  bool created = true;  // false: a direct conversation of this pair already existed
};

// Who asks for a membership change: nullopt = the app's backend (admin API without an actor),
// which may do anything the invariants allow; a user id = that member, checked against its role.
using Actor = std::optional<std::string>;

struct SendRequest {
  std::string conv;
  std::string sender_user;    // MQTT user name (authenticated user id)
  std::string sender_device;  // MQTT client id
  Outgoing content;           // from decodeChatSend
};

struct SendResult {
  ChatStatus status = ChatStatus::Ok;
  std::string error;       // when status != Ok
  uint64_t seq = 0;        // the message's seq (the original one for a duplicate)
  bool duplicate = false;  // nothing was written; deliver nothing
  std::shared_ptr<const std::string> message;  // the stored ChatMessage bytes (new sends only)
};

// What was appended to a conversation's log: reported once it is durable, on the store's writer
// thread, in commit order — so in seq order for each conversation. The broker core listens to
// hand every record to the devices following the conversation.
struct Appended {
  const std::string& conv;
  uint64_t seq;
  std::shared_ptr<const std::string> envelope;  // the stored ChatMessage bytes
  const SystemInfo* system;                     // membership changes; nullptr for chat messages
};

class LogListener {
 public:
  virtual ~LogListener() = default;
  // Runs on the store writer thread: keep it short (post work to your own threads).
  virtual void onAppended(const Appended& a) = 0;
};

class ConversationDirectory {
 public:
  // `store` must have a ChatStore (Store::chat() != nullptr) and outlive the directory.
  ConversationDirectory(store::Store& store, DirectoryOptions options = {});
  ~ConversationDirectory();

  // --- admin side (blocking until durable) ---
  Result<CreateResult, ChatError> create(const CreateRequest& request);
  Result<store::Conversation, ChatError> get(const std::string& conv);
  // Each returns the seq of the system message it appended (0 if nothing changed).
  Result<uint64_t, ChatError> addMember(const std::string& conv, const Actor& actor,
                                        const std::string& user, MemberRole role);
  Result<uint64_t, ChatError> removeMember(const std::string& conv, const Actor& actor,
                                           const std::string& user);
  Result<uint64_t, ChatError> changeRole(const std::string& conv, const Actor& actor,
                                         const std::string& user, MemberRole role);

  // --- send path (asynchronous) ---
  // Checks membership and role, deduplicates, assigns the next seq and commits the record (+
  // `extra`, the caller's own ops, in the same atomic WriteSet). `done` runs once, on the store
  // writer thread when something was written or awaited, else on the calling thread.
  void send(SendRequest request, store::WriteSet extra, std::function<void(SendResult)> done);

  // --- retention ---
  // Applies the conversation's policy (or the global one): trims what is older than max age or
  // beyond max count. Returns the floor in effect afterwards. Blocking.
  Result<uint64_t, ChatError> applyRetention(const std::string& conv);
  // applyRetention over every conversation; returns how many had their floor moved.
  size_t applyRetentionAll();

  // Set once at start-up, before the first write. Not owned.
  void setListener(LogListener* listener) { listener_ = listener; }

  store::ChatStore& chatStore() { return chat_; }
  const DirectoryOptions& options() const { return options_; }

 private:
  struct ConvState;
  using Completion = std::function<void(bool ok)>;

  std::shared_ptr<ConvState> state(const std::string& conv);
  int64_t now() const;
  // Under seq_mu: take the next seq (reloading the head after a failure). nullopt = refuse.
  std::optional<uint64_t> nextSeqLocked(ConvState& s, const std::string& conv);
  int64_t serverTimeLocked(ConvState& s);
  // Appends a system message + `ws` ops under seq_mu and waits for durability.
  Result<uint64_t, ChatError> appendSystemAndWait(const std::string& conv, store::WriteSet ws,
                                                  SystemInfo info);
  Result<uint64_t, ChatError> commitAndWait(ConvState& s, store::WriteSet ws);
  void finish(const std::shared_ptr<ConvState>& s, bool ok);
  std::string newConversationId();

  store::Store& store_;
  store::ChatStore& chat_;
  DirectoryOptions options_;
  LogListener* listener_ = nullptr;

  std::mutex mu_;  // guards states_; also serialises create()
  std::unordered_map<std::string, std::shared_ptr<ConvState>> states_;
  std::mutex create_mu_;
};

}  // namespace parley::chat
