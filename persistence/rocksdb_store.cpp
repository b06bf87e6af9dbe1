// RocksDbStore: the Store on an embedded RocksDB database, the only code in Parley that includes
// RocksDB. It owns the DB handle and one writer thread; `commit` is called from any thread (the
// network threads), completions run on the writer thread, reads run on the caller's thread. The
// owner must stop calling commit() before destroying it; completions must not call flush().
//
// Group commit (see persistence/README.md for the full picture):
//   commit():  under mu_, reserve message ids for the WriteSet's new messages and append it to
//              pending_. Id reservation and enqueueing happen under the same lock, so id order ==
//              queue order == the order the writer applies and completes sets in.
//   writer:    swap out ALL pending sets, encode them into one rocksdb::WriteBatch (reused, so no
//              allocation once it has grown), issue one db->Write, synced if the durability is
//              Sync and any set in the group needs sync, then run each completion in queue order.
//              While the writer syncs, new commits pile up in pending_ and become the next group,
//              so the number of fsyncs tracks the disk's speed, not the message rate.
//   Batched:   writes are never synced inline; the writer calls SyncWAL when the oldest unsynced
//              write is batched_flush_ms old (waking on a timer if nothing else arrives).
//   flush():   waits until everything enqueued before the call is applied and (unless
//              Durability::None) synced, asking the writer for a SyncWAL if needed.
//
// Ids: a WriteSet's PutMessage with id 0 gets the next id; a PutQueueEntry with msg_id 0 or a
// PutRetained with id 0 in the same set refers to it. The substitution happens on the writer
// thread while encoding (not under mu_), which keeps commit() O(ops) outside the lock and O(1)
// inside it. A set may hold several new messages: each gets the next id, and a 0 reference means
// the latest new message before it in the set (the first one if none precedes it).
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "chat_store.hpp"
#include "records_generated.h"
#include "store.hpp"

