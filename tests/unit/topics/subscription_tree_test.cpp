#include "subscription_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "match_table.hpp"
#include "topic_names.hpp"

namespace parley::topics {
namespace {

SubOptions tagged(uint32_t tag, uint8_t qos = 0) {
  SubOptions o;
  o.qos = qos;
  o.subscription_id = tag;
  return o;
}

// (subscriber, subscription id) of every direct match, sorted.
std::vector<std::pair<SubscriberId, uint32_t>> directOf(const MatchResult& r) {
  std::vector<std::pair<SubscriberId, uint32_t>> v;
  for (const auto& m : r.direct) v.emplace_back(m.subscriber, m.options.subscription_id);
  std::sort(v.begin(), v.end());
  return v;
}

MatchResult matchOf(const SubscriptionTree& t, std::string_view name) {
  MatchResult r;
  t.match(name, r);
  return r;
}

TEST(SubscriptionTree, SpecTableOneFilterPerTree) {
  for (const auto& c : test::kMatchTable) {
    SubscriptionTree t;
    ASSERT_TRUE(t.subscribe(c.filter, 7, tagged(1)));
    const MatchResult r = matchOf(t, c.name);
    EXPECT_EQ(r.direct.size(), c.matches ? 1u : 0u)
        << "filter '" << c.filter << "' name '" << c.name << "'";
    EXPECT_TRUE(r.shared.empty());
  }
}

TEST(SubscriptionTree, SpecTableAllFiltersInOneTree) {
  SubscriptionTree t;
  std::vector<std::string_view> filters;
  for (const auto& c : test::kMatchTable)
    if (std::find(filters.begin(), filters.end(), c.filter) == filters.end())
      filters.push_back(c.filter);
  for (size_t i = 0; i < filters.size(); ++i)
    ASSERT_TRUE(t.subscribe(filters[i], 1, tagged(static_cast<uint32_t>(i))));
  EXPECT_EQ(t.size(), filters.size());
  for (const auto& c : test::kMatchTable) {
    const auto got = directOf(matchOf(t, c.name));
    std::vector<std::pair<SubscriberId, uint32_t>> want;
    for (size_t i = 0; i < filters.size(); ++i)
      if (topicMatches(filters[i], c.name)) want.emplace_back(1, static_cast<uint32_t>(i));
    EXPECT_EQ(got, want) << c.name;
    const bool found =
        std::find(got.begin(), got.end(),
                  std::pair<SubscriberId, uint32_t>(
                      1, static_cast<uint32_t>(std::find(filters.begin(), filters.end(), c.filter) -
                                               filters.begin()))) != got.end();
    EXPECT_EQ(found, c.matches) << "filter '" << c.filter << "' name '" << c.name << "'";
  }
}

TEST(SubscriptionTree, SubscribeReplaceUnsubscribe) {
  SubscriptionTree t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.subscribe("a/b", 1, tagged(1, 0)));
  EXPECT_TRUE(t.subscribe("a/b", 2, tagged(2, 1)));
  EXPECT_TRUE(t.subscribe("a/+", 1, tagged(3, 2)));
  EXPECT_EQ(t.size(), 3u);

  // Re-subscribing the same filter replaces the options.
  EXPECT_FALSE(t.subscribe("a/b", 1, tagged(4, 2)));
  EXPECT_EQ(t.size(), 3u);
  MatchResult r = matchOf(t, "a/b");
  ASSERT_EQ(r.direct.size(), 3u);
  for (const auto& m : r.direct) {
    if (m.subscriber == 1 && m.options.subscription_id == 4) {
      EXPECT_EQ(m.options.qos, 2);
    }
    EXPECT_NE(m.options.subscription_id, 1u);
  }

  EXPECT_TRUE(t.unsubscribe("a/b", 1));
  EXPECT_FALSE(t.unsubscribe("a/b", 1));
  EXPECT_FALSE(t.unsubscribe("a/b", 3));
  EXPECT_FALSE(t.unsubscribe("a/c", 1));
  EXPECT_FALSE(t.unsubscribe("a/#", 1));
  EXPECT_FALSE(t.unsubscribe("$share/g/a/b", 2));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(directOf(matchOf(t, "a/b")),
            (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}, {2, 2}}));

  EXPECT_TRUE(t.unsubscribe("a/+", 1));
  EXPECT_TRUE(t.unsubscribe("a/b", 2));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.nodeCount(), 1u);
  EXPECT_TRUE(matchOf(t, "a/b").direct.empty());
}

