// Topic access rules for plain MQTT (an ACL file) and the Authorizer that applies them.
// The file format is documented in docs/ACCESS.md; in short:
//
//   # comment
//   topic read sensors/#            before any `user` line: applies to every client
//   user alice                      the `topic` lines that follow apply to alice only
//   topic readwrite alice/#
//   topic deny alice/secret/#
//   pattern write devices/%c/#      anywhere: every client; %u = user name, %c = client id
//
// Access words: read (SUBSCRIBE), write (PUBLISH, wills), readwrite (also when the word is
// left out), deny (neither; a matching deny wins over any allow). With rules loaded, what no
// rule allows is refused.
//
// Matching: a PUBLISH topic is allowed when an allowing filter matches it. A SUBSCRIBE filter is
// allowed when an allowing filter covers it (every topic the subscription can match is matched
// by the rule: `a/#` covers `a/+/b`, `a/+` does not cover `a/#`) and no deny filter overlaps it.
// `$share/{group}/` is stripped first. A %u or %c whose value is empty or contains '/', '+' or
// '#' makes its rule not apply, so a crafted client id cannot widen a pattern.
//
// Threading: Acl is immutable; AclAuthorizer swaps in a new Acl on reload and is safe from any
// thread.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "authenticator.hpp"

namespace parley::auth {

// Does `rule` cover `filter` (every topic name matching `filter` also matches `rule`)?
bool filterCovers(std::string_view rule, std::string_view filter);
// Could some topic name match both filters?
bool filtersOverlap(std::string_view a, std::string_view b);

class Acl {
 public:
  enum Access : uint8_t { kRead = 1, kWrite = 2 };
  struct Rule {
    std::string filter;
    uint8_t access = 0;  // kRead | kWrite; for a deny rule, what it denies
    bool deny = false;
    bool pattern = false;  // %u / %c are substituted
  };

  // Throws std::invalid_argument naming the line.
  static Acl parse(std::string_view text);

  bool canPublish(std::string_view user, std::string_view client_id, std::string_view topic) const;
  bool canSubscribe(std::string_view user, std::string_view client_id,
                    std::string_view filter) const;
  size_t ruleCount() const;

 private:
  template <class F>
  void forEachRule(std::string_view user, F&& f) const;

  std::vector<Rule> everyone_;  // topic lines before any user line, and every pattern line
  std::unordered_map<std::string, std::vector<Rule>> by_user_;
};

class AclAuthorizer final : public core::Authorizer {
 public:
  // Throws when the file cannot be read or parsed (start-up).
  explicit AclAuthorizer(std::string path);
  bool canPublish(const core::ClientIdentity& who, std::string_view topic) override;
  bool canSubscribe(const core::ClientIdentity& who, std::string_view filter) override;
  // Re-reads the file; on failure keeps the old rules and returns false with `error`.
  bool reload(std::string& error);
  size_t ruleCount() const;

 private:
  std::shared_ptr<const Acl> current() const;

  std::string path_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const Acl> acl_;
};

}  // namespace parley::auth
