// Topic names and filters (MQTT spec 4.7): validation, matching, and `$share/{group}/{filter}`.
// Pure functions; the standard library only.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace parley::topics {

// A topic name a client may PUBLISH to: non-empty, no '+' or '#', no U+0000, at most 65535 bytes.
// (UTF-8 validity is checked by the codec.)
bool isValidTopicName(std::string_view name);

// A topic filter: '#' only as the whole last level, '+' only as a whole level, non-empty.
// Does not accept the $share prefix; see isValidSubscriptionFilter.
bool isValidTopicFilter(std::string_view filter);

struct SharedFilter {
  std::string_view group;   // non-empty, no '+', '#' or '/'
  std::string_view filter;  // a valid topic filter
};

// "$share/{group}/{filter}" split into its parts; nullopt when `filter` does not start with
// "$share/" or is malformed after it (use isValidSubscriptionFilter to tell those apart).
std::optional<SharedFilter> parseShared(std::string_view filter);
bool isShared(std::string_view filter);  // starts with "$share/"

// A filter as it appears in SUBSCRIBE: a valid topic filter, or a well-formed shared one.
bool isValidSubscriptionFilter(std::string_view filter);

// Whether wildcards at the first level skip this top-level name: '$' names (spec 4.7.2) and
// Parley's "presence" tree, whose readers are chosen by policy, so '#' or '+/...' must not
// reach it. `level` is the first level of a topic name.
inline bool rootWildcardsSkip(std::string_view level) {
  return (!level.empty() && level.front() == '$') || level == "presence";
}

// Does `filter` (not shared) match `name`? Wildcards at the first level do not match names that
// start with '$' (spec 4.7.2) or the "presence" tree (rootWildcardsSkip).
bool topicMatches(std::string_view filter, std::string_view name);

// Number of levels ("a/b/c" has 3).
size_t levelCount(std::string_view topic);

}  // namespace parley::topics
