// DeliveryTracker: follows every benchmark message from its PUBLISH to the last of the deliveries
// it should cause (1 for pairs and fan-in, M for fan-out, the group size for group chat), so the
// bench can report "publish -> last subscriber" latency, lost messages and duplicates.
//
// Every published message takes a global id from an atomic counter; the id travels in the
// payload. A ring of 2^k slots (indexed by id) holds the deliveries still expected and the largest
// latency seen so far. A slot is reused once 2^k newer messages exist; a delivery for an id whose
// slot was reused is counted as untracked rather than misattributed.
//
// Shared by all event-loop threads; every operation is lock-free.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

namespace parley::bench {

class DeliveryTracker {
 public:
  explicit DeliveryTracker(int slot_bits = 20)
      : mask_((uint64_t{1} << slot_bits) - 1),
        owner_(new std::atomic<uint64_t>[mask_ + 1]),
        remaining_(new std::atomic<int32_t>[mask_ + 1]),
        max_latency_(new std::atomic<int64_t>[mask_ + 1]) {
    for (uint64_t i = 0; i <= mask_; ++i) {
      owner_[i].store(~uint64_t{0}, std::memory_order_relaxed);
      remaining_[i].store(0, std::memory_order_relaxed);
      max_latency_[i].store(0, std::memory_order_relaxed);
    }
  }

  // Registers a message that should be delivered `expected` times; returns its id.
  uint64_t begin(uint32_t expected) {
    const uint64_t id = next_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t slot = id & mask_;
    remaining_[slot].store(static_cast<int32_t>(expected), std::memory_order_relaxed);
    max_latency_[slot].store(0, std::memory_order_relaxed);
    owner_[slot].store(id, std::memory_order_release);
    expected_total_.fetch_add(expected, std::memory_order_relaxed);
    return id;
  }

  enum class Outcome { Partial, Complete, Duplicate, Untracked };

  // Records one delivery of message `id` with `latency_ns`. On Complete, `completion_ns` is the
  // largest latency over all of the message's deliveries.
  Outcome deliver(uint64_t id, int64_t latency_ns, int64_t& completion_ns) {
    const uint64_t slot = id & mask_;
    if (owner_[slot].load(std::memory_order_acquire) != id) return Outcome::Untracked;
    int64_t seen = max_latency_[slot].load(std::memory_order_relaxed);
    while (latency_ns > seen &&
           !max_latency_[slot].compare_exchange_weak(seen, latency_ns, std::memory_order_acq_rel)) {
    }
    const int32_t left = remaining_[slot].fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left < 0) return Outcome::Duplicate;
    if (left > 0) return Outcome::Partial;
    completion_ns = max_latency_[slot].load(std::memory_order_acquire);
    return Outcome::Complete;
  }

  uint64_t published() const { return next_.load(std::memory_order_relaxed); }
  uint64_t expectedDeliveries() const { return expected_total_.load(std::memory_order_relaxed); }

 private:
  const uint64_t mask_;
  std::unique_ptr<std::atomic<uint64_t>[]> owner_;
  std::unique_ptr<std::atomic<int32_t>[]> remaining_;
  std::unique_ptr<std::atomic<int64_t>[]> max_latency_;
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> expected_total_{0};
};

}  // namespace parley::bench
