// Design
// ------
// One node per filter level. A node holds:
//   - `children`: literal levels, a hash map keyed by the level text with heterogeneous
//     (string_view) lookup, so matching never builds a string;
//   - `plus` / `hash`: the '+' and '#' children in their own pointers, so a PUBLISH checks them
//     without a map lookup;
//   - `direct`: the non-shared subscribers of the filter ending here, one entry per subscriber;
//   - `groups`: the `$share/{group}/...` groups whose filter ends here.
//
// match() walks the topic name level by level. At each node it first reports the '#' child
// (which matches this level and everything below), then descends into '+' by recursion and
// into the literal child by iteration, so a topic with no wildcard subscribers costs one hash
// lookup per level. When the name is used up it reports the node itself and its '#' child
// ("sport/#" matches "sport"). Wildcards at the root are skipped for names starting with '$'
// and for the presence tree (topic_names.hpp, rootWildcardsSkip).
//
// Subscriber lists are plain vectors, appended to the result in one block. Conversation topics
// can have many thousands of member devices, so past a few entries a list also keeps a hash
// index from subscriber id to position; removal swaps with the last entry, keeping it O(1).
// Nodes left empty by unsubscribe are removed on the way back up.
#include "subscription_tree.hpp"

#include <functional>
#include <unordered_map>

#include "topic_names.hpp"

namespace parley::topics {

namespace {

constexpr size_t kEnd = std::string_view::npos;

std::string_view levelAt(std::string_view s, size_t pos, size_t& next) {
  const size_t slash = s.find('/', pos);
  if (slash == kEnd) {
    next = kEnd;
    return s.substr(pos);
  }
  next = slash + 1;
  return s.substr(pos, slash - pos);
}

struct LevelHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// The non-shared subscribers of one filter. See the design note above.
class SubscriberList {
 public:
  bool empty() const { return items_.empty(); }
  const std::vector<Match>& items() const { return items_; }

  // Returns true if `id` was not in the list yet.
  bool upsert(SubscriberId id, const SubOptions& options) {
    if (const size_t i = find(id); i != kEnd) {
      items_[i].options = options;
      return false;
    }
    items_.push_back(Match{id, options});
    if (index_)
      index_->emplace(id, items_.size() - 1);
    else if (items_.size() > kIndexAbove)
      buildIndex();
    return true;
  }

  bool erase(SubscriberId id) {
    const size_t i = find(id);
    if (i == kEnd) return false;
    if (index_) index_->erase(id);
    if (i + 1 != items_.size()) {
      items_[i] = items_.back();
      if (index_) (*index_)[items_[i].subscriber] = i;
    }
    items_.pop_back();
    if (index_ && items_.size() <= kIndexAbove / 2) index_.reset();
    // Give memory back when a large audience has mostly left (amortised O(1)).
    if (items_.capacity() > 64 && items_.size() < items_.capacity() / 4) items_.shrink_to_fit();
    return true;
  }

 private:
  static constexpr size_t kIndexAbove = 16;

  size_t find(SubscriberId id) const {
    if (index_) {
      auto it = index_->find(id);
      return it == index_->end() ? kEnd : it->second;
    }
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i].subscriber == id) return i;
    return kEnd;
  }

  void buildIndex() {
    index_ = std::make_unique<std::unordered_map<SubscriberId, size_t>>();
    index_->reserve(items_.size() * 2);
    for (size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i].subscriber, i);
  }

  std::vector<Match> items_;
  std::unique_ptr<std::unordered_map<SubscriberId, size_t>> index_;
};

}  // namespace

