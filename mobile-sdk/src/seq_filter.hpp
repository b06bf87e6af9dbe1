// SeqFilter: per conversation, the highest seq already handed to the app, and the rule that
// drops redeliveries (PROTOCOL.md "Ordering and redelivery": at-least-once delivery, drop any
// seq at or below the last one shown). The broker sends each conversation in seq order, live or
// replayed, so no reordering buffer is needed here: a seq above last + 1 is a legitimate jump
// (a new device starts at the head; a member starts at its join record).
//
// Ownership and threading: a plain value owned by ChatClient::Impl and used under its mutex.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

#include "parley/sdk/types.hpp"

namespace parley::sdk {

class SeqFilter {
 public:
  // True if `m` is new (and records it as the last seen), false for a redelivery. A retention
  // notice (seq 0, HistoryTrimmed) passes only if it reports messages this device never got.
  bool admit(const Message& m);
  void set(const std::string& conv, uint64_t seq) { last_[conv] = seq; }
  uint64_t last(const std::string& conv) const;

 private:
  std::unordered_map<std::string, uint64_t> last_;
};

}  // namespace parley::sdk
