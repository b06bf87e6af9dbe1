// LatencyHistogram: an HDR-style log-linear histogram of non-negative 64-bit values (nanoseconds
// in practice). Values below 2^kSubBits are counted exactly; above that each power-of-two range is
// split into 2^kSubBits linear sub-buckets, so any recorded value is reported within 1/128 (0.8%)
// of itself. Recording is one shift, one add; the whole table is ~58 KiB and fixed in size.
// Min, max and sum are kept exactly.
//
// Not thread-safe: each event loop owns one and the reporter merges them after the loops stop.
//
// Bucket index: with shift = max(0, msb(v) - kSubBits), index = shift * 2^kSubBits + (v >> shift).
// For shift 0 that is v itself (0 .. 2^(kSubBits+1) - 1); each further shift adds one block of
// 2^kSubBits buckets whose top half (v >> shift is in [2^kSubBits, 2^(kSubBits+1))) is new.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace parley::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;

  LatencyHistogram() : counts_((64 - kSubBits + 1) * kSub, 0) {}

  void record(int64_t value) {
    const uint64_t v = value < 0 ? 0 : static_cast<uint64_t>(value);
    ++counts_[index(v)];
    ++total_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return total_ ? max_ : 0; }
  uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const {
    return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0;
  }

  // Value at quantile q in [0, 1]: the highest value equivalent to the bucket holding the
  // ceil(q * count)-th smallest recording, clamped to the exact max.
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.5);
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highestEquivalent(i), max_);
    }
    return max_;
  }

 private:
  static size_t index(uint64_t v) {
    const int msb = v == 0 ? 0 : 63 - std::countl_zero(v);
    const int shift = std::max(0, msb - kSubBits);
    return static_cast<size_t>(shift) * kSub + (v >> shift);
  }
  static uint64_t highestEquivalent(size_t idx) {
    const uint64_t block = idx / kSub;
    if (block <= 1) return idx;  // exact region
    const uint64_t shift = block - 1;
    const uint64_t mantissa = idx - shift * kSub;  // in [kSub, 2 * kSub)
    return ((mantissa + 1) << shift) - 1;
  }

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace parley::bench
