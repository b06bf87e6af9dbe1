#include "retained_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "match_table.hpp"

namespace parley::topics {
namespace {

using Found = std::vector<std::pair<std::string, int>>;

Found matchAll(const RetainedTree<int>& t, std::string_view filter) {
  Found out;
  t.match(filter, [&](const std::string& topic, const int& v) { out.emplace_back(topic, v); });
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RetainedTree, SetFindErase) {
  RetainedTree<int> t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find("a/b"), nullptr);
  t.set("a/b", 1);
  t.set("a", 2);
  t.set("a/b/c", 3);
  EXPECT_EQ(t.size(), 3u);
  ASSERT_NE(t.find("a/b"), nullptr);
  EXPECT_EQ(*t.find("a/b"), 1);
  EXPECT_EQ(*t.find("a"), 2);
  EXPECT_EQ(*t.find("a/b/c"), 3);
  EXPECT_EQ(t.find("a/b/c/d"), nullptr);
  EXPECT_EQ(t.find("a/"), nullptr);
  EXPECT_EQ(t.find("b"), nullptr);

  t.set("a/b", 10);  // replace
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(*t.find("a/b"), 10);

  EXPECT_TRUE(t.erase("a/b"));
  EXPECT_FALSE(t.erase("a/b"));
  EXPECT_FALSE(t.erase("x"));
  EXPECT_FALSE(t.erase("a/b/c/d"));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find("a/b"), nullptr);
  EXPECT_EQ(*t.find("a/b/c"), 3);  // the node stays as a parent of a/b/c

  EXPECT_TRUE(t.erase("a/b/c"));
  EXPECT_TRUE(t.erase("a"));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(matchAll(t, "#").empty());
}

TEST(RetainedTree, EmptyLevels) {
  RetainedTree<int> t;
  t.set("/", 1);
  t.set("/a", 2);
  t.set("a//b", 3);
  t.set("a/", 4);
  t.set("a", 5);
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(*t.find("/"), 1);
  EXPECT_EQ(*t.find("/a"), 2);
  EXPECT_EQ(*t.find("a//b"), 3);
  EXPECT_EQ(*t.find("a/"), 4);
  EXPECT_EQ(*t.find("a"), 5);
  EXPECT_EQ(t.find("a/b"), nullptr);
  EXPECT_EQ(matchAll(t, "#"), (Found{{"/", 1}, {"/a", 2}, {"a", 5}, {"a/", 4}, {"a//b", 3}}));
  EXPECT_EQ(matchAll(t, "+/+"), (Found{{"/", 1}, {"/a", 2}, {"a/", 4}}));
  EXPECT_EQ(matchAll(t, "a/+/b"), (Found{{"a//b", 3}}));
  EXPECT_EQ(matchAll(t, "a/#"), (Found{{"a", 5}, {"a/", 4}, {"a//b", 3}}));
}

TEST(RetainedTree, Wildcards) {
  RetainedTree<int> t;
  t.set("sport", 1);
  t.set("sport/tennis/player1", 2);
  t.set("sport/tennis/player1/ranking", 3);
  t.set("sport/tennis/player2", 4);
  t.set("sport/golf/player1", 5);
  t.set("news", 6);
  EXPECT_EQ(matchAll(t, "sport/#"), (Found{{"sport", 1},
                                           {"sport/golf/player1", 5},
                                           {"sport/tennis/player1", 2},
                                           {"sport/tennis/player1/ranking", 3},
                                           {"sport/tennis/player2", 4}}));
  EXPECT_EQ(matchAll(t, "sport/tennis/+"),
            (Found{{"sport/tennis/player1", 2}, {"sport/tennis/player2", 4}}));
  EXPECT_EQ(matchAll(t, "sport/+/player1"),
            (Found{{"sport/golf/player1", 5}, {"sport/tennis/player1", 2}}));
  EXPECT_EQ(matchAll(t, "sport/tennis/player1/#"),
            (Found{{"sport/tennis/player1", 2}, {"sport/tennis/player1/ranking", 3}}));
  EXPECT_EQ(matchAll(t, "+"), (Found{{"news", 6}, {"sport", 1}}));
  EXPECT_EQ(matchAll(t, "sport/+"), Found{});
  EXPECT_EQ(matchAll(t, "news"), (Found{{"news", 6}}));
  EXPECT_EQ(matchAll(t, "nothing/#"), Found{});
  EXPECT_EQ(matchAll(t, "#").size(), 6u);
}