struct SubscriptionTree::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;
  std::unique_ptr<Node> hash;
  SubscriberList direct;
  // Few groups per filter in practice; a vector keeps a node small. Groups are heap-allocated
  // because MatchResult points at them and their cursor is atomic (not movable).
  std::vector<std::unique_ptr<SharedGroup>> groups;

  bool empty() const {
    return children.empty() && !plus && !hash && direct.empty() && groups.empty();
  }

  Node& child(std::string_view level) {
    if (level == "+" || level == "#") {
      std::unique_ptr<Node>& slot = level == "+" ? plus : hash;
      if (!slot) slot = std::make_unique<Node>();
      return *slot;
    }
    auto it = children.find(level);
    if (it == children.end())
      it = children.emplace(std::string(level), std::make_unique<Node>()).first;
    return *it->second;
  }

  bool upsertShared(std::string_view group, SubscriberId id, const SubOptions& options) {
    SharedGroup* g = nullptr;
    for (auto& candidate : groups)
      if (candidate->name_ == group) g = candidate.get();
    if (!g) {
      groups.push_back(std::make_unique<SharedGroup>());
      g = groups.back().get();
      g->name_ = std::string(group);
    }
    for (Match& m : g->members_) {
      if (m.subscriber == id) {
        m.options = options;
        return false;
      }
    }
    g->members_.push_back(Match{id, options});
    return true;
  }

  bool eraseShared(std::string_view group, SubscriberId id) {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      auto& members = groups[gi]->members_;
      if (groups[gi]->name_ != group) continue;
      for (size_t i = 0; i < members.size(); ++i) {
        if (members[i].subscriber != id) continue;
        // Order-preserving: groups are small, and the rotation keeps its place for the others.
        members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
        if (members.empty()) groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(gi));
        return true;
      }
      return false;
    }
    return false;
  }

  // Removes the subscription for `filter` from offset `pos` on (kEnd = this node), pruning
  // children that become empty. Returns true if something was removed.
  bool remove(std::string_view filter, size_t pos, const std::optional<SharedFilter>& shared,
              SubscriberId id) {
    if (pos == kEnd) return shared ? eraseShared(shared->group, id) : direct.erase(id);
    size_t next;
    const std::string_view level = levelAt(filter, pos, next);
    if (level == "+" || level == "#") {
      std::unique_ptr<Node>& slot = level == "+" ? plus : hash;
      if (!slot || !slot->remove(filter, next, shared, id)) return false;
      if (slot->empty()) slot.reset();
      return true;
    }
    auto it = children.find(level);
    if (it == children.end() || !it->second->remove(filter, next, shared, id)) return false;
    if (it->second->empty()) children.erase(it);
    return true;
  }

  void report(MatchResult& out) const {
    const auto& items = direct.items();
    out.direct.insert(out.direct.end(), items.begin(), items.end());
    for (const auto& g : groups) out.shared.push_back(g.get());
  }

  // Matches the name from offset `pos` (not kEnd: at least one level left) below this node.
  // `skip_wild` is set at the root for names starting with '$'.
  void match(std::string_view name, size_t pos, bool skip_wild, MatchResult& out) const {
    const Node* n = this;
    while (true) {
      size_t next;
      const std::string_view level = levelAt(name, pos, next);
      if (!skip_wild) {
        if (n->hash) n->hash->report(out);
        if (n->plus) {
          if (next == kEnd)
            n->plus->reportEnd(out);
          else
            n->plus->match(name, next, false, out);
        }
      }
      skip_wild = false;
      auto it = n->children.find(level);
      if (it == n->children.end()) return;
      n = it->second.get();
      if (next == kEnd) {
        n->reportEnd(out);
        return;
      }
      pos = next;
    }
  }

  size_t countNodes() const {
    size_t n = 1;
    for (const auto& [level, c] : children) n += c->countNodes();
    if (plus) n += plus->countNodes();
    if (hash) n += hash->countNodes();
    return n;
  }

  // The name ends at this node: its own subscribers, and '#' below it (the parent rule).
  void reportEnd(MatchResult& out) const {
    report(out);
    if (hash) hash->report(out);
  }
};

SubscriptionTree::SubscriptionTree() : root_(std::make_unique<Node>()) {}
SubscriptionTree::~SubscriptionTree() = default;

bool SubscriptionTree::subscribe(std::string_view filter, SubscriberId subscriber,
                                 const SubOptions& options) {
  const std::optional<SharedFilter> shared = parseShared(filter);
  if (shared) filter = shared->filter;
  Node* n = root_.get();
  size_t pos = 0;
  while (pos != kEnd) {
    size_t next;
    n = &n->child(levelAt(filter, pos, next));
    pos = next;
  }
  const bool added = shared ? n->upsertShared(shared->group, subscriber, options)
                            : n->direct.upsert(subscriber, options);
  if (added) ++count_;
  return added;
}

bool SubscriptionTree::unsubscribe(std::string_view filter, SubscriberId subscriber) {
  const std::optional<SharedFilter> shared = parseShared(filter);
  if (shared) filter = shared->filter;
  if (!root_->remove(filter, 0, shared, subscriber)) return false;
  --count_;
  return true;
}

size_t SubscriptionTree::nodeCount() const {
  return root_->countNodes();
}

void SubscriptionTree::match(std::string_view name, MatchResult& out) const {
  if (name.empty()) return;
  root_->match(name, 0, rootWildcardsSkip(name.substr(0, name.find('/'))), out);
}

}  // namespace parley::topics
