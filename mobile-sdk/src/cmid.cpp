// Client message ids. Time-ordered (48-bit milliseconds first) so ids sort roughly by creation,
// which keeps them readable in logs, with 80 random bits so two devices of one user — which
// share the broker's dedup key (user, conversation, cmid) — never collide in practice.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "parley/sdk/chat_client.hpp"

namespace parley::sdk {

std::string ChatClient::newCmid() {
  static std::mutex mu;
  static std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  uint64_t r1, r2;
  {
    std::lock_guard lock(mu);
    r1 = rng();
    r2 = rng();
  }
  const uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  // 128 bits = 48 time + 80 random, written as 26 Crockford base-32 digits (130 bits, the top
  // two always zero).
  const uint64_t hi = (ms << 16) | (r1 & 0xffff);
  const uint64_t lo = r2;
  static constexpr char kDigits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    const int bit = (25 - i) * 5;  // position of this digit's lowest bit
    uint64_t v;
    if (bit >= 64) {
      v = hi >> (bit - 64);
    } else if (bit + 5 <= 64) {
      v = lo >> bit;
    } else {
      v = (lo >> bit) | (hi << (64 - bit));
    }
    out[static_cast<size_t>(i)] = kDigits[v & 31];
  }
  return out;
}

}  // namespace parley::sdk