namespace parley::store {
namespace {

// ---------------------------------------------------------------------------------------------
// Keys. One column family; the first byte says what a key holds. Client ids inside composite
// keys carry a 4-byte big-endian length so that client "a" never prefix-matches client "ab".

constexpr char kMessagePrefix = 'm';  // 'm' be64(id)                      -> StoredMessage
constexpr char kSessionPrefix = 's';  // 's' client                        -> StoredSession
constexpr char kSubscriptionPrefix =
    'u';                               // 'u' be32(len) client filter       -> StoredSubscription
constexpr char kQueuePrefix = 'q';     // 'q' be32(len) client be64(msg id) -> StoredQueueEntry
constexpr char kInboundPrefix = 'i';   // 'i' be32(len) client be16(packet) -> ""
constexpr char kRetainedPrefix = 'r';  // 'r' topic                         -> StoredMessage
// Chat layer (chat_store.hpp). Upper-case letters, so they never collide with the above.
// clang-format off
constexpr char kConversationPrefix = 'C';  // 'C' conv                        -> StoredConversation
constexpr char kMemberPrefix = 'M';        // 'M' be32(len) conv user         -> StoredMember
constexpr char kUserConvPrefix = 'U';      // 'U' be32(len) user conv         -> role (1 byte)
constexpr char kLogPrefix = 'L';           // 'L' be32(len) conv be64(seq)    -> StoredChatRecord
constexpr char kDedupPrefix = 'X';         // 'X' be32(len) conv be32(len) user cmid -> be64(seq)
constexpr char kHeadPrefix = 'H';          // 'H' conv                        -> be64(head seq)
constexpr char kFloorPrefix = 'F';         // 'F' conv                        -> be64(floor seq)
constexpr char kOffsetPrefix = 'O';        // 'O' be32(len) client conv       -> be64(seq)
constexpr char kDirectPrefix = 'D';        // 'D' be32(len) user_lo user_hi   -> conv id
constexpr char kCursorPrefix = 'R';        // 'R' be32(len) conv user         -> be64(delivered) be64(read)
// clang-format on
constexpr std::string_view kFormatKey = "#format";           // -> be32(kFormatVersion)
constexpr std::string_view kLastIdKey = "#last_message_id";  // -> be64(highest id assigned)
constexpr uint32_t kFormatVersion = 1;

void appendBe(std::string& out, uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t readBe(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// `prefix` + be32(len) + client, written into `out` (cleared first).
void clientKey(std::string& out, char prefix, std::string_view client) {
  out.clear();
  out.push_back(prefix);
  appendBe(out, client.size(), 4);
  out.append(client);
}

// Splits the body of a client-prefixed key (after the prefix byte) into client id and rest.
bool splitClientKey(std::string_view key, std::string_view& client, std::string_view& rest) {
  if (key.size() < 5) return false;
  const uint64_t len = readBe(key.substr(1), 4);
  if (key.size() < 5 + len) return false;
  client = key.substr(5, len);
  rest = key.substr(5 + len);
  return true;
}

// The smallest key greater than every key that starts with `prefix` (prefixes here never
// consist only of 0xff bytes: they start with a letter).
std::string prefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto c = static_cast<unsigned char>(prefix.back());
    if (c != 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

void logError(const char* what, const rocksdb::Status& s) {
  std::fprintf(stderr, "parley store: %s: %s\n", what, s.ToString().c_str());
}

// ---------------------------------------------------------------------------------------------
// Values: flatbuffers tables from schema/records.fbs. The encoder is owned by one thread (the
// writer) and reuses its builder, so encoding allocates nothing once warmed up.

class RecordEncoder {
 public:
  rocksdb::Slice message(const Message& m, uint64_t id) {
    fbb_.Clear();
    auto topic = fbb_.CreateString(m.topic.data(), m.topic.size());
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> payload, props;
    if (!m.payload.empty()) payload = bytes(m.payload);
    if (!m.properties.empty()) props = bytes(m.properties);
    fb::StoredMessageBuilder b(fbb_);
    b.add_id(id);
    b.add_expires_at_ms(m.expires_at_ms);
    b.add_topic(topic);
    if (!payload.IsNull()) b.add_payload(payload);
    if (!props.IsNull()) b.add_properties(props);
    b.add_qos(m.qos);
    b.add_retain(m.retain);
    return finish(b.Finish());
  }

  rocksdb::Slice session(const SessionRecord& s) {
    fbb_.Clear();
    return finish(
        fb::CreateStoredSession(fbb_, s.expiry_interval, s.protocol_version, s.disconnected_at_ms));
  }

  rocksdb::Slice subscription(const SubscriptionRecord& s) {
    fbb_.Clear();
    return finish(fb::CreateStoredSubscription(fbb_, s.qos, s.no_local, s.retain_as_published,
                                               s.retain_handling, s.subscription_id));
  }

  rocksdb::Slice queueEntry(const QueueEntry& e) {
    fbb_.Clear();
    return finish(fb::CreateStoredQueueEntry(fbb_, e.qos, e.packet_id, e.pubrec_received, e.retain,
                                             e.subscription_id));
  }

  rocksdb::Slice conversation(const Conversation& c) {
    fbb_.Clear();
    flatbuffers::Offset<flatbuffers::String> title;
    if (!c.title.empty()) title = fbb_.CreateString(c.title.data(), c.title.size());
    return finish(fb::CreateStoredConversation(fbb_, static_cast<uint8_t>(c.kind), c.created_ms,
                                               title, c.retention_max_age_s, c.retention_max_count,
                                               c.member_cap, c.member_count));
  }

  rocksdb::Slice member(const Member& m) {
    fbb_.Clear();
    return finish(fb::CreateStoredMember(fbb_, static_cast<uint8_t>(m.role), m.joined_seq));
  }

  rocksdb::Slice chatRecord(const ChatRecord& r) {
    fbb_.Clear();
    flatbuffers::Offset<flatbuffers::String> user, device, cmid;
    if (!r.sender_user.empty())
      user = fbb_.CreateString(r.sender_user.data(), r.sender_user.size());
    if (!r.sender_device.empty()) {
      device = fbb_.CreateString(r.sender_device.data(), r.sender_device.size());
    }
    if (!r.cmid.empty()) cmid = fbb_.CreateString(r.cmid.data(), r.cmid.size());
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> envelope;
    if (!r.envelope.empty()) envelope = bytes(r.envelope);
    return finish(
        fb::CreateStoredChatRecord(fbb_, user, device, r.server_time_ms, cmid, r.kind, envelope));
  }

 private:
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> bytes(const std::string& s) {
    return fbb_.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  template <class T>
  rocksdb::Slice finish(flatbuffers::Offset<T> root) {
    fbb_.Finish(root);
    return rocksdb::Slice(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
  }

  flatbuffers::FlatBufferBuilder fbb_{512};
};

// Decoding: RocksDB hands out values at any address, and flatbuffers reads scalars in place, so
// a value is first copied into `scratch` (std::string storage is at least 8-byte aligned) and
// verified there. A value that fails verification is logged and skipped by the caller.
template <class T>
const T* decode(rocksdb::Slice value, std::string& scratch) {
  scratch.assign(value.data(), value.size());
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(scratch.data()), scratch.size());
  if (!verifier.VerifyBuffer<T>(nullptr)) {
    std::fprintf(stderr, "parley store: undecodable record skipped (%zu bytes)\n", value.size());
    return nullptr;
  }
  return flatbuffers::GetRoot<T>(scratch.data());
}

std::string toString(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

Message toMessage(const fb::StoredMessage& m) {
  Message out;
  out.id = m.id();
  if (m.topic() != nullptr) out.topic = m.topic()->str();
  out.payload = toString(m.payload());
  out.qos = m.qos();
  out.retain = m.retain();
  out.properties = toString(m.properties());
  out.expires_at_ms = m.expires_at_ms();
  return out;
}

Conversation toConversation(std::string_view id, const fb::StoredConversation& c) {
  Conversation out;
  out.id = std::string(id);
  out.kind = static_cast<ConversationKind>(c.kind());
  out.created_ms = c.created_ms();
  if (c.title() != nullptr) out.title = c.title()->str();
  out.retention_max_age_s = c.retention_max_age_s();
  out.retention_max_count = c.retention_max_count();
  out.member_cap = c.member_cap();
  out.member_count = c.member_count();
  return out;
}

ChatRecord toChatRecord(std::string_view conv, uint64_t seq, const fb::StoredChatRecord& r) {
  ChatRecord out;
  out.conv = std::string(conv);
  out.seq = seq;
  if (r.sender_user() != nullptr) out.sender_user = r.sender_user()->str();
  if (r.sender_device() != nullptr) out.sender_device = r.sender_device()->str();
  out.server_time_ms = r.server_time_ms();
  if (r.cmid() != nullptr) out.cmid = r.cmid()->str();
  out.kind = r.kind();
  out.envelope = toString(r.envelope());
  return out;
}

// 'X' key: conv and sender are length-prefixed, the cmid is the rest.
void dedupKey(std::string& out, std::string_view conv, std::string_view user,
              std::string_view cmid) {
  clientKey(out, kDedupPrefix, conv);
  appendBe(out, user.size(), 4);
  out.append(user);
  out.append(cmid);
}

// 'D' key: the pair in byte order, so (a, b) and (b, a) are the same key.
void directKey(std::string& out, std::string_view a, std::string_view b) {
  if (b < a) std::swap(a, b);
  clientKey(out, kDirectPrefix, a);
  out.append(b);
}

void logKey(std::string& out, std::string_view conv, uint64_t seq) {
  clientKey(out, kLogPrefix, conv);
  appendBe(out, seq, 8);
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// ---------------------------------------------------------------------------------------------

class RocksDbStore final : public Store, public ChatStore {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, const StoreOptions& options, uint64_t last_id)
      : db_(std::move(db)),
        durability_(options.durability),
        batched_interval_(std::max<uint32_t>(options.batched_flush_ms, 1)),
        last_id_(last_id),
        writer_([this] { writerLoop(); }) {}

  ~RocksDbStore() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    work_cv_.notify_one();
    writer_.join();  // the writer drains pending_ and syncs before it returns
    if (auto s = db_->Close(); !s.ok()) logError("close", s);
  }

  uint64_t commit(WriteSet writes, std::function<void(const CommitResult&)> done) override {
    uint32_t new_messages = 0;
    for (const auto& op : writes.ops()) {
      if (const auto* p = std::get_if<WriteSet::PutMessage>(&op); p && p->message.id == 0) {
        ++new_messages;
      }
    }
    uint64_t first_id = 0;
    bool was_idle;
    {
      std::lock_guard lk(mu_);
      if (new_messages > 0) {
        first_id = last_id_ + 1;
        last_id_ += new_messages;
      }
      was_idle = pending_.empty();
      pending_.push_back(Pending{std::move(writes), std::move(done), first_id, new_messages});
      ++enqueued_;
    }
    // A non-empty queue means the writer has been woken already and has not yet taken it.
    if (was_idle) work_cv_.notify_one();
    return first_id;
  }

  void flush() override {
    std::unique_lock lk(mu_);
    const uint64_t target = enqueued_;
    if (durable_ >= target) return;
    if (durability_ != Durability::None) sync_requested_ = true;
    work_cv_.notify_one();
    done_cv_.wait(lk, [&] { return durable_ >= target; });
  }

  std::vector<SessionRecord> loadSessions() override {
    std::vector<SessionRecord> out;
    std::string scratch;
    const std::string prefix(1, kSessionPrefix);
    scan(prefix, prefix, [&](std::string_view key, rocksdb::Slice value) {
      if (const auto* s = decode<fb::StoredSession>(value, scratch)) {
        out.push_back(SessionRecord{std::string(key.substr(1)), s->expiry_interval(),
                                    s->protocol_version(), s->disconnected_at_ms()});
      }
      return true;
    });
    return out;
  }

  std::vector<SubscriptionRecord> loadSubscriptions() override {
    std::vector<SubscriptionRecord> out;
    std::string scratch;
    const std::string prefix(1, kSubscriptionPrefix);
    scan(prefix, prefix, [&](std::string_view key, rocksdb::Slice value) {
      std::string_view client, filter;
      if (!splitClientKey(key, client, filter)) return true;
      if (const auto* s = decode<fb::StoredSubscription>(value, scratch)) {
        out.push_back(SubscriptionRecord{std::string(client), std::string(filter), s->qos(),
                                         s->no_local(), s->retain_as_published(),
                                         s->retain_handling(), s->subscription_id()});
      }
      return true;
    });
    return out;
  }

  std::vector<Message> loadRetained() override {
    std::vector<Message> out;
    std::string scratch;
    const std::string prefix(1, kRetainedPrefix);
    scan(prefix, prefix, [&](std::string_view, rocksdb::Slice value) {
      if (const auto* m = decode<fb::StoredMessage>(value, scratch)) out.push_back(toMessage(*m));
      return true;
    });
    return out;
  }

  std::vector<QueueEntry> loadQueue(std::string_view client_id, uint64_t from_msg_id,
                                    size_t limit) override {
    std::vector<QueueEntry> out;
    if (limit == 0) return out;
    std::string prefix, start, scratch;
    clientKey(prefix, kQueuePrefix, client_id);
    start = prefix;
    appendBe(start, from_msg_id, 8);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      if (key.size() != prefix.size() + 8) return true;
      if (const auto* e = decode<fb::StoredQueueEntry>(value, scratch)) {
        out.push_back(QueueEntry{std::string(client_id), readBe(key.substr(prefix.size()), 8),
                                 e->qos(), e->packet_id(), e->pubrec_received(), e->retain(),
                                 e->subscription_id()});
      }
      return out.size() < limit;
    });
    return out;
  }

  std::optional<Message> loadMessage(uint64_t id) override {
    std::string key(1, kMessagePrefix);
    appendBe(key, id, 8);
    rocksdb::PinnableSlice value;
    auto s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) {
      logError("loadMessage", s);
      return std::nullopt;
    }
    std::string scratch;
    const auto* m = decode<fb::StoredMessage>(value, scratch);
    if (m == nullptr) return std::nullopt;
    Message out = toMessage(*m);
    out.id = id;
    return out;
  }

  std::vector<uint16_t> loadInbound(std::string_view client_id) override {
    std::vector<uint16_t> out;
    std::string prefix;
    clientKey(prefix, kInboundPrefix, client_id);
    scan(prefix, prefix, [&](std::string_view key, rocksdb::Slice) {
      if (key.size() == prefix.size() + 2) {
        out.push_back(static_cast<uint16_t>(readBe(key.substr(prefix.size()), 2)));
      }
      return true;
    });
    return out;
  }

  void forEachQueuedMessageId(const std::function<void(uint64_t)>& fn) override {
    const std::string prefix(1, kQueuePrefix);
    scan(prefix, prefix, [&](std::string_view key, rocksdb::Slice) {
      std::string_view client, rest;
      if (splitClientKey(key, client, rest) && rest.size() == 8) fn(readBe(rest, 8));
      return true;
    });
  }

  // Both scans read one snapshot, so a message committed while this runs is not in it and is
  // never deleted. Meant for start-up, before the broker adds queue entries for old messages.
  void deleteUnreferencedMessages() override {
    const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
    std::vector<uint64_t> referenced;
    const std::string queue_prefix(1, kQueuePrefix), message_prefix(1, kMessagePrefix);
    scan(
        queue_prefix, queue_prefix,
        [&](std::string_view key, rocksdb::Slice) {
          std::string_view client, rest;
          if (splitClientKey(key, client, rest) && rest.size() == 8) {
            referenced.push_back(readBe(rest, 8));
          }
          return true;
        },
        snapshot);
    std::sort(referenced.begin(), referenced.end());
    referenced.erase(std::unique(referenced.begin(), referenced.end()), referenced.end());

    constexpr size_t kDeletesPerCommit = 10000;
    WriteSet writes;
    writes.setNeedsSync(false);  // losing a deletion only leaves garbage for the next start-up
    scan(
        message_prefix, message_prefix,
        [&](std::string_view key, rocksdb::Slice) {
          if (key.size() != 9) return true;
          const uint64_t id = readBe(key.substr(1), 8);
          if (!std::binary_search(referenced.begin(), referenced.end(), id)) {
            writes.add(WriteSet::DeleteMessage{id});
            if (writes.ops().size() >= kDeletesPerCommit) {
              commit(std::exchange(writes, WriteSet{}), nullptr);
              writes.setNeedsSync(false);
            }
          }
          return true;
        },
        snapshot);
    db_->ReleaseSnapshot(snapshot);
    if (!writes.empty()) commit(std::move(writes), nullptr);
    flush();
  }

  ChatStore* chat() override { return this; }

  // --- ChatStore reads --------------------------------------------------------------------

  std::optional<Conversation> loadConversation(std::string_view conv) override {
    std::string key(1, kConversationPrefix), value, scratch;
    key.append(conv);
    if (!get(key, value, "loadConversation")) return std::nullopt;
    const auto* c = decode<fb::StoredConversation>(value, scratch);
    if (c == nullptr) return std::nullopt;
    return toConversation(conv, *c);
  }

  std::vector<Conversation> listConversations(std::string_view after, size_t limit) override {
    std::vector<Conversation> out;
    if (limit == 0) return out;
    std::string scratch;
    const std::string prefix(1, kConversationPrefix);
    std::string start = prefix;
    start.append(after);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      const std::string_view id = key.substr(1);
      if (!after.empty() && id == after) return true;
      if (const auto* c = decode<fb::StoredConversation>(value, scratch)) {
        out.push_back(toConversation(id, *c));
      }
      return out.size() < limit;
    });
    return out;
  }

