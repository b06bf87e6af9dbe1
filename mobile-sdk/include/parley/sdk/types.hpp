// Value types of the Parley chat SDK: what the app sends and receives, and the error values every
// asynchronous call completes with. Plain structs that own their data (std::string holds bytes
// too), so a callback may keep or move them; nothing here refers to Paho or flatbuffers.
// The meaning of each field is in docs/PROTOCOL.md; the names follow schema/chat.fbs.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace parley::sdk {

enum class MessageKind : uint8_t { Text = 0, Media = 1, System = 2, Custom = 3 };
enum class Role : uint8_t { Member = 0, Admin = 1, Owner = 2, ReadOnly = 3 };
enum class ConversationKind : uint8_t { Direct = 0, Group = 1, Channel = 2 };
enum class SystemEvent : uint8_t {
  ConversationCreated = 0,
  MemberAdded = 1,
  MemberRemoved = 2,
  RoleChanged = 3,
  HistoryTrimmed = 4,
};

// Media uploaded to the app's own storage; Parley only carries the pointer.
struct MediaRef {
  std::string url;  // required for MessageKind::Media
  std::string mime;
  uint64_t size = 0;
  std::string sha256;  // 32 raw bytes, optional
  uint32_t width = 0, height = 0;
  std::string thumbnail;  // a tiny inline preview, optional
};

// What a system message reports (membership changes, or a retention notice).
struct SystemInfo {
  SystemEvent event = SystemEvent::ConversationCreated;
  std::string actor;    // "" = the app's backend via the admin API
  std::string subject;  // the member concerned
  Role role = Role::Member;
  Role old_role = Role::Member;
  uint64_t floor_seq = 0;  // HistoryTrimmed: the oldest seq still kept
};

// One message of a conversation's log, as delivered live, replayed, or returned by history().
// A HistoryTrimmed notice has seq 0 (it is not a log entry): messages below system->floor_seq
// that this device never received are gone for good.
struct Message {
  std::string conv;
  uint64_t seq = 0;
  std::string sender_user;    // "" for system messages
  std::string sender_device;  // the sender's device (MQTT client id)
  int64_t server_time_ms = 0;
  std::string cmid;  // as sent ("" for system messages)
  MessageKind kind = MessageKind::Text;
  std::string body;  // Text: UTF-8; Media: caption; Custom: opaque bytes
  std::optional<MediaRef> media;
  uint64_t reply_to = 0;
  std::optional<SystemInfo> system;  // kind == System only
};

// A message to send. An empty cmid gets a fresh one; pass the cmid of an earlier attempt to
// retry it (e.g. from the app's persisted outbox after a restart) — the broker then answers with
// the original seq and stores nothing twice.
struct OutgoingMessage {
  std::string conv;
  std::string body;
  MessageKind kind = MessageKind::Text;
  std::optional<MediaRef> media;
  uint64_t reply_to = 0;
  std::string cmid;
};

// The broker's answer to a send: the message is durable under this seq. seq == 0 only in one
// rare case: the broker acknowledged the message (it is stored) but the SDK could not learn
// its seq (see README, "How a send learns its seq").
struct SendReceipt {
  std::string conv;
  std::string cmid;
  uint64_t seq = 0;
};

struct HistoryPage {
  std::string conv;
  std::vector<Message> messages;  // ascending seq
  uint64_t head_seq = 0;
  uint64_t floor_seq = 0;
  bool has_more = false;  // older messages exist: pass messages.front().seq as before_seq
};

struct ConversationSummary {
  std::string conv;
  ConversationKind kind = ConversationKind::Direct;
  std::string title;
  Role role = Role::Member;  // the caller's role
  uint64_t head_seq = 0;
  uint64_t floor_seq = 0;
  uint64_t offset = 0;  // highest contiguous seq this device acknowledged (0 = none)
  uint32_t member_count = 0;
  uint64_t read_seq = 0;  // the user's read cursor
  uint64_t unread = 0;    // messages after read_seq not sent by the user
};

struct ConversationPage {
  std::vector<ConversationSummary> conversations;  // ordered by id
  std::string next_after;                          // "" = last page
};

struct MemberCursor {
  std::string user;
  uint64_t delivered_seq = 0;
  uint64_t read_seq = 0;
};

struct Receipts {
  std::string conv;
  std::vector<MemberCursor> cursors;
};

struct TypingEvent {
  std::string conv;
  std::string user;
  std::string device;
  std::string state;  // as published: the SDK's typing() sends "1" / "0"
  bool typing() const { return !state.empty() && state != "0"; }
};

struct Presence {
  std::string user;
  bool online = false;
  uint32_t devices = 0;
  int64_t last_seen_ms = 0;
};

struct ConnectInfo {
  bool session_present = false;  // the broker kept this device's session (offsets, follows)
};

// Why an operation failed. reason_code is the MQTT 5 reason code when the broker gave one
// (PUBACK, SUBACK or CONNACK), else 0.
enum class ErrorCode : uint8_t {
  InvalidArgument = 1,    // refused locally, nothing was sent (bad conv id, body too large, …)
  NotAuthorized = 2,      // 0x87 / rpc NotMember, Forbidden: no such conversation, not a member,
                          // read-only, or presence of a user you share no conversation with
  InvalidPayload = 3,     // 0x99: the broker could not accept the envelope
  ServerUnavailable = 4,  // 0x88 / rpc Unavailable: the store failed; retry with the same cmid
  QuotaExceeded = 5,      // 0x97 (and other rate limits): retry later with the same cmid
  Refused = 6,            // any other MQTT refusal (see reason_code)
  NotFound = 7,           // rpc NotFound
  BadRequest = 8,         // rpc BadRequest
  Timeout = 9,            // no answer within the configured time (rpc only)
  ConnectFailed = 10,     // connect(): network error or CONNACK refusal (see reason_code)
  Protocol = 11,          // the broker's answer could not be decoded
  Closed = 12,            // the client was destroyed before the operation completed
};

const char* errorCodeName(ErrorCode c);

struct Error {
  ErrorCode code = ErrorCode::Refused;
  int reason_code = 0;
  std::string message;
  // Worth sending again later (same cmid for sends): the broker may accept it then.
  bool retryable() const {
    return code == ErrorCode::ServerUnavailable || code == ErrorCode::QuotaExceeded ||
           code == ErrorCode::Timeout || code == ErrorCode::ConnectFailed;
  }
};

// A value or an Error. value() on an error throws std::logic_error (a programming mistake);
// check ok() first.
template <class T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& {
    if (!ok()) throw std::logic_error("parley::sdk::Result::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!ok()) throw std::logic_error("parley::sdk::Result::value() on an error");
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    if (ok()) throw std::logic_error("parley::sdk::Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)) {}
  bool ok() const { return !e_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    if (!e_) throw std::logic_error("parley::sdk::Result::error() on success");
    return *e_;
  }

 private:
  std::optional<Error> e_;
};

}  // namespace parley::sdk
