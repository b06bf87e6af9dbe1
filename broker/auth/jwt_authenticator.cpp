#include "jwt_authenticator.hpp"

#include <jwt.h>

#include <ctime>
#include <memory>
#include <stdexcept>

namespace parley::auth {

using mqtt::Reason;

JwtAuthenticator::JwtAuthenticator(JwtOptions options) : options_(std::move(options)) {
  if (options_.algorithm == "HS256")
    alg_ = JWT_ALG_HS256;
  else if (options_.algorithm == "RS256")
    alg_ = JWT_ALG_RS256;
  else if (options_.algorithm == "ES256")
    alg_ = JWT_ALG_ES256;
  else
    throw std::invalid_argument("JWT algorithm must be HS256, RS256 or ES256");
  if (options_.key.empty()) throw std::invalid_argument("JWT key is empty");
}

core::AuthResult JwtAuthenticator::authenticate(std::string_view,
                                                const std::optional<std::string>& username,
                                                const std::optional<std::string>& password) {
  core::AuthResult r;
  r.reason = Reason::BadUserNameOrPassword;
  if (!username || username->empty() || !password || password->empty()) {
    r.why = "user name and JWT password required";
    return r;
  }
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(&raw, password->c_str(),
                            reinterpret_cast<const unsigned char*>(options_.key.data()),
                            static_cast<int>(options_.key.size()));
  std::unique_ptr<jwt_t, decltype(&jwt_free)> token(raw, &jwt_free);
  if (rc != 0 || !token) {
    r.why = "JWT signature or format invalid";
    return r;
  }
  // The token's own header names its algorithm; accept only the configured one, so an RS256
  // public key can never be used as an HMAC secret (algorithm confusion) and "none" never passes.
  if (jwt_get_alg(token.get()) != static_cast<jwt_alg_t>(alg_)) {
    r.why = "JWT algorithm not accepted";
    return r;
  }
  const long now = static_cast<long>(std::time(nullptr));
  errno = 0;
  const long exp = jwt_get_grant_int(token.get(), "exp");
  if (errno == 0 && exp + options_.leeway_s < now) {
    r.why = "JWT expired";
    return r;
  }
  errno = 0;
  const long nbf = jwt_get_grant_int(token.get(), "nbf");
  if (errno == 0 && nbf - options_.leeway_s > now) {
    r.why = "JWT not yet valid";
    return r;
  }
  const char* sub = jwt_get_grant(token.get(), "sub");
  if (!sub || *username != sub) {
    r.why = "JWT subject does not match the user name";
    r.reason = Reason::NotAuthorized;
    return r;
  }
  r.ok = true;
  r.reason = Reason::Success;
  r.user = *username;
  return r;
}

}  // namespace parley::auth
