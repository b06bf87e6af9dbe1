// JwtAuthenticator against tokens signed here with libjwt, using keys generated in-process.
#include "jwt_authenticator.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>
#include <memory>
#include <string>

namespace parley::auth {
namespace {

struct KeyPair {
  std::string private_pem, public_pem;
};

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

KeyPair makeKeys(bool ec) {
  EVP_PKEY* key = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  KeyPair kp;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, key);
  kp.private_pem = bioString(priv);
  kp.public_pem = bioString(pub);
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
  return kp;
}

std::string sign(jwt_alg_t alg, const std::string& key, const std::string& sub, long exp_offset,
                 long nbf_offset = 0) {
  jwt_t* t = nullptr;
  jwt_new(&t);
  const long now = static_cast<long>(std::time(nullptr));
  if (!sub.empty()) jwt_add_grant(t, "sub", sub.c_str());
  jwt_add_grant_int(t, "exp", now + exp_offset);
  if (nbf_offset) jwt_add_grant_int(t, "nbf", now + nbf_offset);
  jwt_set_alg(t, alg, reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* s = jwt_encode_str(t);
  std::string out = s ? s : "";
  free(s);
  jwt_free(t);
  return out;
}

const std::string kSecret = "an-hs256-secret-of-reasonable-length";

TEST(JwtAuthenticator, Hs256ValidTokenAccepted) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  auto r = a.authenticate("dev1", std::string("alice"), sign(JWT_ALG_HS256, kSecret, "alice", 600));
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.user, "alice");
}

TEST(JwtAuthenticator, ExpiredTokenRefused) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  auto r = a.authenticate("dev1", std::string("alice"), sign(JWT_ALG_HS256, kSecret, "alice", -60));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, mqtt::Reason::BadUserNameOrPassword);
  EXPECT_EQ(r.why, "JWT expired");
}

TEST(JwtAuthenticator, NotYetValidTokenRefused) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  auto r = a.authenticate("d", std::string("alice"),
                          sign(JWT_ALG_HS256, kSecret, "alice", 600, /*nbf=*/300));
  EXPECT_FALSE(r.ok);
}

TEST(JwtAuthenticator, WrongSecretRefused) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  auto r = a.authenticate("d", std::string("alice"),
                          sign(JWT_ALG_HS256, "another-secret-entirely-xxxxxxxx", "alice", 600));
  EXPECT_FALSE(r.ok);
}

TEST(JwtAuthenticator, SubjectMustMatchUserName) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  auto r = a.authenticate("d", std::string("mallory"), sign(JWT_ALG_HS256, kSecret, "alice", 600));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, mqtt::Reason::NotAuthorized);
}

TEST(JwtAuthenticator, MissingCredentialsRefused) {
  JwtAuthenticator a({"HS256", kSecret, 0});
  EXPECT_FALSE(a.authenticate("d", std::nullopt, std::nullopt).ok);
  EXPECT_FALSE(a.authenticate("d", std::string("alice"), std::string("not-a-jwt")).ok);
}

TEST(JwtAuthenticator, Rs256AndEs256) {
  for (bool ec : {false, true}) {
    KeyPair kp = makeKeys(ec);
    JwtAuthenticator a({ec ? "ES256" : "RS256", kp.public_pem, 0});
    auto ok = a.authenticate("d", std::string("bob"),
                             sign(ec ? JWT_ALG_ES256 : JWT_ALG_RS256, kp.private_pem, "bob", 600));
    EXPECT_TRUE(ok.ok) << (ec ? "ES256: " : "RS256: ") << ok.why;
    KeyPair other = makeKeys(ec);
    auto bad =
        a.authenticate("d", std::string("bob"),
                       sign(ec ? JWT_ALG_ES256 : JWT_ALG_RS256, other.private_pem, "bob", 600));
    EXPECT_FALSE(bad.ok);
  }
}

TEST(JwtAuthenticator, AlgorithmConfusionRefused) {
  // An attacker signs HS256 using the server's RSA *public* key as the HMAC secret.
  KeyPair kp = makeKeys(false);
  JwtAuthenticator a({"RS256", kp.public_pem, 0});
  auto r = a.authenticate("d", std::string("bob"), sign(JWT_ALG_HS256, kp.public_pem, "bob", 600));
  EXPECT_FALSE(r.ok);
}

TEST(JwtAuthenticator, UnknownAlgorithmRejectedAtStartup) {
  EXPECT_THROW(JwtAuthenticator({"none", "x", 0}), std::invalid_argument);
  EXPECT_THROW(JwtAuthenticator({"HS256", "", 0}), std::invalid_argument);
}

}  // namespace
}  // namespace parley::auth