  std::optional<Member> loadMember(std::string_view conv, std::string_view user) override {
    std::string key, value, scratch;
    clientKey(key, kMemberPrefix, conv);
    key.append(user);
    if (!get(key, value, "loadMember")) return std::nullopt;
    const auto* m = decode<fb::StoredMember>(value, scratch);
    if (m == nullptr) return std::nullopt;
    return Member{std::string(conv), std::string(user), static_cast<MemberRole>(m->role()),
                  m->joined_seq()};
  }

  std::vector<Member> loadMembers(std::string_view conv, std::string_view after_user,
                                  size_t limit) override {
    std::vector<Member> out;
    if (limit == 0) return out;
    std::string prefix, scratch;
    clientKey(prefix, kMemberPrefix, conv);
    std::string start = prefix;
    start.append(after_user);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      const std::string_view user = key.substr(prefix.size());
      if (!after_user.empty() && user == after_user) return true;
      if (const auto* m = decode<fb::StoredMember>(value, scratch)) {
        out.push_back(Member{std::string(conv), std::string(user),
                             static_cast<MemberRole>(m->role()), m->joined_seq()});
      }
      return out.size() < limit;
    });
    return out;
  }

  std::vector<UserConversation> loadUserConversations(std::string_view user,
                                                      std::string_view after_conv,
                                                      size_t limit) override {
    std::vector<UserConversation> out;
    if (limit == 0) return out;
    std::string prefix;
    clientKey(prefix, kUserConvPrefix, user);
    std::string start = prefix;
    start.append(after_conv);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      const std::string_view conv = key.substr(prefix.size());
      if (!after_conv.empty() && conv == after_conv) return true;
      const auto role = value.size() == 1 ? static_cast<MemberRole>(value[0]) : MemberRole::Member;
      out.push_back(UserConversation{std::string(conv), role});
      return out.size() < limit;
    });
    return out;
  }

  std::optional<std::string> findDirectConversation(std::string_view user_a,
                                                    std::string_view user_b) override {
    std::string key, value;
    directKey(key, user_a, user_b);
    if (!get(key, value, "findDirectConversation")) return std::nullopt;
    return value;
  }

  std::vector<ChatRecord> loadChatLog(std::string_view conv, uint64_t from_seq,
                                      size_t limit) override {
    std::vector<ChatRecord> out;
    if (limit == 0) return out;
    std::string prefix, start, scratch;
    clientKey(prefix, kLogPrefix, conv);
    logKey(start, conv, from_seq);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      if (key.size() != prefix.size() + 8) return true;
      if (const auto* r = decode<fb::StoredChatRecord>(value, scratch)) {
        out.push_back(toChatRecord(conv, readBe(key.substr(prefix.size()), 8), *r));
      }
      return out.size() < limit;
    });
    return out;
  }

  std::vector<ChatRecord> loadChatLogBefore(std::string_view conv, uint64_t before_seq,
                                            size_t limit) override {
    std::vector<ChatRecord> out;
    if (limit == 0 || before_seq == 1) return out;
    std::string lower, upper, scratch;
    clientKey(lower, kLogPrefix, conv);
    if (before_seq == 0) {
      upper = prefixEnd(lower);
    } else {
      logKey(upper, conv, before_seq);
    }
    const rocksdb::Slice lower_slice(lower), upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->SeekToLast(); it->Valid() && out.size() < limit; it->Prev()) {
      const std::string_view key(it->key().data(), it->key().size());
      if (key.size() != lower.size() + 8) continue;
      if (const auto* r = decode<fb::StoredChatRecord>(it->value(), scratch)) {
        out.push_back(toChatRecord(conv, readBe(key.substr(lower.size()), 8), *r));
      }
    }
    if (!it->status().ok()) logError("loadChatLogBefore", it->status());
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::optional<uint64_t> findChatDedup(std::string_view conv, std::string_view sender_user,
                                        std::string_view cmid) override {
    std::string key, value;
    dedupKey(key, conv, sender_user, cmid);
    if (!get(key, value, "findChatDedup") || value.size() != 8) return std::nullopt;
    return readBe(value, 8);
  }

  uint64_t loadChatHead(std::string_view conv) override {
    return loadBe64(kHeadPrefix, conv).value_or(0);
  }

  uint64_t loadChatFloor(std::string_view conv) override {
    return std::max<uint64_t>(loadBe64(kFloorPrefix, conv).value_or(1), 1);
  }

  std::vector<ChatOffset> loadChatOffsets(std::string_view client_id) override {
    std::vector<ChatOffset> out;
    std::string prefix;
    clientKey(prefix, kOffsetPrefix, client_id);
    scan(prefix, prefix, [&](std::string_view key, rocksdb::Slice value) {
      if (value.size() == 8) {
        out.push_back(ChatOffset{std::string(client_id), std::string(key.substr(prefix.size())),
                                 readBe(std::string_view(value.data(), 8), 8)});
      }
      return true;
    });
    return out;
  }

  std::vector<ChatCursor> loadChatCursors(std::string_view conv, std::string_view after_user,
                                          size_t limit) override {
    std::vector<ChatCursor> out;
    std::string prefix, from;
    clientKey(prefix, kCursorPrefix, conv);
    from = prefix;
    if (!after_user.empty()) {
      from.append(after_user);
      from.push_back('\0');  // the first key after `after_user`
    }
    scan(prefix, from, [&](std::string_view key, rocksdb::Slice value) {
      if (out.size() >= limit) return false;
      if (value.size() == 16) {
        out.push_back(ChatCursor{std::string(conv), std::string(key.substr(prefix.size())),
                                 readBe(std::string_view(value.data(), 8), 8),
                                 readBe(std::string_view(value.data() + 8, 8), 8)});
      }
      return true;
    });
    return out;
  }

  std::optional<ChatCursor> loadChatCursor(std::string_view conv, std::string_view user) override {
    std::string key, value;
    clientKey(key, kCursorPrefix, conv);
    key.append(user);
    if (!get(key, value, "loadChatCursor") || value.size() != 16) return std::nullopt;
    return ChatCursor{std::string(conv), std::string(user), readBe(value.substr(0, 8), 8),
                      readBe(value.substr(8, 8), 8)};
  }

  std::optional<uint64_t> loadChatOffset(std::string_view client_id,
                                         std::string_view conv) override {
    std::string key, value;
    clientKey(key, kOffsetPrefix, client_id);
    key.append(conv);
    if (!get(key, value, "loadChatOffset") || value.size() != 8) return std::nullopt;
    return readBe(value, 8);
  }

  uint64_t trimChatLog(std::string_view conv, uint64_t floor,
                       std::function<void(const CommitResult&)> done) override {
    const uint64_t current = loadChatFloor(conv);
    floor = std::min(floor, loadChatHead(conv) + 1);
    if (floor <= current) {
      commit(WriteSet{}, std::move(done));  // nothing to trim; still complete on the writer
      return current;
    }
    // Dedup entries of the trimmed records go too (their cmids are in the records), in chunks;
    // the range deletion and the new floor go in the last set.
    constexpr size_t kDeletesPerCommit = 10000;
    WriteSet writes;
    writes.setNeedsSync(false);
    std::string prefix, start, scratch;
    clientKey(prefix, kLogPrefix, conv);
    logKey(start, conv, current);
    scan(prefix, start, [&](std::string_view key, rocksdb::Slice value) {
      if (key.size() != prefix.size() + 8) return true;
      if (readBe(key.substr(prefix.size()), 8) >= floor) return false;
      const auto* r = decode<fb::StoredChatRecord>(value, scratch);
      if (r != nullptr && r->cmid() != nullptr && r->cmid()->size() > 0) {
        writes.add(WriteSet::DeleteChatDedup{
            std::string(conv), r->sender_user() ? r->sender_user()->str() : std::string(),
            r->cmid()->str()});
        if (writes.ops().size() >= kDeletesPerCommit) {
          commit(std::exchange(writes, WriteSet{}), nullptr);
          writes.setNeedsSync(false);
        }
      }
      return true;
    });
    writes.add(WriteSet::TrimChatLog{std::string(conv), floor});
    writes.setNeedsSync(true);
    commit(std::move(writes), std::move(done));
    return floor;
  }

  Stats stats() const override {
    Stats s;
    s.commits = commits_.load(std::memory_order_relaxed);
    s.batches = batches_.load(std::memory_order_relaxed);
    s.syncs = syncs_.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    s.records_written = records_written_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct Pending {
    WriteSet writes;
    std::function<void(const CommitResult&)> done;
    uint64_t first_new_id;  // 0 if the set has no new message
    uint32_t new_messages;
  };
  using Clock = std::chrono::steady_clock;

  // Point read into `value`; false if absent or on error (logged).
  bool get(const std::string& key, std::string& value, const char* what) {
    auto s = db_->Get(rocksdb::ReadOptions(), slice(key), &value);
    if (s.IsNotFound()) return false;
    if (!s.ok()) {
      logError(what, s);
      return false;
    }
    return true;
  }

  // The be64 value under `prefix` + `name` (head and floor keys).
  std::optional<uint64_t> loadBe64(char prefix, std::string_view name) {
    std::string key(1, prefix), value;
    key.append(name);
    if (!get(key, value, "read") || value.size() != 8) return std::nullopt;
    return readBe(value, 8);
  }

  // Calls fn(key, value) for keys in [start, prefixEnd(prefix)) until it returns false.
  template <class Fn>
  void scan(const std::string& prefix, const std::string& start, Fn&& fn,
            const rocksdb::Snapshot* snapshot = nullptr) {
    const std::string end = prefixEnd(prefix);
    const rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(start); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (!fn(std::string_view(k.data(), k.size()), it->value())) break;
    }
    if (!it->status().ok()) logError("scan", it->status());
  }

  void writerLoop() {
    std::vector<Pending> work;
    bool unsynced = false;  // the WAL holds writes no fsync has covered yet
    auto last_sync = Clock::now();
    std::unique_lock lk(mu_);
    for (;;) {
      if (pending_.empty() && !sync_requested_) {
        if (stop_) break;
        if (durability_ == Durability::Batched && unsynced) {
          work_cv_.wait_until(lk, last_sync + batched_interval_);
        } else {
          work_cv_.wait(lk);
        }
      }
      work.swap(pending_);
      const bool sync_requested = std::exchange(sync_requested_, false);
      const uint64_t through = enqueued_;
      lk.unlock();

      if (!work.empty()) {
        switch (writeGroup(work)) {
          case WriteOutcome::Synced:
            unsynced = false;  // an fsync of the WAL covers every earlier write too
            last_sync = Clock::now();
            break;
          case WriteOutcome::Unsynced:
          case WriteOutcome::Failed:
            unsynced = true;
            break;
          case WriteOutcome::Nothing:
            break;
        }
        work.clear();  // keeps capacity: the next swap hands it to commit()
      }
      if (unsynced && durability_ != Durability::None &&
          (sync_requested ||
           (durability_ == Durability::Batched && Clock::now() - last_sync >= batched_interval_))) {
        syncWal();
        unsynced = false;
        last_sync = Clock::now();
      }

      lk.lock();
      if (!unsynced || durability_ == Durability::None) durable_ = through;
      done_cv_.notify_all();
    }
    lk.unlock();
    if (unsynced && durability_ != Durability::None) syncWal();
  }

  void syncWal() {
    if (auto s = db_->SyncWAL(); s.ok()) {
      syncs_.fetch_add(1, std::memory_order_relaxed);
    } else {
      logError("SyncWAL", s);
    }
  }

  enum class WriteOutcome { Nothing, Synced, Unsynced, Failed };

  // One group commit: encode every pending set into batch_, one write, then the completions.
  WriteOutcome writeGroup(std::vector<Pending>& work) {
    batch_.Clear();
    bool needs_sync = false;
    uint64_t highest_new_id = 0;
    for (Pending& p : work) {
      encode(p);
      needs_sync = needs_sync || p.writes.needsSync();
      if (p.new_messages > 0) highest_new_id = p.first_new_id + p.new_messages - 1;
    }
    if (highest_new_id > 0) {
      // Ids never go backwards across restarts, even after every message has been deleted.
      value_.clear();
      appendBe(value_, highest_new_id, 8);
      batch_.Put(slice(kLastIdKey), value_);
    }

    WriteOutcome outcome = WriteOutcome::Nothing;
    rocksdb::Status status;
    if (batch_.Count() > 0) {
      rocksdb::WriteOptions wo;
      wo.sync = durability_ == Durability::Sync && needs_sync;
      status = db_->Write(wo, &batch_);
      batches_.fetch_add(1, std::memory_order_relaxed);
      if (status.ok()) {
        bytes_written_.fetch_add(batch_.GetDataSize(), std::memory_order_relaxed);
        records_written_.fetch_add(batch_.Count(), std::memory_order_relaxed);
        if (wo.sync) syncs_.fetch_add(1, std::memory_order_relaxed);
        outcome = wo.sync ? WriteOutcome::Synced : WriteOutcome::Unsynced;
      } else {
        logError("write", status);
        outcome = WriteOutcome::Failed;
      }
    }

    commits_.fetch_add(work.size(), std::memory_order_relaxed);
    CommitResult result;
    result.ok = status.ok();
    for (Pending& p : work) {
      if (!p.done) continue;
      result.message_id = p.first_new_id;
      try {
        p.done(result);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "parley store: completion threw: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "parley store: completion threw\n");
      }
    }
    return outcome;
  }

  void encode(Pending& p) {
    uint64_t next_new = p.first_new_id;
    uint64_t current_new = p.first_new_id;  // what a 0 reference resolves to
    for (WriteSet::Op& op : p.writes.ops()) {
      std::visit(Overloaded{
                     [&](WriteSet::PutMessage& o) {
                       uint64_t id = o.message.id;
                       if (id == 0) id = current_new = next_new++;
                       messageKey(id);
                       batch_.Put(key_, enc_.message(o.message, id));
                     },
                     [&](WriteSet::DeleteMessage& o) {
                       messageKey(o.id);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutSession& o) {
                       sessionKey(o.session.client_id);
                       batch_.Put(key_, enc_.session(o.session));
                     },
                     [&](WriteSet::DeleteSession& o) {
                       sessionKey(o.client_id);
                       batch_.Delete(key_);
                       for (char prefix :
                            {kSubscriptionPrefix, kQueuePrefix, kInboundPrefix, kOffsetPrefix}) {
                         clientKey(key_, prefix, o.client_id);
                         batch_.DeleteRange(key_, prefixEnd(key_));
                       }
                     },
                     [&](WriteSet::PutSubscription& o) {
                       clientKey(key_, kSubscriptionPrefix, o.subscription.client_id);
                       key_.append(o.subscription.filter);
                       batch_.Put(key_, enc_.subscription(o.subscription));
                     },
                     [&](WriteSet::DeleteSubscription& o) {
                       clientKey(key_, kSubscriptionPrefix, o.client_id);
                       key_.append(o.filter);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutQueueEntry& o) {
                       if (o.entry.msg_id == 0) o.entry.msg_id = current_new;
                       queueKey(o.entry.client_id, o.entry.msg_id);
                       batch_.Put(key_, enc_.queueEntry(o.entry));
                     },
                     [&](WriteSet::DeleteQueueEntry& o) {
                       queueKey(o.client_id, o.msg_id);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutInbound& o) {
                       inboundKey(o.client_id, o.packet_id);
                       batch_.Put(key_, rocksdb::Slice());
                     },
                     [&](WriteSet::DeleteInbound& o) {
                       inboundKey(o.client_id, o.packet_id);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutRetained& o) {
                       if (o.message.id == 0) o.message.id = current_new;
                       retainedKey(o.message.topic);
                       batch_.Put(key_, enc_.message(o.message, o.message.id));
                     },
                     [&](WriteSet::DeleteRetained& o) {
                       retainedKey(o.topic);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutConversation& o) {
                       key_.assign(1, kConversationPrefix);
                       key_.append(o.conversation.id);
                       batch_.Put(key_, enc_.conversation(o.conversation));
                     },
                     [&](WriteSet::PutMember& o) {
                       clientKey(key_, kMemberPrefix, o.member.conv);
                       key_.append(o.member.user);
                       batch_.Put(key_, enc_.member(o.member));
                       clientKey(key_, kUserConvPrefix, o.member.user);
                       key_.append(o.member.conv);
                       const char role = static_cast<char>(o.member.role);
                       batch_.Put(key_, rocksdb::Slice(&role, 1));
                     },
                     [&](WriteSet::DeleteMember& o) {
                       clientKey(key_, kMemberPrefix, o.conv);
                       key_.append(o.user);
                       batch_.Delete(key_);
                       clientKey(key_, kUserConvPrefix, o.user);
                       key_.append(o.conv);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutDirectIndex& o) {
                       directKey(key_, o.user_a, o.user_b);
                       batch_.Put(key_, o.conv);
                     },
                     [&](WriteSet::PutChatRecord& o) {
                       const ChatRecord& r = o.record;
                       value_.clear();
                       appendBe(value_, r.seq, 8);
                       if (!r.cmid.empty()) {
                         dedupKey(key_, r.conv, r.sender_user, r.cmid);
                         batch_.Put(key_, value_);
                       }
                       key_.assign(1, kHeadPrefix);
                       key_.append(r.conv);
                       batch_.Put(key_, value_);
                       logKey(key_, r.conv, r.seq);
                       batch_.Put(key_, enc_.chatRecord(r));
                     },
                     [&](WriteSet::DeleteChatDedup& o) {
                       dedupKey(key_, o.conv, o.sender_user, o.cmid);
                       batch_.Delete(key_);
                     },
                     [&](WriteSet::PutChatCursor& o) {
                       clientKey(key_, kCursorPrefix, o.cursor.conv);
                       key_.append(o.cursor.user);
                       value_.clear();
                       appendBe(value_, o.cursor.delivered, 8);
                       appendBe(value_, o.cursor.read, 8);
                       batch_.Put(key_, value_);
                     },
                     [&](WriteSet::PutChatOffset& o) {
                       clientKey(key_, kOffsetPrefix, o.offset.client_id);
                       key_.append(o.offset.conv);
                       value_.clear();
                       appendBe(value_, o.offset.seq, 8);
                       batch_.Put(key_, value_);
                     },
                     [&](WriteSet::TrimChatLog& o) {
                       logKey(key_, o.conv, 0);
                       logKey(value_, o.conv, o.floor);
                       batch_.DeleteRange(key_, value_);
                       key_.assign(1, kFloorPrefix);
                       key_.append(o.conv);
                       value_.clear();
                       appendBe(value_, o.floor, 8);
                       batch_.Put(key_, value_);
                     },
                 },
                 op);
    }
  }

  void messageKey(uint64_t id) {
    key_.assign(1, kMessagePrefix);
    appendBe(key_, id, 8);
  }
  void sessionKey(std::string_view client) {
    key_.assign(1, kSessionPrefix);
    key_.append(client);
  }
  void queueKey(std::string_view client, uint64_t msg_id) {
    clientKey(key_, kQueuePrefix, client);
    appendBe(key_, msg_id, 8);
  }
  void inboundKey(std::string_view client, uint16_t packet_id) {
    clientKey(key_, kInboundPrefix, client);
    appendBe(key_, packet_id, 2);
  }
  void retainedKey(std::string_view topic) {
    key_.assign(1, kRetainedPrefix);
    key_.append(topic);
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const Durability durability_;
  const std::chrono::milliseconds batched_interval_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // wakes the writer: work, a sync request, or stop
  std::condition_variable done_cv_;  // wakes flush(): durable_ moved
  // --- guarded by mu_ ---
  std::vector<Pending> pending_;
  uint64_t last_id_;       // highest message id handed out
  uint64_t enqueued_ = 0;  // WriteSets ever queued
  uint64_t durable_ = 0;   // of those, how many are applied and synced (applied for None)
  bool sync_requested_ = false;
  bool stop_ = false;

  // --- writer thread only ---
  rocksdb::WriteBatch batch_;
  RecordEncoder enc_;
  std::string key_, value_;

  std::atomic<uint64_t> commits_{0}, batches_{0}, syncs_{0}, bytes_written_{0}, records_written_{0};

  std::thread writer_;  // last: it starts in the constructor and uses everything above
};

