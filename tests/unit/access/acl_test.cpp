// The ACL matcher: filter coverage and overlap tables, file parsing, rules per user and pattern.
#include "acl.hpp"

#include <gtest/gtest.h>

namespace parley::auth {
namespace {

TEST(AclMatch, FilterCovers) {
  struct Case {
    const char* rule;
    const char* filter;
    bool covers;
  } cases[] = {
      {"a/b", "a/b", true},     {"a/b", "a/c", false},      {"a/+", "a/b", true},
      {"a/+", "a/+", true},     {"a/+", "a/#", false},      {"a/+", "a/b/c", false},
      {"a/#", "a", true},       {"a/#", "a/b/c", true},     {"a/#", "a/+/c", true},
      {"a/#", "a/#", true},     {"a/#", "b/#", false},      {"#", "a/b", true},
      {"#", "#", true},         {"a/b", "a/+", false},      {"a/b", "a/#", false},
      {"+/b", "a/b", true},     {"+/b", "+/b", true},       {"+/b", "#", false},
      {"a", "a/b", false},      {"a/b/c", "a/b", false},    {"#", "$SYS/x", false},
      {"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(filterCovers(c.rule, c.filter), c.covers) << c.rule << " covers " << c.filter;
}

TEST(AclMatch, FiltersOverlap) {
  struct Case {
    const char* a;
    const char* b;
    bool overlap;
  } cases[] = {
      {"a/b", "a/b", true},        {"a/b", "a/c", false},       {"a/#", "#", true},
      {"a/#", "a", true},          {"a/+", "a/b/c", false},     {"a/+/c", "a/b/+", true},
      {"a/secret/#", "a/#", true}, {"a/secret/#", "a/+", true}, {"a/secret/#", "a/public", false},
      {"+", "a/b", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(filtersOverlap(c.a, c.b), c.overlap) << c.a << " ~ " << c.b;
    EXPECT_EQ(filtersOverlap(c.b, c.a), c.overlap) << c.b << " ~ " << c.a;
  }
}

const char* kRules = R"(# example
topic read public/#
topic news
user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write shared/in
pattern write devices/%c/#
user bob
topic read alice/outbox
pattern read users/%u/#
)";

TEST(Acl, ParsesRulesAndCountsThem) {
  Acl acl = Acl::parse(kRules);
  EXPECT_EQ(acl.ruleCount(), 8u);
}

TEST(Acl, RejectsBadLines) {
  EXPECT_THROW(Acl::parse("topic\n"), std::invalid_argument);
  EXPECT_THROW(Acl::parse("topic read\n"), std::invalid_argument);
  EXPECT_THROW(Acl::parse("topic read a/#/b\n"), std::invalid_argument);
  EXPECT_THROW(Acl::parse("user\n"), std::invalid_argument);
  EXPECT_THROW(Acl::parse("allow a\n"), std::invalid_argument);
  try {
    Acl::parse("# ok\ntopic a\nbogus\n");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(Acl, EveryoneRules) {
  Acl acl = Acl::parse(kRules);
  EXPECT_TRUE(acl.canSubscribe("", "anon", "public/x"));
  EXPECT_TRUE(acl.canSubscribe("", "anon", "public/#"));
  EXPECT_FALSE(acl.canPublish("", "anon", "public/x"));  // read only
  EXPECT_TRUE(acl.canPublish("", "anon", "news"));       // no access word: readwrite
  EXPECT_TRUE(acl.canSubscribe("", "anon", "news"));
  EXPECT_FALSE(acl.canSubscribe("", "anon", "#"));
  EXPECT_FALSE(acl.canPublish("", "anon", "alice/x"));
}

TEST(Acl, UserRulesAndDeny) {
  Acl acl = Acl::parse(kRules);
  EXPECT_TRUE(acl.canPublish("alice", "c1", "alice/notes"));
  EXPECT_TRUE(acl.canSubscribe("alice", "c1", "alice/inbox/+"));
  EXPECT_FALSE(acl.canPublish("alice", "c1", "alice/secret/x"));
  EXPECT_FALSE(acl.canSubscribe("alice", "c1", "alice/secret/x"));
  EXPECT_FALSE(acl.canSubscribe("alice", "c1", "alice/#"));  // overlaps the deny
  EXPECT_TRUE(acl.canPublish("alice", "c1", "shared/in"));
  EXPECT_FALSE(acl.canSubscribe("alice", "c1", "shared/in"));  // write only
  EXPECT_FALSE(acl.canPublish("bob", "c2", "alice/notes"));
  EXPECT_TRUE(acl.canSubscribe("bob", "c2", "alice/outbox"));
  EXPECT_TRUE(acl.canSubscribe("bob", "c2", "$share/g/alice/outbox"));
  EXPECT_FALSE(acl.canSubscribe("bob", "c2", "$share/g/alice/#"));
  EXPECT_TRUE(acl.canSubscribe("bob", "c2", "public/x"));  // everyone rules apply too
  EXPECT_FALSE(acl.canSubscribe("carol", "c3", "alice/outbox"));
}

TEST(Acl, PatternsSubstituteUserAndClientId) {
  Acl acl = Acl::parse(kRules);
  // Patterns apply to every client, wherever they stand in the file.
  EXPECT_TRUE(acl.canPublish("carol", "dev9", "devices/dev9/temp"));
  EXPECT_FALSE(acl.canPublish("carol", "dev9", "devices/dev8/temp"));
  EXPECT_TRUE(acl.canSubscribe("carol", "x", "users/carol/#"));
  EXPECT_FALSE(acl.canSubscribe("carol", "x", "users/dave/#"));
  // Anonymous: %u has no value, the pattern does not apply.
  EXPECT_FALSE(acl.canSubscribe("", "x", "users//#"));
}

TEST(Acl, CraftedNamesCannotWidenPatterns) {
  Acl acl = Acl::parse(kRules);
  EXPECT_FALSE(acl.canPublish("carol", "#", "devices/x/y"));
  EXPECT_FALSE(acl.canPublish("carol", "+", "devices/x/y"));
  EXPECT_FALSE(acl.canPublish("carol", "a/b", "devices/a/b/c"));
  EXPECT_FALSE(acl.canSubscribe("#", "x", "users/anyone/x"));
  EXPECT_FALSE(acl.canSubscribe("+", "x", "users/anyone/x"));
}

TEST(Acl, EmptyRulesDenyEverything) {
  Acl acl = Acl::parse("# nothing\n");
  EXPECT_FALSE(acl.canPublish("alice", "c", "a"));
  EXPECT_FALSE(acl.canSubscribe("alice", "c", "a"));
}

}  // namespace
}  // namespace parley::auth
