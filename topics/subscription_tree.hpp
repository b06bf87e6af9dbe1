// SubscriptionTree: every subscription in the broker, as a tree of topic levels, with '+', '#'
// and shared-subscription groups. `match` walks it for one topic name.
//
// Threading: not synchronised. The broker holds it behind a reader/writer lock: SUBSCRIBE and
// UNSUBSCRIBE take the write side, matching a PUBLISH the read side. The only state `match`
// changes is each shared group's round-robin cursor, which is atomic for that reason.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley::topics {

using SubscriberId = uint64_t;

struct SubOptions {
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0;  // 0 = none
  bool operator==(const SubOptions&) const = default;
};

struct Match {
  SubscriberId subscriber = 0;
  SubOptions options;
};

// The members of one `$share/{group}/{filter}` subscription group.
class SharedGroup {
 public:
  const std::string& name() const { return name_; }
  const std::vector<Match>& members() const { return members_; }
  // Start index for picking a member; advances on every call so load rotates.
  size_t nextStart() const { return cursor_.fetch_add(1, std::memory_order_relaxed); }

 private:
  friend class SubscriptionTree;
  std::string name_;
  std::vector<Match> members_;
  mutable std::atomic<size_t> cursor_{0};
};

struct MatchResult {
  // Non-shared matches. A subscriber whose several filters match appears once per filter; the
  // caller merges (max QoS, all subscription ids).
  std::vector<Match> direct;
  // Shared groups that match; the caller picks one member of each (see SharedGroup::nextStart).
  std::vector<const SharedGroup*> shared;
  void clear() {
    direct.clear();
    shared.clear();
  }
};

class SubscriptionTree {
 public:
  SubscriptionTree();
  ~SubscriptionTree();
  SubscriptionTree(const SubscriptionTree&) = delete;
  SubscriptionTree& operator=(const SubscriptionTree&) = delete;

  // Adds or replaces (same subscriber, same filter) a subscription. `filter` may be a
  // "$share/{group}/{filter}"; it must already be valid (isValidSubscriptionFilter).
  // Returns true if the subscription is new, false if it replaced an existing one.
  bool subscribe(std::string_view filter, SubscriberId subscriber, const SubOptions& options);

  // Removes one subscription; returns false if it did not exist. Empty nodes are pruned.
  bool unsubscribe(std::string_view filter, SubscriberId subscriber);

  // Appends to `out` (without clearing it) every subscription matching topic name `name`.
  void match(std::string_view name, MatchResult& out) const;

  size_t size() const { return count_; }

  // Number of tree nodes, the root included (1 when empty): shows pruning in tests and metrics.
  size_t nodeCount() const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
};

}  // namespace parley::topics
