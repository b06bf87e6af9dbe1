// Authenticator: decides whether a CONNECT's credentials are accepted and which user they are.
// The core calls it on the connection's thread during CONNECT; implementations must be
// thread-safe and quick (no network I/O).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "reason_codes.hpp"

namespace parley::core {

struct AuthResult {
  bool ok = false;
  mqtt::Reason reason = mqtt::Reason::NotAuthorized;  // when !ok: BadUserNameOrPassword, ...
  std::string user;                                   // when ok: the authenticated user id
  std::string why;                                    // for the log line when !ok
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual AuthResult authenticate(std::string_view client_id,
                                  const std::optional<std::string>& username,
                                  const std::optional<std::string>& password) = 0;
};

// Authorizer: may this client publish to / subscribe to this topic? Called on the connection's
// thread for every PUBLISH and SUBSCRIBE filter, so implementations must be fast and
// thread-safe. Chat topics (conv/...) keep their own membership rules on top of this.
struct ClientIdentity {
  std::string_view client_id;
  std::string_view user;  // "" when anonymous
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual bool canPublish(const ClientIdentity& who, std::string_view topic) = 0;
  virtual bool canSubscribe(const ClientIdentity& who, std::string_view filter) = 0;
};

class AllowAllAuthorizer final : public Authorizer {
 public:
  bool canPublish(const ClientIdentity&, std::string_view) override { return true; }
  bool canSubscribe(const ClientIdentity&, std::string_view) override { return true; }
};

// Accepts everyone; the user is the user name (or empty). The default for plain MQTT on a
// loopback listener, and the explicit "development mode" of the chat layer.
class AllowAllAuthenticator final : public Authenticator {
 public:
  AuthResult authenticate(std::string_view, const std::optional<std::string>& username,
                          const std::optional<std::string>&) override {
    return {true, mqtt::Reason::Success, username.value_or(""), ""};
  }
};

}  // namespace parley::core
