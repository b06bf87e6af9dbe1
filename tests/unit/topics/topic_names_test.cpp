#include "topic_names.hpp"

#include <gtest/gtest.h>

#include <string>

#include "match_table.hpp"

namespace parley::topics {
namespace {

using namespace std::string_view_literals;

TEST(TopicMatches, SpecTable) {
  for (const auto& c : test::kMatchTable) {
    EXPECT_EQ(topicMatches(c.filter, c.name), c.matches)
        << "filter '" << c.filter << "' name '" << c.name << "'";
  }
}

TEST(TopicMatches, TableUsesValidInput) {
  for (const auto& c : test::kMatchTable) {
    EXPECT_TRUE(isValidTopicFilter(c.filter)) << c.filter;
    EXPECT_TRUE(isValidTopicName(c.name)) << c.name;
  }
}

TEST(TopicMatches, NameWithoutWildcardsMatchesItselfOnly) {
  for (const auto& c : test::kMatchTable) {
    EXPECT_TRUE(topicMatches(c.name, c.name)) << c.name;
  }
  EXPECT_FALSE(topicMatches("a/b", "a/c"));
}

struct ValidityCase {
  std::string_view text;
  bool valid;
};

TEST(TopicNames, Validation) {
  const ValidityCase cases[] = {
      {"a", true},
      {"/", true},
      {"//", true},
      {"a/b/c", true},
      {"$SYS/monitor", true},
      {"Accounts payable", true},
      {"conv/42/typing", true},
      {"caf\xc3\xa9", true},
      {"$share/g/a", true},  // a name, not a filter: nothing special about it
      {"", false},
      {"+", false},
      {"#", false},
      {"a/+", false},
      {"a/#", false},
      {"sport+", false},
      {"a#b", false},
      {"a\0b"sv, false},
      {"\0"sv, false},
  };
  for (const auto& c : cases) EXPECT_EQ(isValidTopicName(c.text), c.valid) << "'" << c.text << "'";
}

TEST(TopicNames, Length) {
  EXPECT_TRUE(isValidTopicName(std::string(65535, 'a')));
  EXPECT_FALSE(isValidTopicName(std::string(65536, 'a')));
  EXPECT_TRUE(isValidTopicFilter(std::string(65535, 'a')));
  EXPECT_FALSE(isValidTopicFilter(std::string(65536, 'a')));
  EXPECT_FALSE(isValidSubscriptionFilter("$share/g/" + std::string(65535, 'a')));
}

TEST(TopicFilters, Validation) {
  const ValidityCase cases[] = {
      {"#", true},
      {"+", true},
      {"/", true},
      {"a", true},
      {"sport/tennis/player1/#", true},
      {"sport/#", true},
      {"sport/tennis/+", true},
      {"+/tennis/#", true},
      {"sport/+/player1", true},
      {"+/+", true},
      {"/+", true},
      {"+/", true},
      {"/#", true},
      {"+/#", true},
      {"$SYS/#", true},
      {"a//b", true},
      {"$share", true},  // no slash: a plain filter
      {"", false},
      {"sport/tennis#", false},
      {"sport/tennis/#/ranking", false},
      {"#/", false},
      {"#/a", false},
      {"##", false},
      {"sport+", false},
      {"+sport", false},
      {"a/b+/c", false},
      {"++", false},
      {"+#", false},
      {"a/#b", false},
      {"a\0b"sv, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(isValidTopicFilter(c.text), c.valid) << "'" << c.text << "'";
    EXPECT_EQ(isValidSubscriptionFilter(c.text), c.valid) << "'" << c.text << "'";
  }
}

TEST(SharedFilters, Parse) {
  auto s = parseShared("$share/workers/jobs/+/new");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->group, "workers");
  EXPECT_EQ(s->filter, "jobs/+/new");

  s = parseShared("$share/g/#");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->group, "g");
  EXPECT_EQ(s->filter, "#");

  s = parseShared("$share/g//");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->filter, "/");

  s = parseShared("$share/g/$SYS/x");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->filter, "$SYS/x");

  EXPECT_FALSE(parseShared("a/b"));
  EXPECT_FALSE(parseShared("$share"));
  EXPECT_FALSE(parseShared("$SHARE/g/a"));
}

TEST(SharedFilters, Validation) {
  const ValidityCase cases[] = {
      {"$share/g/a", true},
      {"$share/g/+", true},
      {"$share/g/#", true},
      {"$share/g/a/b/+/#", true},
      {"$share/group-1/conv/+", true},
      {"$share/g//", true},
      {"$share/g/$SYS/#", true},
      {"$share/", false},
      {"$share//a", false},   // empty group
      {"$share/g", false},    // no filter
      {"$share/g/", false},   // empty filter
      {"$share/+/a", false},  // wildcard in group
      {"$share/#/a", false},
      {"$share/g+/a", false},
      {"$share/g#/a", false},
      {"$share/g/a#", false},  // invalid filter
      {"$share/g/#/a", false},
      {"$share/g/a+", false},
      {"$share/g\0/a"sv, false},
      {"$share/g/a\0"sv, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(isValidSubscriptionFilter(c.text), c.valid) << "'" << c.text << "'";
    EXPECT_TRUE(isShared(c.text)) << c.text;
    EXPECT_EQ(parseShared(c.text).has_value(), c.valid) << c.text;
  }
  EXPECT_FALSE(isShared("$share"));
  EXPECT_FALSE(isShared("$sharex/g/a"));
  EXPECT_FALSE(isShared("share/g/a"));
  EXPECT_FALSE(isShared("a/$share/g/a"));
}

TEST(TopicNames, LevelCount) {
  EXPECT_EQ(levelCount("a"), 1u);
  EXPECT_EQ(levelCount("a/b/c"), 3u);
  EXPECT_EQ(levelCount("/"), 2u);
  EXPECT_EQ(levelCount("a//b"), 3u);
  EXPECT_EQ(levelCount("/a"), 2u);
  EXPECT_EQ(levelCount("a/"), 2u);
  EXPECT_EQ(levelCount("#"), 1u);
}

}  // namespace
}  // namespace parley::topics
