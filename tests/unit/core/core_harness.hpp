// Drives the broker core without sockets: a fake Transport per client that collects output, a
// manual clock, and a single "event loop" whose posted work the test runs explicitly. The store is
// the real RocksDB store in a temporary directory.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "broker.hpp"
#include "chat_hub.hpp"
#include "client.hpp"
#include "codec.hpp"
#include "conversation_directory.hpp"
#include "store.hpp"

namespace parley::testing {

class ManualClock : public core::Clock {
 public:
  int64_t nowMs() const override { return now_; }
  int64_t wallMs() const override { return 1'700'000'000'000 + now_; }
  void advance(int64_t ms) { now_ += ms; }

 private:
  int64_t now_ = 1000;
};

class QueueExecutor : public core::Executor {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    q_.push_back(std::move(fn));
  }
  // Runs queued work until none is left.
  size_t drain() {
    size_t n = 0;
    while (true) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu_);
        if (q_.empty()) return n;
        fn = std::move(q_.front());
        q_.pop_front();
      }
      fn();
      ++n;
    }
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> q_;
};

class FakeTransport : public core::Transport {
 public:
  mqtt::Buffer& output() override { return out_; }
  void requestFlush() override {}
  void close() override { closed_ = true; }
  size_t queuedBytes() const override { return unsent_; }
  const std::string& peer() const override { return peer_; }
  // Pretends `n` bytes sit unsent in the socket's buffers (a reader that stopped reading).
  void setUnsent(size_t n) { unsent_ = n; }

  // Decodes and removes everything written so far.
  std::vector<mqtt::Packet> take(mqtt::Version v) {
    std::vector<mqtt::Packet> packets;
    size_t pos = 0;
    while (pos < out_.size()) {
      mqtt::Bytes avail(out_.data() + pos, out_.size() - pos);
      auto scan = mqtt::readFrame(avail, UINT32_MAX);
      EXPECT_TRUE(scan.ok());
      if (!scan || !scan->complete) break;
      auto p = mqtt::decode(scan->frame, mqtt::Bytes(out_.data() + pos, scan->frame.total()), v);
      EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().what);
      if (!p) break;
      // Publish views point into out_: copy the strings the tests look at.
      if (auto* pub = std::get_if<mqtt::Publish>(&*p)) {
        texts_.push_back(std::string(pub->topic));
        pub->topic = texts_.back();
        texts_.push_back(std::string(pub->payload));
        pub->payload = texts_.back();
      }
      packets.push_back(std::move(*p));
      pos += scan->frame.total();
    }
    out_.clear();
    return packets;
  }
  bool closed() const { return closed_; }

 private:
  mqtt::Buffer out_;
  bool closed_ = false;
  size_t unsent_ = 0;
  std::string peer_ = "test";
  std::deque<std::string> texts_;
};