TEST(RetainedTree, DollarTopics) {
  RetainedTree<int> t;
  t.set("$SYS/broker/uptime", 1);
  t.set("$SYS", 2);
  t.set("a/$b", 3);
  t.set("a", 4);
  EXPECT_EQ(matchAll(t, "#"), (Found{{"a", 4}, {"a/$b", 3}}));
  EXPECT_EQ(matchAll(t, "+"), (Found{{"a", 4}}));
  EXPECT_EQ(matchAll(t, "+/broker/uptime"), Found{});
  EXPECT_EQ(matchAll(t, "+/#"), (Found{{"a", 4}, {"a/$b", 3}}));
  EXPECT_EQ(matchAll(t, "$SYS/#"), (Found{{"$SYS", 2}, {"$SYS/broker/uptime", 1}}));
  EXPECT_EQ(matchAll(t, "$SYS/+/uptime"), (Found{{"$SYS/broker/uptime", 1}}));
  EXPECT_EQ(matchAll(t, "a/+"), (Found{{"a/$b", 3}}));
}

TEST(RetainedTree, SpecTable) {
  for (const auto& c : test::kMatchTable) {
    RetainedTree<int> t;
    t.set(c.name, 1);
    EXPECT_EQ(matchAll(t, c.filter).size(), c.matches ? 1u : 0u)
        << "filter '" << c.filter << "' name '" << c.name << "'";
  }
}

TEST(RetainedTree, MoveOnlyValues) {
  RetainedTree<std::unique_ptr<int>> t;
  t.set("a", std::make_unique<int>(5));
  ASSERT_NE(t.find("a"), nullptr);
  EXPECT_EQ(**t.find("a"), 5);
}

TEST(RetainedTree, RandomizedAgainstTopicMatches) {
  static const char* const kNameLevels[] = {"a", "b", "", "$x", "$SYS", "ab"};
  static const char* const kFilterLevels[] = {"a", "b", "", "$x", "$SYS", "+", "+"};
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    auto make = [&](const char* const* levels, size_t count) {
      std::string s;
      const size_t n = 1 + pick(4);
      for (size_t i = 0; i < n; ++i) {
        if (i) s += '/';
        s += levels[pick(count)];
      }
      return s.empty() ? std::string("/") : s;  // a lone empty level is not a valid topic
    };

    RetainedTree<int> t;
    std::map<std::string, int> model;
    for (int op = 0; op < 300; ++op) {
      const std::string name = make(kNameLevels, std::size(kNameLevels));
      if (pick(3) == 0) {
        ASSERT_EQ(t.erase(name), model.erase(name) == 1) << name;
      } else {
        t.set(name, op);
        model[name] = op;
      }
    }
    ASSERT_EQ(t.size(), model.size());
    for (const auto& [name, v] : model) {
      ASSERT_NE(t.find(name), nullptr) << name;
      EXPECT_EQ(*t.find(name), v);
    }

    for (int q = 0; q < 200; ++q) {
      std::string filter = make(kFilterLevels, std::size(kFilterLevels));
      if (pick(4) == 0) filter = pick(5) == 0 ? "#" : filter + "/#";
      Found want;
      for (const auto& [name, v] : model)
        if (topicMatches(filter, name)) want.emplace_back(name, v);
      ASSERT_EQ(matchAll(t, filter), want) << "seed " << seed << " filter '" << filter << "'";
    }

    for (const auto& [name, v] : model) ASSERT_TRUE(t.erase(name)) << name;
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(matchAll(t, "#").empty());
  }
}

}  // namespace
}  // namespace parley::topics
