// Store: everything Parley keeps durably, behind a small interface so the broker core never sees
// RocksDB. Writes are collected into a WriteSet and handed to `commit`; the implementation runs
// one writer thread that merges all pending WriteSets into one batch and one synced write (group
// commit), then calls each WriteSet's completion. Reads may be called from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chat_records.hpp"
#include "records.hpp"

namespace parley::store {

class ChatStore;

enum class Durability {
  Sync,     // each group commit fsyncs the WAL before completions run (default)
  Batched,  // completions run after the write; the WAL is fsynced at most every flush interval
  None,     // WAL written, never fsynced by us (OS decides); for tests and benchmarks
};

// A set of mutations applied atomically, in order, by one commit.
class WriteSet {
 public:
  struct PutMessage {
    Message message;
  };  // message.id == 0: "the new message" (see commit)
  struct DeleteMessage {
    uint64_t id;
  };
  struct PutSession {
    SessionRecord session;
  };
  struct DeleteSession {
    std::string client_id;
  };  // + subscriptions, queue, inbound ids, offsets
  struct PutSubscription {
    SubscriptionRecord subscription;
  };
  struct DeleteSubscription {
    std::string client_id, filter;
  };
  struct PutQueueEntry {
    QueueEntry entry;
  };  // entry.msg_id == 0: the new message's id
  struct DeleteQueueEntry {
    std::string client_id;
    uint64_t msg_id;
  };
  struct PutInbound {
    std::string client_id;
    uint16_t packet_id;
  };  // QoS 2 PUBLISH received
  struct DeleteInbound {
    std::string client_id;
    uint16_t packet_id;
  };  // its PUBREL came
  struct PutRetained {
    Message message;
  };  // keyed by topic; message.id is kept as given
  struct DeleteRetained {
    std::string topic;
  };
  // --- chat layer (chat_store.hpp; key layout in persistence/README.md) ---
  struct PutConversation {
    Conversation conversation;
  };
  struct PutMember {
    Member member;
  };  // + the user -> conversation index entry
  struct DeleteMember {
    std::string conv, user;
  };  // + the index entry
  struct PutDirectIndex {
    std::string user_a, user_b, conv;
  };  // unordered pair -> conv
  // Log record + its dedup entry (if cmid is not empty) + the conversation's head = seq.
  struct PutChatRecord {
    ChatRecord record;
  };
  struct DeleteChatDedup {
    std::string conv, sender_user, cmid;
  };
  struct PutChatOffset {
    ChatOffset offset;
  };
  struct PutChatCursor {
    ChatCursor cursor;
  };  // receipts (chat layer II)
  // Deletes records with seq < floor and records the floor (use ChatStore::trimChatLog, which
  // also removes their dedup entries).
  struct TrimChatLog {
    std::string conv;
    uint64_t floor;
  };
  using Op = std::variant<PutMessage, DeleteMessage, PutSession, DeleteSession, PutSubscription,
                          DeleteSubscription, PutQueueEntry, DeleteQueueEntry, PutInbound,
                          DeleteInbound, PutRetained, DeleteRetained, PutConversation, PutMember,
                          DeleteMember, PutDirectIndex, PutChatRecord, DeleteChatDedup,
                          PutChatOffset, TrimChatLog, PutChatCursor>;

  template <class T>
  void add(T op) {
    ops_.emplace_back(std::move(op));
  }
  // Whether the caller waits for durability (a PUBACK depends on it). Bookkeeping writes whose
  // loss only causes a redelivery (an acknowledged queue entry's deletion) set this false.
  void setNeedsSync(bool v) { needs_sync_ = v; }
  bool needsSync() const { return needs_sync_; }
  bool empty() const { return ops_.empty(); }
  std::vector<Op>& ops() { return ops_; }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
  bool needs_sync_ = true;
};

struct CommitResult {
  bool ok = true;
  uint64_t message_id = 0;  // id given to the WriteSet's new message, if it had one
};

class Store {
 public:
  virtual ~Store() = default;

  // Queues `writes` for the next group commit and returns at once. If `writes` holds a
  // PutMessage with id 0, that message gets the next message id, here and now (ids are assigned
  // in queue order, so id order is commit order), and every PutQueueEntry / PutRetained with
  // msg_id/id 0 in the same WriteSet refers to it. Returns that id (0 if none).
  // `done` runs on the store's writer thread once the write is applied (and, if it needs sync
  // under Durability::Sync, fsynced); it must be quick (post to your own thread).
  virtual uint64_t commit(WriteSet writes, std::function<void(const CommitResult&)> done) = 0;

  // Blocks until everything committed so far is applied and synced. For shutdown and tests.
  virtual void flush() = 0;

  // --- reads (any thread; see what has been applied) ---
  virtual std::vector<SessionRecord> loadSessions() = 0;
  virtual std::vector<SubscriptionRecord> loadSubscriptions() = 0;
  virtual std::vector<Message> loadRetained() = 0;
  // Queue entries of one session with msg_id >= from_msg_id, in msg_id order, at most `limit`.
  virtual std::vector<QueueEntry> loadQueue(std::string_view client_id, uint64_t from_msg_id,
                                            size_t limit) = 0;
  virtual std::optional<Message> loadMessage(uint64_t id) = 0;
  virtual std::vector<uint16_t> loadInbound(std::string_view client_id) = 0;
  // For start-up: calls fn(msg_id) once per queue entry of every session (to rebuild reference
  // counts), and deletes messages no queue entry refers to.
  virtual void forEachQueuedMessageId(const std::function<void(uint64_t)>& fn) = 0;
  virtual void deleteUnreferencedMessages() = 0;

  // The chat layer's reads on the same database (chat writes are WriteSet ops above); nullptr
  // if this store has none.
  virtual ChatStore* chat() { return nullptr; }

  struct Stats {
    uint64_t commits = 0;  // WriteSets completed
    uint64_t batches = 0;  // RocksDB writes issued (group commits)
    uint64_t syncs = 0;    // of which synced
    uint64_t bytes_written = 0;
    // Keys put or deleted by successful writes (one per Put/Delete/DeleteRange in the batch).
    // Shows how much a code path writes, independent of how commits were grouped: e.g. a chat
    // send is a constant handful whatever the conversation's size.
    uint64_t records_written = 0;
  };
  virtual Stats stats() const = 0;
};

struct StoreOptions {
  std::string path;
  Durability durability = Durability::Sync;
  uint32_t batched_flush_ms = 10;  // Durability::Batched
  size_t block_cache_mb = 64;
};

// Opens (creating if missing) the RocksDB store. Throws std::runtime_error on failure: this is
// start-up, where exceptions are allowed.
std::unique_ptr<Store> openRocksDbStore(const StoreOptions& options);

}  // namespace parley::store
