// RetainedTree<T>: the retained message of every topic, stored by topic levels so that a
// SUBSCRIBE with wildcards finds its retained messages without scanning them all.
//
// Threading: not synchronised; the broker guards it with its own lock.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "topic_names.hpp"

namespace parley::topics {

template <class T>
class RetainedTree {
 public:
  // Sets (or replaces) the value for topic name `name`.
  void set(std::string_view name, T value) {
    Node* n = &root_;
    forEachLevel(name, [&](std::string_view level) {
      auto it = n->children.find(level);
      if (it == n->children.end())
        it = n->children.emplace(std::string(level), std::make_unique<Node>()).first;
      n = it->second.get();
    });
    if (!n->value) ++count_;
    n->value = std::make_unique<T>(std::move(value));
  }

  // Removes the value for `name`; returns false if there was none. Prunes empty nodes.
  bool erase(std::string_view name) {
    bool removed = false;
    eraseAt(root_, name, 0, removed);
    if (removed) --count_;
    return removed;
  }

  const T* find(std::string_view name) const {
    const Node* n = &root_;
    bool ok = true;
    forEachLevel(name, [&](std::string_view level) {
      if (!ok) return;
      auto it = n->children.find(level);
      if (it == n->children.end()) {
        ok = false;
        return;
      }
      n = it->second.get();
    });
    return ok && n->value ? n->value.get() : nullptr;
  }

  // Calls `fn(topic, value)` for every retained topic matching filter `filter` (not shared).
  void match(std::string_view filter,
             const std::function<void(const std::string&, const T&)>& fn) const {
    std::string path;
    matchAt(root_, filter, 0, path, true, fn);
  }

  size_t size() const { return count_; }

 private:
  struct Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
    std::unique_ptr<T> value;
  };

  template <class F>
  static void forEachLevel(std::string_view s, F&& f) {
    size_t start = 0;
    while (true) {
      size_t slash = s.find('/', start);
      if (slash == std::string_view::npos) {
        f(s.substr(start));
        return;
      }
      f(s.substr(start, slash - start));
      start = slash + 1;
    }
  }

  static std::string_view levelAt(std::string_view s, size_t pos, size_t& next) {
    size_t slash = s.find('/', pos);
    if (slash == std::string_view::npos) {
      next = std::string_view::npos;
      return s.substr(pos);
    }
    next = slash + 1;
    return s.substr(pos, slash - pos);
  }

  // Returns true if `n` became empty and may be pruned by the caller.
  bool eraseAt(Node& n, std::string_view name, size_t pos, bool& removed) {
    if (pos == std::string_view::npos) {
      if (n.value) {
        n.value.reset();
        removed = true;
      }
      return !n.value && n.children.empty();
    }
    size_t next;
    std::string_view level = levelAt(name, pos, next);
    auto it = n.children.find(level);
    if (it == n.children.end()) return false;
    if (eraseAt(*it->second, name, next, removed)) n.children.erase(it);
    return !n.value && n.children.empty();
  }

  static void appendLevel(std::string& path, const std::string& level, bool first) {
    if (!first) path.push_back('/');
    path += level;
  }

  // Walks the tree for `filter` starting at filter offset `pos` (npos = filter consumed).
  void matchAt(const Node& n, std::string_view filter, size_t pos, std::string& path, bool first,
               const std::function<void(const std::string&, const T&)>& fn) const {
    if (pos == std::string_view::npos) {
      if (n.value) fn(path, *n.value);
      return;
    }
    size_t next;
    std::string_view level = levelAt(filter, pos, next);
    if (level == "#") {
      // '#' matches the parent level itself and everything below it.
      if (!first && n.value) fn(path, *n.value);
      visitAll(n, path, first, fn);
      return;
    }
    const size_t keep = path.size();
    if (level == "+") {
      for (const auto& [name, child] : n.children) {
        if (first && rootWildcardsSkip(name)) continue;
        appendLevel(path, name, first);
        matchAt(*child, filter, next, path, false, fn);
        path.resize(keep);
      }
      return;
    }
    auto it = n.children.find(level);
    if (it == n.children.end()) return;
    appendLevel(path, it->first, first);
    matchAt(*it->second, filter, next, path, false, fn);
    path.resize(keep);
  }

  void visitAll(const Node& n, std::string& path, bool first,
                const std::function<void(const std::string&, const T&)>& fn) const {
    const size_t keep = path.size();
    for (const auto& [name, child] : n.children) {
      if (first && rootWildcardsSkip(name)) continue;
      appendLevel(path, name, first);
      if (child->value) fn(path, *child->value);
      visitAll(*child, path, false, fn);
      path.resize(keep);
    }
  }

  Node root_;
  size_t count_ = 0;
};

}  // namespace parley::topics
