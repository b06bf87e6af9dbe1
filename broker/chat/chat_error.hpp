// ChatStatus / ChatError: how the chat layer says no. Errors are values (parley::Result); each
// status maps to exactly one MQTT 5.0 reason code (for PUBACK) and one HTTP status (admin API).
#pragma once
#include <string>

#include "reason_codes.hpp"

namespace parley::chat {

enum class ChatStatus {
  Ok,
  BadRequest,   // malformed envelope or request field
  NotFound,     // no such conversation / member
  NotMember,    // the user is not a member of the conversation
  Forbidden,    // the user's role does not allow it (read-only member, admin granting owner, …)
  Conflict,     // already exists, last owner, member cap reached, direct members are fixed
  Unavailable,  // the store failed; retry later
};

struct ChatError {
  ChatStatus status = ChatStatus::BadRequest;
  std::string message;
};

inline const char* statusName(ChatStatus s) {
  switch (s) {
    case ChatStatus::Ok:
      return "ok";
    case ChatStatus::BadRequest:
      return "bad_request";
    case ChatStatus::NotFound:
      return "not_found";
    case ChatStatus::NotMember:
      return "not_member";
    case ChatStatus::Forbidden:
      return "forbidden";
    case ChatStatus::Conflict:
      return "conflict";
    case ChatStatus::Unavailable:
      return "unavailable";
  }
  return "unknown";
}

// PUBACK reason for a chat send (5.0; a 3.1.1 client is disconnected on anything but Success).
inline mqtt::Reason pubackReason(ChatStatus s) {
  switch (s) {
    case ChatStatus::Ok:
      return mqtt::Reason::Success;
    case ChatStatus::BadRequest:
      return mqtt::Reason::PayloadFormatInvalid;
    case ChatStatus::NotFound:
    case ChatStatus::NotMember:
    case ChatStatus::Forbidden:
      return mqtt::Reason::NotAuthorized;
    case ChatStatus::Conflict:
      return mqtt::Reason::ImplementationSpecificError;
    case ChatStatus::Unavailable:
      return mqtt::Reason::ServerUnavailable;
  }
  return mqtt::Reason::UnspecifiedError;
}

inline int httpStatus(ChatStatus s) {
  switch (s) {
    case ChatStatus::Ok:
      return 200;
    case ChatStatus::BadRequest:
      return 400;
    case ChatStatus::NotFound:
      return 404;
    case ChatStatus::NotMember:
    case ChatStatus::Forbidden:
      return 403;
    case ChatStatus::Conflict:
      return 409;
    case ChatStatus::Unavailable:
      return 503;
  }
  return 500;
}

}  // namespace parley::chat