// The highest message id in use: the persisted high-water mark, the last message key, and every
// retained record (retained ids are kept as given, so they may come from anywhere).
uint64_t recoverLastMessageId(rocksdb::DB& db) {
  uint64_t last = 0;
  std::string value;
  if (db.Get(rocksdb::ReadOptions(), slice(kLastIdKey), &value).ok() && value.size() == 8) {
    last = readBe(value, 8);
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    const std::string past_messages(1, static_cast<char>(kMessagePrefix + 1));
    it->SeekForPrev(past_messages);
    if (it->Valid() && it->key().size() == 9 && it->key()[0] == kMessagePrefix) {
      last = std::max(last, readBe(std::string_view(it->key().data(), 9).substr(1), 8));
    }
  }
  const std::string prefix(1, kRetainedPrefix);
  const std::string end = prefixEnd(prefix);
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro));
  std::string scratch;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (const auto* m = decode<fb::StoredMessage>(it->value(), scratch)) {
      last = std::max(last, m->id());
    }
  }
  if (!it->status().ok())
    throw std::runtime_error("store: reading retained: " + it->status().ToString());
  return last;
}

void checkFormat(rocksdb::DB& db, const std::string& path) {
  std::string value;
  auto s = db.Get(rocksdb::ReadOptions(), slice(kFormatKey), &value);
  if (s.IsNotFound()) {
    value.clear();
    appendBe(value, kFormatVersion, 4);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db.Put(wo, slice(kFormatKey), value);
    if (!s.ok()) throw std::runtime_error("store " + path + ": " + s.ToString());
    return;
  }
  if (!s.ok()) throw std::runtime_error("store " + path + ": " + s.ToString());
  if (value.size() != 4 || readBe(value, 4) != kFormatVersion) {
    throw std::runtime_error("store " + path + ": unsupported on-disk format");
  }
}

}  // namespace