TEST(SubscriptionTree, OptionsAreReturnedAsStored) {
  SubscriptionTree t;
  SubOptions o;
  o.qos = 2;
  o.no_local = true;
  o.retain_as_published = true;
  o.retain_handling = 2;
  o.subscription_id = 268435455;
  t.subscribe("x/#", 99, o);
  const MatchResult r = matchOf(t, "x/y");
  ASSERT_EQ(r.direct.size(), 1u);
  EXPECT_EQ(r.direct[0].subscriber, 99u);
  EXPECT_EQ(r.direct[0].options, o);
}

TEST(SubscriptionTree, OverlappingFiltersGiveOneMatchEach) {
  SubscriptionTree t;
  t.subscribe("sport/tennis/player1", 1, tagged(1));
  t.subscribe("sport/tennis/+", 1, tagged(2));
  t.subscribe("sport/#", 1, tagged(3));
  t.subscribe("#", 1, tagged(4));
  t.subscribe("+/+/player1", 1, tagged(5));
  t.subscribe("sport/tennis/player1/#", 1, tagged(6));
  t.subscribe("sport/tennis/player2", 1, tagged(7));
  t.subscribe("sport/+", 2, tagged(8));
  EXPECT_EQ(directOf(matchOf(t, "sport/tennis/player1")),
            (std::vector<std::pair<SubscriberId, uint32_t>>{
                {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}}));
  EXPECT_EQ(directOf(matchOf(t, "sport")),
            (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}, {1, 4}}));
  EXPECT_EQ(directOf(matchOf(t, "sport/")),
            (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}, {1, 4}, {2, 8}}));
}

TEST(SubscriptionTree, MatchAppendsWithoutClearing) {
  SubscriptionTree t;
  t.subscribe("a", 1, tagged(1));
  t.subscribe("$share/g/a", 2, tagged(2));
  MatchResult r;
  t.match("a", r);
  t.match("a", r);
  EXPECT_EQ(r.direct.size(), 2u);
  EXPECT_EQ(r.shared.size(), 2u);
  r.clear();
  t.match("b", r);
  EXPECT_TRUE(r.direct.empty());
  EXPECT_TRUE(r.shared.empty());
}

TEST(SubscriptionTree, DollarTopics) {
  SubscriptionTree t;
  t.subscribe("#", 1, tagged(1));
  t.subscribe("+/monitor/Clients", 1, tagged(2));
  t.subscribe("$SYS/#", 1, tagged(3));
  t.subscribe("$SYS/monitor/+", 1, tagged(4));
  t.subscribe("+/#", 1, tagged(5));
  t.subscribe("$share/g/#", 2, tagged(6));
  t.subscribe("$share/h/$SYS/#", 2, tagged(7));
  MatchResult r = matchOf(t, "$SYS/monitor/Clients");
  EXPECT_EQ(directOf(r), (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}, {1, 4}}));
  ASSERT_EQ(r.shared.size(), 1u);
  EXPECT_EQ(r.shared[0]->name(), "h");

  r = matchOf(t, "$SYS");
  EXPECT_EQ(directOf(r), (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}}));

  r = matchOf(t, "SYS/monitor/Clients");
  EXPECT_EQ(directOf(r), (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 1}, {1, 2}, {1, 5}}));
  ASSERT_EQ(r.shared.size(), 1u);
  EXPECT_EQ(r.shared[0]->name(), "g");
}

// ---------------------------------------------------------------------------------------------
// Shared subscriptions

