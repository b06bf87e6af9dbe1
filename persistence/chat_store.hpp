// ChatStore: the chat layer's reads, on the same database and writer thread as the Store.
//
// Chat writes are WriteSet operations (store.hpp: PutConversation, PutMember, PutChatRecord, …)
// committed through Store::commit, so they share the group commit — one synced write — with
// everything else the broker stores, and a chat message, its dedup entry and the new head are
// applied atomically. `Store::chat()` returns this interface (the RocksDB store implements both).
//
// Reads may be called from any thread and see what the writer has applied (not what is still
// queued). Ordering rule for writers: a conversation's PutChatRecord ops must be committed in
// seq order (the chat layer's per-conversation serialisation guarantees it), because each one
// also moves the conversation's head to its seq.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat_records.hpp"

namespace parley::store {

struct CommitResult;

class ChatStore {
 public:
  virtual ~ChatStore() = default;

  virtual std::optional<Conversation> loadConversation(std::string_view conv) = 0;
  // All conversations with id > `after`, in id order, at most `limit` (retention sweeps).
  virtual std::vector<Conversation> listConversations(std::string_view after, size_t limit) = 0;

  virtual std::optional<Member> loadMember(std::string_view conv, std::string_view user) = 0;
  // Members with user id > `after_user`, in user id order, at most `limit`.
  virtual std::vector<Member> loadMembers(std::string_view conv, std::string_view after_user,
                                          size_t limit) = 0;
  // The conversations `user` belongs to with id > `after_conv`, in id order, at most `limit`.
  virtual std::vector<UserConversation> loadUserConversations(std::string_view user,
                                                              std::string_view after_conv,
                                                              size_t limit) = 0;
  // The direct conversation of an unordered pair of users, if one exists.
  virtual std::optional<std::string> findDirectConversation(std::string_view user_a,
                                                            std::string_view user_b) = 0;

  // Log records with seq >= from_seq, ascending, at most `limit` (catch-up).
  virtual std::vector<ChatRecord> loadChatLog(std::string_view conv, uint64_t from_seq,
                                              size_t limit) = 0;
  // The `limit` newest records with seq < before_seq (0 = no bound), returned ascending
  // (a history page).
  virtual std::vector<ChatRecord> loadChatLogBefore(std::string_view conv, uint64_t before_seq,
                                                    size_t limit) = 0;
  // The seq stored for (conv, sender, cmid), if that message is in the log.
  virtual std::optional<uint64_t> findChatDedup(std::string_view conv, std::string_view sender_user,
                                                std::string_view cmid) = 0;
  // Newest seq of the conversation (0 = empty).
  virtual uint64_t loadChatHead(std::string_view conv) = 0;
  // Oldest seq retention still keeps (1 = never trimmed).
  virtual uint64_t loadChatFloor(std::string_view conv) = 0;

  // Receipt cursors of a conversation's members with user id > `after_user`, user order.
  virtual std::vector<ChatCursor> loadChatCursors(std::string_view conv,
                                                  std::string_view after_user, size_t limit) = 0;
  virtual std::optional<ChatCursor> loadChatCursor(std::string_view conv,
                                                   std::string_view user) = 0;

  virtual std::vector<ChatOffset> loadChatOffsets(std::string_view client_id) = 0;
  virtual std::optional<uint64_t> loadChatOffset(std::string_view client_id,
                                                 std::string_view conv) = 0;

  // Retention: deletes every record with seq < floor (and their dedup entries) and records the
  // floor. `floor` is clamped to head + 1 and never moves backwards. Returns the floor that
  // will be in effect; `done` runs on the writer thread when it is durable. Callers serialise
  // trims of one conversation (the chat layer does, under its per-conversation lock).
  virtual uint64_t trimChatLog(std::string_view conv, uint64_t floor,
                               std::function<void(const CommitResult&)> done) = 0;
};

}  // namespace parley::store
