// SdkDevice: one app on one device for the SDK tests — a parley::sdk::ChatClient whose handlers
// record everything they are given (messages per conversation, receipts, typing, presence,
// connection events) behind a mutex, with bounded waits on a condition variable. await() turns
// an SDK future into a Result within a deadline, so a hung operation fails the test instead of
// hanging it.
//
// Threading: the handlers run on the SDK's callback thread; everything else on the test thread.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parley/sdk/chat_client.hpp"

namespace sdktest {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;
namespace sdk = parley::sdk;

template <class T>
sdk::Result<T> await(std::future<sdk::Result<T>> f, Millis timeout = 15s) {
  if (f.wait_for(timeout) != std::future_status::ready) {
    ADD_FAILURE() << "SDK operation did not complete within " << timeout.count() << " ms";
    return sdk::Error{sdk::ErrorCode::Timeout, 0, "test wait expired"};
  }
  return f.get();
}

// Options for a test device: fast reconnects, short seq look-up delay.
sdk::ClientOptions deviceOptions(uint16_t port, const std::string& device, const std::string& user);

class SdkDevice {
 public:
  SdkDevice(const sdk::ClientOptions& opts);
  SdkDevice(uint16_t port, const std::string& device, const std::string& user)
      : SdkDevice(deviceOptions(port, device, user)) {}
  ~SdkDevice();

  sdk::ChatClient& client() { return *client_; }
  sdk::ChatClient* operator->() { return client_.get(); }
  const sdk::ClientOptions& options() const { return opts_; }

  // Connects and expects success; returns the session-present flag.
  bool connect();
  // Destroys the ChatClient (as an app that quits) and makes a new one with the same options.
  void restartApp();
  // Destroys it for good.
  void quit();

  // Waits until pred() holds, re-checking after every recorded event. pred runs without the
  // lock held, so it may use the snapshot accessors below.
  bool waitUntil(const std::function<bool()>& pred, Millis timeout = 10s);
  bool waitMessages(const std::string& conv, size_t n, Millis timeout = 10s);
  bool waitConnected(bool connected, Millis timeout = 10s);

  // Snapshots (copies taken under the lock).
  std::vector<sdk::Message> messages(const std::string& conv);
  std::vector<sdk::Receipts> receipts();
  std::vector<sdk::TypingEvent> typing();
  std::vector<sdk::Presence> presence();
  std::vector<sdk::ConnectionEvent> connectionEvents();

  // Seqs of the chat messages (not system ones) received in `conv`, in arrival order.
  std::vector<uint64_t> chatSeqs(const std::string& conv);

 private:
  sdk::Handlers handlers();

  sdk::ClientOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<sdk::Message>> msgs_;
  std::vector<sdk::Receipts> receipts_;
  std::vector<sdk::TypingEvent> typing_;
  std::vector<sdk::Presence> presence_;
  std::vector<sdk::ConnectionEvent> conn_;
  bool connected_ = false;
  uint64_t events_ = 0;  // bumped by every handler: what waitUntil waits for
  std::unique_ptr<sdk::ChatClient> client_;
};

// "" if msgs hold exactly the seqs first..last in order (gapless, no duplicate), else what is
// wrong.
std::string checkSeqRun(const std::vector<sdk::Message>& msgs, uint64_t first, uint64_t last);

}  // namespace sdktest
