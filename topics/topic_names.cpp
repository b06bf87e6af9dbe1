// Topic name and filter rules (MQTT 3.1.1 / 5.0 section 4.7, shared subscriptions 4.8.2).
#include "topic_names.hpp"

namespace parley::topics {

namespace {

constexpr size_t kMaxTopicBytes = 65535;
constexpr std::string_view kSharePrefix = "$share/";

// Splits off the level starting at `pos`; `next` becomes the start of the following level, or
// npos when this was the last one. Empty levels are levels ("a//b" has three).
std::string_view levelAt(std::string_view s, size_t pos, size_t& next) {
  const size_t slash = s.find('/', pos);
  if (slash == std::string_view::npos) {
    next = std::string_view::npos;
    return s.substr(pos);
  }
  next = slash + 1;
  return s.substr(pos, slash - pos);
}

bool hasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

}  // namespace

bool isValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicBytes) return false;
  for (const char c : name)
    if (c == '+' || c == '#' || c == '\0') return false;
  return true;
}

bool isValidTopicFilter(std::string_view filter) {
  if (filter.empty() || filter.size() > kMaxTopicBytes || hasNul(filter)) return false;
  size_t pos = 0;
  while (pos != std::string_view::npos) {
    size_t next;
    const std::string_view level = levelAt(filter, pos, next);
    if (level.size() > 1 && level.find_first_of("+#") != std::string_view::npos) return false;
    // '#' must be the whole of the last level.
    if (level == "#" && next != std::string_view::npos) return false;
    pos = next;
  }
  return true;
}

bool isShared(std::string_view filter) {
  return filter.starts_with(kSharePrefix);
}

std::optional<SharedFilter> parseShared(std::string_view filter) {
  if (!isShared(filter) || filter.size() > kMaxTopicBytes) return std::nullopt;
  const std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  SharedFilter out{rest.substr(0, slash), rest.substr(slash + 1)};
  if (out.group.empty() ||
      out.group.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos)
    return std::nullopt;
  if (!isValidTopicFilter(out.filter)) return std::nullopt;
  return out;
}

bool isValidSubscriptionFilter(std::string_view filter) {
  return isShared(filter) ? parseShared(filter).has_value() : isValidTopicFilter(filter);
}

bool topicMatches(std::string_view filter, std::string_view name) {
  constexpr size_t kEnd = std::string_view::npos;
  // Spec 4.7.2: a filter starting with a wildcard does not match a name starting with '$'.
  if (rootWildcardsSkip(name.substr(0, name.find('/'))) && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;
  size_t fpos = 0;
  size_t npos = 0;
  while (fpos != kEnd) {
    size_t fnext;
    const std::string_view flevel = levelAt(filter, fpos, fnext);
    // '#' matches the parent level too, so it also matches once the name is used up.
    if (flevel == "#") return true;
    if (npos == kEnd) return false;
    size_t nnext;
    const std::string_view nlevel = levelAt(name, npos, nnext);
    if (flevel != "+" && flevel != nlevel) return false;
    fpos = fnext;
    npos = nnext;
  }
  return npos == kEnd;
}

size_t levelCount(std::string_view topic) {
  size_t n = 1;
  for (const char c : topic)
    if (c == '/') ++n;
  return n;
}

}  // namespace parley::topics
