#include "sdk_device.hpp"

#include <sstream>

namespace sdktest {

sdk::ClientOptions deviceOptions(uint16_t port, const std::string& device,
                                 const std::string& user) {
  sdk::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.device_id = device;
  o.user_id = user;
  o.session_expiry = std::chrono::seconds(3600);
  o.keep_alive = std::chrono::seconds(30);
  o.connect_timeout = std::chrono::seconds(5);
  o.min_reconnect_delay = Millis(100);
  o.max_reconnect_delay = Millis(1000);
  o.rpc_timeout = Millis(8000);
  o.seq_lookup_delay = Millis(300);
  return o;
}

SdkDevice::SdkDevice(const sdk::ClientOptions& opts) : opts_(opts) {
  client_ = std::make_unique<sdk::ChatClient>(opts_, handlers());
}

SdkDevice::~SdkDevice() {
  quit();
}

sdk::Handlers SdkDevice::handlers() {
  sdk::Handlers h;
  h.on_message = [this](const sdk::Message& m) {
    std::lock_guard lock(mu_);
    msgs_[m.conv].push_back(m);
    ++events_;
    cv_.notify_all();
  };
  h.on_receipts = [this](const sdk::Receipts& r) {
    std::lock_guard lock(mu_);
    receipts_.push_back(r);
    ++events_;
    cv_.notify_all();
  };
  h.on_typing = [this](const sdk::TypingEvent& t) {
    std::lock_guard lock(mu_);
    typing_.push_back(t);
    ++events_;
    cv_.notify_all();
  };
  h.on_presence = [this](const sdk::Presence& p) {
    std::lock_guard lock(mu_);
    presence_.push_back(p);
    ++events_;
    cv_.notify_all();
  };
  h.on_connection = [this](const sdk::ConnectionEvent& e) {
    std::lock_guard lock(mu_);
    conn_.push_back(e);
    connected_ = e.connected;
    ++events_;
    cv_.notify_all();
  };
  return h;
}

bool SdkDevice::connect() {
  auto r = await(client_->connect());
  EXPECT_TRUE(r.ok()) << opts_.device_id << ": " << (r ? "" : r.error().message);
  return r && r.value().session_present;
}

void SdkDevice::restartApp() {
  quit();
  std::lock_guard lock(mu_);
  connected_ = false;
  client_ = std::make_unique<sdk::ChatClient>(opts_, handlers());
}

void SdkDevice::quit() {
  // Outside the lock: the destructor waits for the callback thread, whose handlers take it.
  std::unique_ptr<sdk::ChatClient> c;
  {
    std::lock_guard lock(mu_);
    c = std::move(client_);
  }
  c.reset();
}

bool SdkDevice::waitUntil(const std::function<bool()>& pred, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    const uint64_t seen = events_;
    lock.unlock();
    const bool ok = pred();  // takes the lock itself through the snapshot accessors
    lock.lock();
    if (ok) return true;
    if (!cv_.wait_until(lock, deadline, [&] { return events_ != seen; })) {
      lock.unlock();
      return pred();
    }
  }
}

bool SdkDevice::waitMessages(const std::string& conv, size_t n, Millis timeout) {
  return waitUntil([&] { return messages(conv).size() >= n; }, timeout);
}

bool SdkDevice::waitConnected(bool connected, Millis timeout) {
  return waitUntil(
      [&] {
        std::lock_guard lock(mu_);
        return connected_ == connected;
      },
      timeout);
}

std::vector<sdk::Message> SdkDevice::messages(const std::string& conv) {
  std::lock_guard lock(mu_);
  return msgs_[conv];
}

std::vector<sdk::Receipts> SdkDevice::receipts() {
  std::lock_guard lock(mu_);
  return receipts_;
}

std::vector<sdk::TypingEvent> SdkDevice::typing() {
  std::lock_guard lock(mu_);
  return typing_;
}

std::vector<sdk::Presence> SdkDevice::presence() {
  std::lock_guard lock(mu_);
  return presence_;
}

std::vector<sdk::ConnectionEvent> SdkDevice::connectionEvents() {
  std::lock_guard lock(mu_);
  return conn_;
}

std::vector<uint64_t> SdkDevice::chatSeqs(const std::string& conv) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& m : msgs_[conv]) {
    if (m.kind != sdk::MessageKind::System) out.push_back(m.seq);
  }
  return out;
}

std::string checkSeqRun(const std::vector<sdk::Message>& msgs, uint64_t first, uint64_t last) {
  std::ostringstream err;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i].seq != first + i) {
      err << "message #" << i << " has seq " << msgs[i].seq << ", expected " << first + i;
      return err.str();
    }
  }
  const uint64_t want = last >= first ? last - first + 1 : 0;
  if (msgs.size() != want) {
    err << "got " << msgs.size() << " messages from seq " << first << ", expected " << want;
    return err.str();
  }
  return {};
}

}  // namespace sdktest