// Memtable insertion hints. Message keys ('m' id) and each session's queue keys ('q' client id)
// are appended in increasing id order, so the memtable's skip list can continue from where the
// previous key of the same prefix went instead of searching from the top: a quarter less
// store-thread CPU per durable message in the durable-pairs benchmark (bench/RESULTS.md).
// The prefix only steers where insertion starts; it never changes what is stored.
class AppendOrderPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "parley.AppendOrderPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (key[0] == kMessagePrefix) return rocksdb::Slice(key.data(), 1);
    return rocksdb::Slice(key.data(), key.size() - 8);  // 'q' len client, without the id
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return !key.empty() &&
           (key[0] == kMessagePrefix || (key[0] == kQueuePrefix && key.size() > 1 + 4 + 8));
  }
};

std::unique_ptr<Store> openRocksDbStore(const StoreOptions& options) {
  rocksdb::Options opts;
  opts.memtable_insert_with_hint_prefix_extractor = std::make_shared<AppendOrderPrefix>();
  opts.create_if_missing = true;
  opts.manual_wal_flush = false;  // every Write reaches the WAL file; sync decides the fsync
  rocksdb::BlockBasedTableOptions table;
  if (options.block_cache_mb > 0) {
    table.block_cache = rocksdb::NewLRUCache(options.block_cache_mb << 20);
  } else {
    table.no_block_cache = true;
  }
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(opts, options.path, &raw);
  if (!s.ok()) throw std::runtime_error("store: opening " + options.path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  checkFormat(*db, options.path);
  const uint64_t last_id = recoverLastMessageId(*db);
  return std::make_unique<RocksDbStore>(std::move(db), options, last_id);
}

}  // namespace parley::store
