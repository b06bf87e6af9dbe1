#include "acl.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "topic_names.hpp"

namespace parley::auth {

namespace {

std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string_view stripShare(std::string_view filter) {
  if (auto shared = topics::parseShared(filter)) return shared->filter;
  return filter;
}

// The rule's filter with %u and %c replaced; false when a value may not stand in a level.
bool substitute(const Acl::Rule& r, std::string_view user, std::string_view client_id,
                std::string& out) {
  out.clear();
  const std::string_view f = r.filter;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '%' && i + 1 < f.size() && (f[i + 1] == 'u' || f[i + 1] == 'c')) {
      const std::string_view v = f[i + 1] == 'u' ? user : client_id;
      if (v.empty() || v.find_first_of("/+#") != std::string_view::npos) return false;
      out.append(v);
      ++i;
    } else {
      out.push_back(f[i]);
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view firstWord(std::string_view& s) {
  s = trim(s);
  const size_t sp = s.find_first_of(" \t");
  std::string_view w = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view{} : trim(s.substr(sp));
  return w;
}

}  // namespace

bool filterCovers(std::string_view rule, std::string_view filter) {
  const auto r = levels(rule);
  const auto f = levels(filter);
  for (size_t i = 0;; ++i) {
    if (i == r.size()) return i == f.size();
    if (r[i] == "#") {
      // Wildcards at the first level do not reach $-topics (4.7.2), so neither do rules.
      return !(i == 0 && i < f.size() && !f[0].empty() && f[0][0] == '$');
    }
    if (i == f.size()) return false;
    if (f[i] == "#") return false;
    if (r[i] == "+") {
      if (i == 0 && !f[0].empty() && f[0][0] == '$') return false;
      continue;
    }
    if (f[i] == "+" || r[i] != f[i]) return false;
  }
}

bool filtersOverlap(std::string_view a, std::string_view b) {
  const auto x = levels(a);
  const auto y = levels(b);
  for (size_t i = 0;; ++i) {
    if (i < x.size() && x[i] == "#") return true;
    if (i < y.size() && y[i] == "#") return true;
    if (i == x.size() || i == y.size()) return x.size() == y.size();
    if (x[i] != "+" && y[i] != "+" && x[i] != y[i]) return false;
  }
}

Acl Acl::parse(std::string_view text) {
  Acl acl;
  std::vector<Rule>* section = &acl.everyone_;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument("ACL line " + std::to_string(line_no) + ": " + why);
    };
    const std::string_view keyword = firstWord(line);
    if (keyword == "user") {
      if (line.empty()) fail("user needs a name");
      section = &acl.by_user_[std::string(line)];
      continue;
    }
    if (keyword != "topic" && keyword != "pattern")
      fail("expected 'user', 'topic' or 'pattern', got '" + std::string(keyword) + "'");
    Rule r;
    r.pattern = keyword == "pattern";
    std::string_view rest = line;
    const std::string_view word = firstWord(rest);
    if (word == "read") {
      r.access = kRead;
    } else if (word == "write") {
      r.access = kWrite;
    } else if (word == "readwrite") {
      r.access = kRead | kWrite;
    } else if (word == "deny") {
      r.access = kRead | kWrite;
      r.deny = true;
    } else {
      r.access = kRead | kWrite;
      rest = line;  // no access word: the whole rest is the filter
    }
    if (rest.empty()) fail("missing topic filter");
    if (!topics::isValidTopicFilter(rest)) fail("invalid topic filter '" + std::string(rest) + "'");
    r.filter = std::string(rest);
    // Patterns apply to every client wherever they stand.
    (r.pattern ? acl.everyone_ : *section).push_back(std::move(r));
  }
  return acl;
}

size_t Acl::ruleCount() const {
  size_t n = everyone_.size();
  for (const auto& [user, rules] : by_user_) n += rules.size();
  return n;
}

template <class F>
void Acl::forEachRule(std::string_view user, F&& f) const {
  for (const Rule& r : everyone_) f(r);
  if (user.empty()) return;
  auto it = by_user_.find(std::string(user));
  if (it == by_user_.end()) return;
  for (const Rule& r : it->second) f(r);
}

bool Acl::canPublish(std::string_view user, std::string_view client_id,
                     std::string_view topic) const {
  bool allowed = false, denied = false;
  std::string scratch;
  forEachRule(user, [&](const Rule& r) {
    if (!(r.access & kWrite)) return;
    std::string_view filter = r.filter;
    if (r.pattern) {
      if (!substitute(r, user, client_id, scratch)) return;
      filter = scratch;
    }
    if (!topics::topicMatches(filter, topic)) return;
    (r.deny ? denied : allowed) = true;
  });
  return allowed && !denied;
}

bool Acl::canSubscribe(std::string_view user, std::string_view client_id,
                       std::string_view filter) const {
  const std::string_view f = stripShare(filter);
  bool allowed = false, denied = false;
  std::string scratch;
  forEachRule(user, [&](const Rule& r) {
    if (!(r.access & kRead)) return;
    std::string_view rule = r.filter;
    if (r.pattern) {
      if (!substitute(r, user, client_id, scratch)) return;
      rule = scratch;
    }
    if (r.deny) {
      if (filtersOverlap(rule, f)) denied = true;
    } else if (filterCovers(rule, f)) {
      allowed = true;
    }
  });
  return allowed && !denied;
}

AclAuthorizer::AclAuthorizer(std::string path) : path_(std::move(path)) {
  std::string error;
  if (!reload(error)) throw std::runtime_error(error);
}

bool AclAuthorizer::reload(std::string& error) {
  std::ifstream f(path_, std::ios::binary);
  if (!f) {
    error = "cannot read ACL file '" + path_ + "'";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    auto fresh = std::make_shared<const Acl>(Acl::parse(ss.str()));
    std::unique_lock lock(mu_);
    const bool first = !acl_;
    acl_ = std::move(fresh);
    if (!first)
      std::fprintf(stderr, "parleyd: ACL %s reloaded (%zu rules)\n", path_.c_str(),
                   acl_->ruleCount());
    return true;
  } catch (const std::invalid_argument& e) {
    error = path_ + ": " + e.what();
    return false;
  }
}

std::shared_ptr<const Acl> AclAuthorizer::current() const {
  std::shared_lock lock(mu_);
  return acl_;
}

size_t AclAuthorizer::ruleCount() const {
  return current()->ruleCount();
}

bool AclAuthorizer::canPublish(const core::ClientIdentity& who, std::string_view topic) {
  return current()->canPublish(who.user, who.client_id, topic);
}

bool AclAuthorizer::canSubscribe(const core::ClientIdentity& who, std::string_view filter) {
  return current()->canSubscribe(who.user, who.client_id, filter);
}

}  // namespace parley::auth
