// SeqFilter (the SDK's redelivery rule) and cmid generation.
#include "seq_filter.hpp"

#include <gtest/gtest.h>

#include <set>

#include "parley/sdk/chat_client.hpp"

namespace parley::sdk {
namespace {

Message msg(const std::string& conv, uint64_t seq) {
  Message m;
  m.conv = conv;
  m.seq = seq;
  return m;
}

Message trimmed(const std::string& conv, uint64_t floor) {
  Message m = msg(conv, 0);
  m.kind = MessageKind::System;
  m.system = SystemInfo{};
  m.system->event = SystemEvent::HistoryTrimmed;
  m.system->floor_seq = floor;
  return m;
}

TEST(SeqFilter, DropsRedeliveriesPerConversation) {
  SeqFilter f;
  EXPECT_TRUE(f.admit(msg("a", 1)));
  EXPECT_TRUE(f.admit(msg("a", 2)));
  EXPECT_FALSE(f.admit(msg("a", 2)));  // redelivered
  EXPECT_FALSE(f.admit(msg("a", 1)));  // replayed from an older offset
  EXPECT_TRUE(f.admit(msg("b", 1)));   // another conversation has its own count
  EXPECT_TRUE(f.admit(msg("a", 7)));   // a jump is legitimate (new device, join record)
  EXPECT_FALSE(f.admit(msg("a", 3)));
  EXPECT_EQ(f.last("a"), 7u);
  EXPECT_EQ(f.last("b"), 1u);
  EXPECT_EQ(f.last("c"), 0u);
}

TEST(SeqFilter, SeededByTheApp) {
  SeqFilter f;
  f.set("a", 10);
  EXPECT_FALSE(f.admit(msg("a", 10)));
  EXPECT_TRUE(f.admit(msg("a", 11)));
}

TEST(SeqFilter, TrimNoticeOnlyWhenSomethingWasMissed) {
  SeqFilter f;
  f.set("a", 5);
  EXPECT_FALSE(f.admit(trimmed("a", 6)));  // nothing lost between 5 and the floor
  EXPECT_FALSE(f.admit(trimmed("a", 3)));  // stale notice
  EXPECT_TRUE(f.admit(trimmed("a", 9)));   // 6..8 are gone
  EXPECT_EQ(f.last("a"), 5u);              // a notice is not a message
  EXPECT_TRUE(f.admit(msg("a", 9)));
  Message bogus = msg("a", 0);  // seq 0 that is not a notice: never a message
  EXPECT_FALSE(f.admit(bogus));
}

TEST(Cmid, UniqueAndWellFormed) {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = ChatClient::newCmid();
    ASSERT_EQ(id.size(), 26u);
    for (char c : id) {
      ASSERT_NE(std::string("0123456789ABCDEFGHJKMNPQRSTVWXYZ").find(c), std::string::npos) << id;
    }
    EXPECT_TRUE(seen.insert(id).second) << "duplicate cmid " << id;
    // The first 10 characters are the millisecond clock: never going backwards.
    if (!prev.empty()) {
      EXPECT_LE(prev.substr(0, 10), id.substr(0, 10));
    }
    prev = id;
  }
}

}  // namespace
}  // namespace parley::sdk