std::vector<SubscriberId> membersOf(const SharedGroup& g) {
  std::vector<SubscriberId> v;
  for (const auto& m : g.members()) v.push_back(m.subscriber);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(SubscriptionTree, SharedGroupMembers) {
  SubscriptionTree t;
  EXPECT_TRUE(t.subscribe("$share/workers/jobs/+", 1, tagged(1, 1)));
  EXPECT_TRUE(t.subscribe("$share/workers/jobs/+", 2, tagged(2, 1)));
  EXPECT_TRUE(t.subscribe("$share/workers/jobs/+", 3, tagged(3, 1)));
  EXPECT_FALSE(t.subscribe("$share/workers/jobs/+", 3, tagged(4, 2)));  // replace
  EXPECT_EQ(t.size(), 3u);

  MatchResult r = matchOf(t, "jobs/new");
  EXPECT_TRUE(r.direct.empty());
  ASSERT_EQ(r.shared.size(), 1u);
  const SharedGroup* g = r.shared[0];
  EXPECT_EQ(g->name(), "workers");
  EXPECT_EQ(membersOf(*g), (std::vector<SubscriberId>{1, 2, 3}));
  for (const auto& m : g->members()) {
    if (m.subscriber == 3) {
      EXPECT_EQ(m.options, tagged(4, 2));
    }
  }

  EXPECT_TRUE(matchOf(t, "jobs").shared.empty());
  EXPECT_TRUE(matchOf(t, "jobs/new/x").shared.empty());
}

TEST(SubscriptionTree, SharedGroupRotation) {
  SubscriptionTree t;
  for (SubscriberId id = 1; id <= 3; ++id) t.subscribe("$share/g/q", id, tagged(0));
  std::map<SubscriberId, int> picked;
  for (int i = 0; i < 30; ++i) {
    MatchResult r = matchOf(t, "q");
    ASSERT_EQ(r.shared.size(), 1u);
    const auto& members = r.shared[0]->members();
    picked[members[r.shared[0]->nextStart() % members.size()].subscriber]++;
  }
  EXPECT_EQ(picked, (std::map<SubscriberId, int>{{1, 10}, {2, 10}, {3, 10}}));
}

TEST(SubscriptionTree, SameSubscriberInTwoGroups) {
  SubscriptionTree t;
  EXPECT_TRUE(t.subscribe("$share/a/x/#", 1, tagged(1)));
  EXPECT_TRUE(t.subscribe("$share/b/x/#", 1, tagged(2)));
  EXPECT_TRUE(t.subscribe("$share/b/x/#", 2, tagged(3)));
  EXPECT_TRUE(t.subscribe("x/#", 1, tagged(4)));  // a plain subscription to the same filter
  EXPECT_EQ(t.size(), 4u);

  MatchResult r = matchOf(t, "x/y");
  EXPECT_EQ(directOf(r), (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 4}}));
  ASSERT_EQ(r.shared.size(), 2u);
  std::map<std::string, std::vector<SubscriberId>> groups;
  for (const auto* g : r.shared) groups[g->name()] = membersOf(*g);
  EXPECT_EQ(groups, (std::map<std::string, std::vector<SubscriberId>>{{"a", {1}}, {"b", {1, 2}}}));

  // Leaving one group keeps the other group and the plain subscription.
  EXPECT_TRUE(t.unsubscribe("$share/b/x/#", 1));
  EXPECT_EQ(t.size(), 3u);
  r = matchOf(t, "x/y");
  EXPECT_EQ(r.direct.size(), 1u);
  groups.clear();
  for (const auto* g : r.shared) groups[g->name()] = membersOf(*g);
  EXPECT_EQ(groups, (std::map<std::string, std::vector<SubscriberId>>{{"a", {1}}, {"b", {2}}}));

  // The last member leaving removes the group.
  EXPECT_TRUE(t.unsubscribe("$share/a/x/#", 1));
  EXPECT_FALSE(t.unsubscribe("$share/a/x/#", 1));
  r = matchOf(t, "x/y");
  ASSERT_EQ(r.shared.size(), 1u);
  EXPECT_EQ(r.shared[0]->name(), "b");

  EXPECT_TRUE(t.unsubscribe("x/#", 1));
  EXPECT_TRUE(t.unsubscribe("$share/b/x/#", 2));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.nodeCount(), 1u);
}

TEST(SubscriptionTree, SharedGroupsOnDifferentFiltersAreDistinct) {
  SubscriptionTree t;
  t.subscribe("$share/g/a/+", 1, tagged(1));
  t.subscribe("$share/g/a/b", 2, tagged(2));
  MatchResult r = matchOf(t, "a/b");
  ASSERT_EQ(r.shared.size(), 2u);
  EXPECT_NE(r.shared[0], r.shared[1]);
  EXPECT_EQ(r.shared[0]->name(), "g");
  EXPECT_EQ(r.shared[1]->name(), "g");
  EXPECT_FALSE(t.unsubscribe("$share/g/a/b", 1));
  EXPECT_FALSE(t.unsubscribe("a/+", 1));
  EXPECT_TRUE(t.unsubscribe("$share/g/a/+", 1));
  r = matchOf(t, "a/b");
  ASSERT_EQ(r.shared.size(), 1u);
  EXPECT_EQ(membersOf(*r.shared[0]), (std::vector<SubscriberId>{2}));
}

// ---------------------------------------------------------------------------------------------
// Large lists and pruning

