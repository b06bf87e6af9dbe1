// AdminApi: the admin HTTP API's routing, authentication and JSON, as a function from a request
// to a response — no sockets (AdminServer carries the bytes). The app's backend calls it to
// create conversations and manage members; see README.md "Admin API" for the endpoints.
//
// Auth: every endpoint except GET /healthz needs `Authorization: Bearer <token>`, compared in
// constant time with the configured token. With no token configured every such request is
// refused (401) unless `insecure` is set (development only; logged at start-up).
//
// Threading: handle() may be called from any thread; it blocks while the directory writes
// (membership changes wait for durability), so call it off the MQTT event loops.
#pragma once
#include <string>

#include "conversation_directory.hpp"

namespace parley::admin {

struct AdminOptions {
  std::string token;      // "" = none configured
  bool insecure = false;  // accept requests without a token when none is configured
};

struct AdminRequest {
  std::string method;  // "GET", "POST", …
  std::string target;  // path + optional query, as on the request line
  std::string authorization;
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string body;  // JSON
};

class AdminApi {
 public:
  AdminApi(chat::ConversationDirectory& directory, AdminOptions options);
  AdminResponse handle(const AdminRequest& request);

 private:
  bool authorized(const std::string& header) const;

  chat::ConversationDirectory& directory_;
  AdminOptions options_;
};

}  // namespace parley::admin
