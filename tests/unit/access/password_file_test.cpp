// Password hashing (PBKDF2-HMAC-SHA256) and the password-file authenticator.
#include "password_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace parley::auth {
namespace {

TEST(PasswordHash, VerifiesOnlyTheRightPassword) {
  const std::string h = hashPassword("correct horse", 1000);
  EXPECT_EQ(h.rfind("$pbkdf2-sha256$1000$", 0), 0u) << h;
  EXPECT_TRUE(verifyPassword("correct horse", h));
  EXPECT_FALSE(verifyPassword("correct horse ", h));
  EXPECT_FALSE(verifyPassword("", h));
  EXPECT_FALSE(verifyPassword("Correct horse", h));
}

TEST(PasswordHash, SaltedSoEqualPasswordsHashDifferently) {
  EXPECT_NE(hashPassword("pw", 1000), hashPassword("pw", 1000));
}

TEST(PasswordHash, IterationsAreTakenFromTheHash) {
  const std::string h = hashPassword("pw", 1000);
  std::string other = h;
  other.replace(other.find("$1000$"), 6, "$1001$");
  EXPECT_FALSE(verifyPassword("pw", other));
}

TEST(PasswordHash, MalformedHashesNeverVerify) {
  for (const char* bad :
       {"", "pw", "$pbkdf2-sha256$", "$pbkdf2-sha256$0$AAAA$AAAA", "$pbkdf2-sha256$x$AAAA$AAAA",
        "$pbkdf2-sha256$10$AAAA", "$pbkdf2-sha256$10$A$AAAA",
        "$pbkdf2-sha256$99999999999$AAAA$AAAA", "$sha512$10$AAAA$AAAA"})
    EXPECT_FALSE(verifyPassword("pw", bad)) << bad;
}

TEST(PasswordFile, ParsesCommentsAndRejectsGarbage) {
  const std::string h = hashPassword("pw", 1000);
  auto e = parsePasswordFile("# users\n\nalice:" + h + "\r\nbob:" + h + "\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e["alice"], h);
  EXPECT_THROW(parsePasswordFile("alice\n"), std::invalid_argument);
  EXPECT_THROW(parsePasswordFile(":" + h + "\n"), std::invalid_argument);
  EXPECT_THROW(parsePasswordFile("alice:plaintext\n"), std::invalid_argument);
}

TEST(PasswordFile, UserNames) {
  EXPECT_TRUE(isValidUserName("alice"));
  EXPECT_FALSE(isValidUserName(""));
  EXPECT_FALSE(isValidUserName("a:b"));
  EXPECT_FALSE(isValidUserName("a\nb"));
}

class PasswordAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("parley-pw-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    writePasswordFile(path_.string(), {{"alice", hashPassword("secret", 1000)}});
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_F(PasswordAuth, FileIsOwnerOnly) {
  const auto perms = std::filesystem::status(path_).permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST_F(PasswordAuth, AcceptsAndRefuses) {
  PasswordAuthenticator a(path_.string());
  EXPECT_EQ(a.userCount(), 1u);
  auto ok = a.authenticate("c", std::string("alice"), std::string("secret"));
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.user, "alice");
  // A second time takes the cached path and must still compare the password.
  EXPECT_TRUE(a.authenticate("c", std::string("alice"), std::string("secret")).ok);
  auto wrong = a.authenticate("c", std::string("alice"), std::string("secreT"));
  EXPECT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.reason, mqtt::Reason::BadUserNameOrPassword);
  EXPECT_FALSE(a.authenticate("c", std::string("bob"), std::string("secret")).ok);
  EXPECT_FALSE(a.authenticate("c", std::nullopt, std::string("secret")).ok);
  EXPECT_FALSE(a.authenticate("c", std::string("alice"), std::nullopt).ok);
}

TEST_F(PasswordAuth, ReloadChangesPasswordsAndDropsCache) {
  PasswordAuthenticator a(path_.string());
  ASSERT_TRUE(a.authenticate("c", std::string("alice"), std::string("secret")).ok);
  writePasswordFile(path_.string(), {{"alice", hashPassword("new", 1000)}});
  std::string error;
  ASSERT_TRUE(a.reload(error)) << error;
  EXPECT_FALSE(a.authenticate("c", std::string("alice"), std::string("secret")).ok);
  EXPECT_TRUE(a.authenticate("c", std::string("alice"), std::string("new")).ok);
  std::ofstream(path_) << "garbage\n";
  EXPECT_FALSE(a.reload(error));
  EXPECT_TRUE(a.authenticate("c", std::string("alice"), std::string("new")).ok);
}

}  // namespace
}  // namespace parley::auth