TEST(SubscriptionTree, ManySubscribersOnOneFilter) {
  SubscriptionTree t;
  constexpr SubscriberId kN = 5000;
  for (SubscriberId id = 1; id <= kN; ++id)
    ASSERT_TRUE(t.subscribe("conv/big", id, tagged(static_cast<uint32_t>(id))));
  // Replacing goes through the index too.
  for (SubscriberId id = 1; id <= kN; id += 7)
    ASSERT_FALSE(t.subscribe("conv/big", id, tagged(static_cast<uint32_t>(id + kN))));
  for (SubscriberId id = 2; id <= kN; id += 2) ASSERT_TRUE(t.unsubscribe("conv/big", id));
  for (SubscriberId id = 2; id <= kN; id += 2) ASSERT_FALSE(t.unsubscribe("conv/big", id));
  EXPECT_EQ(t.size(), kN / 2);

  std::vector<std::pair<SubscriberId, uint32_t>> want;
  for (SubscriberId id = 1; id <= kN; id += 2)
    want.emplace_back(id, static_cast<uint32_t>((id - 1) % 7 == 0 ? id + kN : id));
  EXPECT_EQ(directOf(matchOf(t, "conv/big")), want);

  // Shrink below the index threshold and keep working.
  for (SubscriberId id = 1; id <= kN - 10; id += 2) ASSERT_TRUE(t.unsubscribe("conv/big", id));
  EXPECT_EQ(t.size(), 5u);
  EXPECT_FALSE(t.subscribe("conv/big", kN - 1, tagged(1)));
  EXPECT_TRUE(t.subscribe("conv/big", 2, tagged(2)));
  EXPECT_EQ(directOf(matchOf(t, "conv/big")).size(), 6u);
}

TEST(SubscriptionTree, PruningLeavesNothing) {
  SubscriptionTree t;
  std::vector<std::string> filters;
  for (int i = 0; i < 200; ++i) {
    const std::string n = std::to_string(i);
    filters.push_back("a/" + n + "/b");
    filters.push_back("a/+/" + n);
    filters.push_back(n + "/#");
    filters.push_back("+/" + n + "/+/#");
    filters.push_back("x//" + n + "/");
    filters.push_back("$share/g" + n + "/a/" + n);
    filters.push_back("$share/g/+/" + n + "/#");
  }
  for (SubscriberId id = 1; id <= 3; ++id)
    for (const auto& f : filters) ASSERT_TRUE(t.subscribe(f, id, tagged(0)));
  EXPECT_EQ(t.size(), filters.size() * 3);
  EXPECT_GT(t.nodeCount(), 1000u);
  EXPECT_FALSE(matchOf(t, "a/5/b").direct.empty());

  for (SubscriberId id = 1; id <= 3; ++id)
    for (const auto& f : filters) ASSERT_TRUE(t.unsubscribe(f, id)) << f;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.nodeCount(), 1u);
  for (const char* name : {"a/5/b", "a/1/5", "5", "5/x", "x/5/y/z", "x//5/", "a/5"}) {
    const MatchResult r = matchOf(t, name);
    EXPECT_TRUE(r.direct.empty()) << name;
    EXPECT_TRUE(r.shared.empty()) << name;
  }
}

TEST(SubscriptionTree, PruningKeepsSharedPrefixes) {
  SubscriptionTree t;
  t.subscribe("a/b/c", 1, tagged(1));
  t.subscribe("a/b", 1, tagged(2));
  t.subscribe("a/+/c", 1, tagged(3));
  EXPECT_EQ(t.nodeCount(), 6u);  // root, a, a/b, a/b/c, a/+, a/+/c
  EXPECT_TRUE(t.unsubscribe("a/b/c", 1));
  EXPECT_EQ(t.nodeCount(), 5u);
  EXPECT_EQ(directOf(matchOf(t, "a/b")), (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 2}}));
  EXPECT_EQ(directOf(matchOf(t, "a/b/c")),
            (std::vector<std::pair<SubscriberId, uint32_t>>{{1, 3}}));
}

// ---------------------------------------------------------------------------------------------
// Randomized comparison with topicMatches

class RandomTopics {
 public:
  explicit RandomTopics(uint32_t seed) : rng_(seed) {}

  std::string name() {
    static const char* const kLevels[] = {"a", "b", "c", "", "$x", "$SYS", "aa"};
    return join(kLevels, std::size(kLevels), false);
  }

  std::string filter() {
    static const char* const kLevels[] = {"a", "b", "c", "", "$x", "$SYS", "+", "+"};
    return join(kLevels, std::size(kLevels), pick(4) == 0);
  }

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

