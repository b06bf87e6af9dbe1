// FaultProxy: a loopback TCP forwarder between SDK clients and parleyd that can misbehave on
// command, so the SDK's retry and catch-up paths are exercised deterministically instead of by
// timing luck. It gives clients a port that survives a broker restart (setTarget), and it can
//   - drop the broker's next PUBACK and cut that connection (the message is stored, the client
//     never hears so: the retry must get the original seq back),
//   - swallow everything the client sends (its PUBACKs never reach the broker, so the broker's
//     offset stays put and it redelivers after the next reconnect),
//   - cut every connection, and refuse new ones (a device that stays offline).
// It parses the broker -> client byte stream into MQTT packets (fixed header + remaining
// length) to find PUBACKs and count PUBLISHes; the client -> broker stream is passed unparsed.
//
// Ownership: owns its listening socket, every forwarded socket pair and one thread.
// Threading: the control methods are called from the test thread; the forwarding thread does
// all socket work, and cutAll() waits (bounded) until it has done the cut.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace sdktest {

class FaultProxy {
 public:
  explicit FaultProxy(uint16_t target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }
  void setTarget(uint16_t port) { target_ = port; }
  // Drop the next PUBACK the broker sends, and close that connection pair at that point.
  void dropNextPuback() { drop_puback_ = true; }
  // Discard what clients send (the connections stay open).
  void setSwallowUpstream(bool on) { swallow_up_ = on; }
  // Accept and at once close new connections.
  void setRefuse(bool on) { refuse_ = on; }
  // Closes every current connection pair; returns once done (or after 5 s).
  void cutAll();

  int pubacksDropped() const { return pubacks_dropped_; }
  int publishesForwarded() const { return publishes_forwarded_; }
  int pubacksForwarded() const { return pubacks_forwarded_; }
  int connectionsAccepted() const { return accepted_; }

 private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<uint16_t> target_;
  std::atomic<bool> drop_puback_{false}, swallow_up_{false}, refuse_{false}, stop_{false};
  std::atomic<int> pubacks_dropped_{0}, publishes_forwarded_{0}, pubacks_forwarded_{0},
      accepted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t cut_requested_ = 0, cut_done_ = 0;
  std::thread thread_;
};

}  // namespace sdktest
