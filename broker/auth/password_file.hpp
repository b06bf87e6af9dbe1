// Password file for plain MQTT user names and passwords, and the Authenticator that checks
// CONNECTs against it.
//
// File format: one "user:hash" per line; blank lines and lines starting with '#' are ignored.
// hash = "$pbkdf2-sha256$ITERATIONS$SALT$KEY" with SALT (16 random bytes) and KEY (32 bytes of
// PBKDF2-HMAC-SHA256) in base64. Created and edited by `parleyctl passwd`.
//
// PBKDF2 is slow on purpose (tens of ms), which an event loop must not pay on every reconnect of
// a known device: after a successful check the authenticator remembers an HMAC of the password
// under a random per-process key (never the password), so the same user with the same password
// is accepted at the cost of one HMAC until the file changes. A wrong password always pays the
// full price, which --max-connect-rate bounds.
//
// Threading: authenticate() and reload() are safe from any thread.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "authenticator.hpp"

namespace parley::auth {

constexpr uint32_t kDefaultPbkdf2Iterations = 100000;

// Hashes `password` with a fresh random salt (throws std::runtime_error if OpenSSL fails).
std::string hashPassword(std::string_view password, uint32_t iterations = kDefaultPbkdf2Iterations);
// Checks `password` against an encoded hash in constant time; false for a malformed hash too.
bool verifyPassword(std::string_view password, std::string_view encoded);

// Ordered by user so a rewritten file is stable. parse throws std::invalid_argument naming the
// line; read throws std::runtime_error if the file cannot be read.
using PasswordEntries = std::map<std::string, std::string>;
PasswordEntries parsePasswordFile(std::string_view text);
PasswordEntries readPasswordFile(const std::string& path);
// Writes atomically (temporary file + rename), readable by the owner only.
void writePasswordFile(const std::string& path, const PasswordEntries& entries);
// A user name that can be stored: non-empty, no ':' and no line break.
bool isValidUserName(std::string_view user);

class PasswordAuthenticator final : public core::Authenticator {
 public:
  // Throws when the file cannot be read or parsed (start-up).
  explicit PasswordAuthenticator(std::string path);
  core::AuthResult authenticate(std::string_view client_id,
                                const std::optional<std::string>& username,
                                const std::optional<std::string>& password) override;
  // Re-reads the file; on failure keeps the old entries and returns false with `error`.
  bool reload(std::string& error);
  size_t userCount() const;

 private:
  using Mac = std::array<uint8_t, 32>;
  struct Verified {
    std::string hash;  // the entry it was verified against
    Mac mac;           // HMAC(cache_key_, password)
  };
  Mac mac(std::string_view password) const;

  std::string path_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const PasswordEntries> entries_;
  std::array<uint8_t, 32> cache_key_{};
  std::mutex cache_mu_;
  std::unordered_map<std::string, Verified> verified_;
};

}  // namespace parley::auth
