#include "password_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace parley::auth {

namespace {
constexpr std::string_view kScheme = "$pbkdf2-sha256$";
constexpr size_t kSaltBytes = 16;
constexpr size_t kKeyBytes = 32;
constexpr uint32_t kMaxIterations = 10000000;

std::string base64(const uint8_t* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool unbase64(std::string_view in, std::vector<uint8_t>& out) {
  if (in.empty() || in.size() % 4) return false;
  out.resize(in.size() / 4 * 3);
  const int len = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
  if (len < 0) return false;
  size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return true;
}

bool pbkdf2(std::string_view password, const uint8_t* salt, size_t salt_len, uint32_t iterations,
            uint8_t* key, size_t key_len) {
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt,
                           static_cast<int>(salt_len), static_cast<int>(iterations), EVP_sha256(),
                           static_cast<int>(key_len), key) == 1;
}
}  // namespace

std::string hashPassword(std::string_view password, uint32_t iterations) {
  if (iterations == 0 || iterations > kMaxIterations)
    throw std::invalid_argument("iterations out of range");
  uint8_t salt[kSaltBytes];
  uint8_t key[kKeyBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("RAND_bytes failed");
  if (!pbkdf2(password, salt, sizeof salt, iterations, key, sizeof key))
    throw std::runtime_error("PBKDF2 failed");
  return std::string(kScheme) + std::to_string(iterations) + "$" + base64(salt, sizeof salt) + "$" +
         base64(key, sizeof key);
}

bool verifyPassword(std::string_view password, std::string_view encoded) {
  if (encoded.substr(0, kScheme.size()) != kScheme) return false;
  encoded.remove_prefix(kScheme.size());
  const size_t d1 = encoded.find('$');
  if (d1 == std::string_view::npos) return false;
  const size_t d2 = encoded.find('$', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  uint32_t iterations = 0;
  for (char ch : encoded.substr(0, d1)) {
    if (ch < '0' || ch > '9' || iterations > kMaxIterations) return false;
    iterations = iterations * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (iterations == 0 || iterations > kMaxIterations) return false;
  std::vector<uint8_t> salt, expected;
  if (!unbase64(encoded.substr(d1 + 1, d2 - d1 - 1), salt) ||
      !unbase64(encoded.substr(d2 + 1), expected) || expected.empty() || salt.empty())
    return false;
  std::vector<uint8_t> key(expected.size());
  if (!pbkdf2(password, salt.data(), salt.size(), iterations, key.data(), key.size())) return false;
  return CRYPTO_memcmp(key.data(), expected.data(), key.size()) == 0;
}

bool isValidUserName(std::string_view user) {
  return !user.empty() && user.find_first_of(":\r\n") == std::string_view::npos;
}

PasswordEntries parsePasswordFile(std::string_view text) {
  PasswordEntries out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        line.substr(colon + 1, kScheme.size()) != kScheme)
      throw std::invalid_argument("password file line " + std::to_string(line_no) +
                                  ": expected user:$pbkdf2-sha256$...");
    out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
  }
  return out;
}

PasswordEntries readPasswordFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read password file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return parsePasswordFile(ss.str());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

void writePasswordFile(const std::string& path, const PasswordEntries& entries) {
  const std::string tmp = path + ".tmp";
  {
    const mode_t old = ::umask(077);
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ::umask(old);
    if (!f) throw std::runtime_error("cannot write '" + tmp + "'");
    for (const auto& [user, hash] : entries) f << user << ':' << hash << '\n';
    f.flush();
    if (!f) throw std::runtime_error("cannot write '" + tmp + "'");
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot replace '" + path + "'");
}

PasswordAuthenticator::PasswordAuthenticator(std::string path) : path_(std::move(path)) {
  entries_ = std::make_shared<const PasswordEntries>(readPasswordFile(path_));
  if (RAND_bytes(cache_key_.data(), static_cast<int>(cache_key_.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
}

size_t PasswordAuthenticator::userCount() const {
  std::shared_lock lock(mu_);
  return entries_->size();
}

bool PasswordAuthenticator::reload(std::string& error) {
  try {
    auto fresh = std::make_shared<const PasswordEntries>(readPasswordFile(path_));
    std::unique_lock lock(mu_);
    entries_ = std::move(fresh);
    std::fprintf(stderr, "parleyd: password file %s reloaded (%zu users)\n", path_.c_str(),
                 entries_->size());
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

PasswordAuthenticator::Mac PasswordAuthenticator::mac(std::string_view password) const {
  Mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), cache_key_.data(), static_cast<int>(cache_key_.size()),
       reinterpret_cast<const unsigned char*>(password.data()), password.size(), out.data(), &len);
  return out;
}

core::AuthResult PasswordAuthenticator::authenticate(std::string_view,
                                                     const std::optional<std::string>& username,
                                                     const std::optional<std::string>& password) {
  core::AuthResult r;
  r.reason = mqtt::Reason::BadUserNameOrPassword;
  if (!username || username->empty() || !password) {
    r.why = "user name and password required (--auth password)";
    return r;
  }
  std::shared_ptr<const PasswordEntries> entries;
  {
    std::shared_lock lock(mu_);
    entries = entries_;
  }
  auto it = entries->find(*username);
  if (it == entries->end()) {
    r.why = "unknown user";
    return r;
  }
  const Mac m = mac(*password);
  {
    std::lock_guard lock(cache_mu_);
    auto v = verified_.find(*username);
    if (v != verified_.end() && v->second.hash == it->second &&
        CRYPTO_memcmp(v->second.mac.data(), m.data(), m.size()) == 0)
      return {true, mqtt::Reason::Success, *username, ""};
  }
  if (!verifyPassword(*password, it->second)) {
    r.why = "wrong password";
    return r;
  }
  {
    std::lock_guard lock(cache_mu_);
    verified_[*username] = Verified{it->second, m};
  }
  return {true, mqtt::Reason::Success, *username, ""};
}

}  // namespace parley::auth