 private:
  std::string join(const char* const* levels, size_t count, bool hash) {
    const size_t n = 1 + pick(4);
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      if (i) s += '/';
      s += levels[pick(count)];
    }
    if (hash) s = pick(5) == 0 ? std::string("#") : s + "/#";
    return s.empty() ? std::string("/") : s;  // a lone empty level is not a valid topic
  }

  std::mt19937 rng_;
};

TEST(SubscriptionTree, RandomizedAgainstTopicMatches) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    RandomTopics rnd(seed);
    SubscriptionTree t;
    // Reference model: (filter, subscriber) -> tag, and (group, filter) -> subscriber -> tag.
    std::map<std::pair<std::string, SubscriberId>, uint32_t> direct;
    std::map<std::pair<std::string, std::string>, std::map<SubscriberId, uint32_t>> shared;
    uint32_t tag = 0;
    size_t live = 0;

    for (int op = 0; op < 600; ++op) {
      std::string f = rnd.filter();
      ASSERT_TRUE(isValidTopicFilter(f)) << f;
      const SubscriberId id = 1 + rnd.pick(12);
      const bool is_shared = rnd.pick(4) == 0;
      const std::string group = "g" + std::to_string(rnd.pick(3));
      const std::string full = is_shared ? "$share/" + group + "/" + f : f;
      ASSERT_TRUE(isValidSubscriptionFilter(full)) << full;
      if (rnd.pick(3) == 0) {
        bool existed;
        if (is_shared) {
          auto it = shared.find({group, f});
          existed = it != shared.end() && it->second.erase(id) == 1;
          if (existed && it->second.empty()) shared.erase(it);
        } else {
          existed = direct.erase({f, id}) == 1;
        }
        ASSERT_EQ(t.unsubscribe(full, id), existed) << full;
        if (existed) --live;
      } else {
        ++tag;
        bool added;
        if (is_shared) {
          auto& m = shared[{group, f}];
          added = m.find(id) == m.end();
          m[id] = tag;
        } else {
          added = direct.find({f, id}) == direct.end();
          direct[{f, id}] = tag;
        }
        ASSERT_EQ(t.subscribe(full, id, tagged(tag)), added) << full;
        if (added) ++live;
      }
    }
    ASSERT_EQ(t.size(), live);

    MatchResult r;
    size_t direct_hits = 0;
    size_t shared_hits = 0;
    for (int q = 0; q < 400; ++q) {
      const std::string name = rnd.name();
      r.clear();
      t.match(name, r);

      std::vector<std::pair<SubscriberId, uint32_t>> want;
      for (const auto& [key, tg] : direct)
        if (topicMatches(key.first, name)) want.emplace_back(key.second, tg);
      std::sort(want.begin(), want.end());
      ASSERT_EQ(directOf(r), want) << "seed " << seed << " name '" << name << "'";

      using Group = std::pair<std::string, std::vector<std::pair<SubscriberId, uint32_t>>>;
      std::vector<Group> want_groups, got_groups;
      for (const auto& [key, members] : shared) {
        if (!topicMatches(key.second, name)) continue;
        Group g{key.first, {}};
        for (const auto& [sid, tg] : members) g.second.emplace_back(sid, tg);
        want_groups.push_back(std::move(g));
      }
      for (const SharedGroup* g : r.shared) {
        Group gg{g->name(), {}};
        for (const auto& m : g->members())
          gg.second.emplace_back(m.subscriber, m.options.subscription_id);
        std::sort(gg.second.begin(), gg.second.end());
        got_groups.push_back(std::move(gg));
      }
      std::sort(want_groups.begin(), want_groups.end());
      std::sort(got_groups.begin(), got_groups.end());
      ASSERT_EQ(got_groups, want_groups) << "seed " << seed << " name '" << name << "'";
      direct_hits += r.direct.size();
      shared_hits += r.shared.size();
    }
    // The random shapes must actually produce matches, or the comparison proves little.
    EXPECT_GT(direct_hits, 1000u);
    EXPECT_GT(shared_hits, 300u);

    for (const auto& [key, tg] : direct) ASSERT_TRUE(t.unsubscribe(key.first, key.second));
    for (const auto& [key, members] : shared)
      for (const auto& [sid, tg] : members)
        ASSERT_TRUE(t.unsubscribe("$share/" + key.first + "/" + key.second, sid));
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.nodeCount(), 1u);
  }
}

}  // namespace
}  // namespace parley::topics
