// JwtAuthenticator: user name = user id, password = a JWT signed by the app's auth server
// (HS256 with a shared secret, RS256 or ES256 with the server's public key). Accepts the CONNECT
// when the signature verifies with the configured key *and* algorithm, `exp`/`nbf` hold (with a
// small leeway), and `sub` equals the user name.
//
// Threading: immutable after construction; authenticate() is safe from any thread.
#pragma once
#include <string>

#include "authenticator.hpp"

namespace parley::auth {

struct JwtOptions {
  std::string algorithm = "HS256";  // HS256 | RS256 | ES256
  std::string key;                  // HS256: the secret; RS256/ES256: PEM public key
  long leeway_s = 30;               // clock skew allowed on exp/nbf
};

class JwtAuthenticator final : public core::Authenticator {
 public:
  // Throws std::invalid_argument for an unknown algorithm or an empty key (start-up).
  explicit JwtAuthenticator(JwtOptions options);
  core::AuthResult authenticate(std::string_view client_id,
                                const std::optional<std::string>& username,
                                const std::optional<std::string>& password) override;

 private:
  JwtOptions options_;
  int alg_;  // jwt_alg_t
};

}  // namespace parley::auth