// One fake connection: transport + core client.
struct TestClient {
  FakeTransport transport;
  std::shared_ptr<core::Client> client;
  mqtt::Version version = mqtt::Version::V311;
};

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-core-" + std::to_string(std::random_device{}()));
    open();
  }
  void TearDown() override {
    close();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    store::StoreOptions o;
    o.path = dir_.string();
    o.durability = store::Durability::None;
    store_ = store::openRocksDbStore(o);
    broker_ = std::make_unique<core::Broker>(config_, *store_, clock_, 1);
    broker_->setExecutors({&loop_});
    core::Broker::setCurrentThread(0);
    directory_ = std::make_unique<chat::ConversationDirectory>(
        *store_, chat::DirectoryOptions{5000, 0, 0, 0, [this] { return clock_.wallMs(); }});
    hub_ = std::make_unique<core::ChatHub>(*broker_, *directory_);
    broker_->setChat(hub_.get());
    broker_->recover();
  }
  void close() {
    clients_.clear();
    settle();
    broker_->setChat(nullptr);
    hub_.reset();
    directory_.reset();
    broker_.reset();
    store_.reset();
  }
  void restart() {
    close();
    open();
  }
  // Waits for the store's writer and runs everything posted back, until quiet.
  void settle() {
    for (int i = 0; i < 50; ++i) {
      if (store_) store_->flush();
      if (loop_.drain() == 0) return;
    }
  }

  TestClient& connect(const std::string& id, mqtt::Version v = mqtt::Version::V311,
                      bool clean = true, uint32_t expiry = 0, uint16_t keep_alive = 0) {
    auto tc = std::make_unique<TestClient>();
    tc->version = v;
    tc->client = std::make_shared<core::Client>(*broker_, tc->transport);
    mqtt::Connect c;
    c.version = v;
    c.client_id = id;
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    if (v == mqtt::Version::V5 && expiry) c.props.session_expiry_interval = expiry;
    mqtt::Packet p = c;
    tc->client->onPacket(p);
    settle();
    clients_.push_back(std::move(tc));
    return *clients_.back();
  }
  TestClient& connectV5(const std::string& id, bool clean, uint32_t expiry,
                        uint16_t receive_max = 0, uint32_t max_packet = 0,
                        std::optional<mqtt::Will> will = std::nullopt) {
    auto tc = std::make_unique<TestClient>();
    tc->version = mqtt::Version::V5;
    tc->client = std::make_shared<core::Client>(*broker_, tc->transport);
    mqtt::Connect c;
    c.version = mqtt::Version::V5;
    c.client_id = id;
    c.clean_start = clean;
    if (expiry) c.props.session_expiry_interval = expiry;
    if (receive_max) c.props.receive_maximum = receive_max;
    if (max_packet) c.props.maximum_packet_size = max_packet;
    c.will = std::move(will);
    mqtt::Packet p = c;
    tc->client->onPacket(p);
    settle();
    clients_.push_back(std::move(tc));
    return *clients_.back();
  }
  // A client with a user name (the chat layer's user id); 5.0 when `expiry` or `receive_max` is
  // set or `v5`.
  TestClient& connectUser(const std::string& id, const std::string& user, bool v5, bool clean,
                          uint32_t expiry = 0, uint16_t receive_max = 0) {
    auto tc = std::make_unique<TestClient>();
    tc->version = v5 ? mqtt::Version::V5 : mqtt::Version::V311;
    tc->client = std::make_shared<core::Client>(*broker_, tc->transport);
    mqtt::Connect c;
    c.version = tc->version;
    c.client_id = id;
    c.clean_start = clean;
    c.username = user;
    if (v5 && expiry) c.props.session_expiry_interval = expiry;
    if (v5 && receive_max) c.props.receive_maximum = receive_max;
    mqtt::Packet p = c;
    tc->client->onPacket(p);
    settle();
    clients_.push_back(std::move(tc));
    return *clients_.back();
  }
  // Takes PUBLISHes as they come, acknowledging each (QoS 1), until `n` or nothing more comes.
  std::vector<std::string> receiveAll(TestClient& tc, size_t n);
  void send(TestClient& tc, mqtt::Packet p) {
    tc.client->onPacket(p);
    settle();
  }
  void drop(TestClient& tc) {  // the socket died
    tc.client->onConnectionLost();
    settle();
  }
  void subscribe(TestClient& tc, const std::string& filter, uint8_t qos, uint16_t pid = 1) {
    mqtt::Subscribe s;
    s.packet_id = pid;
    s.subscriptions.push_back({filter, {qos, false, false, 0}});
    send(tc, s);
  }
  void publish(TestClient& tc, const std::string& topic, const std::string& payload, uint8_t qos,
               uint16_t pid = 0, bool retain = false) {
    mqtt::Publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos = qos;
    p.packet_id = pid;
    p.retain = retain;
    send(tc, p);
  }

  core::BrokerConfig config_;
  ManualClock clock_;
  QueueExecutor loop_;
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<core::Broker> broker_;
  std::unique_ptr<chat::ConversationDirectory> directory_;
  std::unique_ptr<core::ChatHub> hub_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

template <class T>
std::vector<T> only(const std::vector<mqtt::Packet>& ps);

inline std::vector<std::string> CoreTest::receiveAll(TestClient& tc, size_t n) {
  std::vector<std::string> got;
  while (got.size() < n) {
    auto pubs = only<mqtt::Publish>(tc.transport.take(tc.version));
    if (pubs.empty()) break;
    for (auto& p : pubs) {
      got.emplace_back(p.payload);
      send(tc, mqtt::Ack{mqtt::PacketType::Puback, p.packet_id, mqtt::Reason::Success, {}});
    }
  }
  return got;
}

template <class T>
std::vector<T> only(const std::vector<mqtt::Packet>& ps) {
  std::vector<T> out;
  for (auto& p : ps)
    if (auto* x = std::get_if<T>(&p)) out.push_back(*x);
  return out;
}

}  // namespace parley::testing
