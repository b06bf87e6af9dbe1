// LoadLoop: one epoll event loop driving many MQTT client connections for the load generator.
// It opens connections (from rotating loopback source addresses, so one process can exceed the
// 64k ephemeral ports of a single address pair), runs CONNECT / SUBSCRIBE, publishes benchmark
// messages at a scheduled rate or as fast as a per-connection in-flight window allows, answers
// QoS 1/2 deliveries, and records latencies. All packets go through the project's codec
// (broker/protocol/codec.hpp); hot-path PUBLISH and PUBACK bytes are encoded once per connection
// and only their packet id and payload stamp are patched afterwards.
//
// Threading: a LoadLoop and its connections belong to the thread that calls runUntil(). Scenario
// drivers either run several loops on their own threads (coordinated through RunControl's phase)
// or drive one loop step by step from the main thread. LoopCounters may be read from any thread.
//
// Benchmark payload layout (little-endian, then zero padding up to --size):
//   [0, 8) intended send time, steady-clock ns  [8, 16) DeliveryTracker id  [16, 20) magic
// In chat mode the same bytes are the `body` of a ChatSend (out) / ChatMessage (in).
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "codec.hpp"
#include "delivery_tracker.hpp"
#include "histogram.hpp"

namespace parley::bench {

int64_t nowNs();

inline constexpr size_t kStampSize = 20;

// Settings shared by every connection of a run.
struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  mqtt::Version version = mqtt::Version::V311;
  int sources = 8;  // source addresses 127.0.0.2 .. 127.0.0.(1 + sources); 0 = let the OS choose
  uint16_t keep_alive = 0;
  uint8_t qos = 1;
  size_t payload_size = 64;
  int inflight = 16;               // unacknowledged QoS>0 PUBLISHes per publishing connection
  int connect_concurrency = 64;    // TCP+MQTT handshakes in progress at once, per loop
  size_t owed_cap = 10000;         // scheduled-but-unsent messages per publisher before skipping
  uint32_t max_packet = 1u << 28;  // largest packet accepted from the broker
};

// What one connection does.
struct ClientSpec {
  std::string client_id;
  bool clean = true;
  uint32_t session_expiry = 0;        // 5.0 only: kept session after disconnect, seconds
  std::vector<std::string> filters;   // subscribed at LoadOptions::qos after CONNACK
  std::string publish_topic;          // empty: never publishes
  uint32_t expected_per_publish = 1;  // deliveries each of its publishes should cause
  uint64_t max_messages = 0;          // stop publishing after this many (0 = no limit)
  std::string username;               // CONNECT user name (Parley's chat layer: the user id)
  // Publish Parley chat sends: the benchmark payload travels as the body of a ChatSend envelope
  // (schema/chat.fbs) with a unique cmid, and comes back inside the stored ChatMessage.
  bool chat = false;
};

enum class Phase : int { Setup, Run, Drain, Stop };

// Run-wide state shared by all loops of one scenario.
struct RunControl {
  std::atomic<Phase> phase{Phase::Setup};
  std::atomic<int64_t> run_start_ns{0};
  double rate_per_loop = 0;   // messages/s each loop schedules; 0 = window-limited, unpaced
  int storm_concurrency = 0;  // per loop; > 0 turns the loop into a connect/disconnect storm
  DeliveryTracker tracker;
};

// Counters written by the owning loop only (relaxed), readable from any thread.
struct LoopCounters {
  std::atomic<uint64_t> ready{0};      // connections that reached Ready (storm: handshakes done)
  std::atomic<uint64_t> failed{0};     // connections that failed or were closed by the broker
  std::atomic<uint64_t> published{0};  // PUBLISH packets sent
  std::atomic<uint64_t> acked{0};      // PUBACK / PUBCOMP received for them
  std::atomic<uint64_t> delivered{0};  // benchmark PUBLISHes received
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> untracked{0};
  std::atomic<uint64_t> skipped{0};  // scheduled messages dropped because a publisher lagged
  std::atomic<int64_t> last_delivery_ns{0};
};

class LoadLoop {
 public:
  LoadLoop(const LoadOptions& options, RunControl& control, int index);
  ~LoadLoop();
  LoadLoop(const LoadLoop&) = delete;
  LoadLoop& operator=(const LoadLoop&) = delete;

  // Queues a connection; it is opened by the next runUntil(). Returns its index.
  size_t add(ClientSpec spec);

  // Runs the event loop until `done()` holds (checked every iteration) or `deadline_ns` passes.
  // Returns whether `done()` held.
  bool runUntil(const std::function<bool()>& done, int64_t deadline_ns);

  // Sends DISCONNECT to connection `idx` and closes it (no error is counted).
  void disconnect(size_t idx);
  // Opens connection `idx` again with its spec; `subscribe` = send its SUBSCRIBE again.
  void reconnect(size_t idx, bool subscribe);
  // DISCONNECT and close every open connection.
  void closeAll();

  // State of connection `idx` after its last CONNACK.
  bool sessionPresent(size_t idx) const;
  size_t openConnections() const;

  const LoopCounters& counters() const { return counters_; }
  const std::vector<std::string>& errors() const { return errors_; }
  uint64_t errorCount() const { return error_count_; }

  LatencyHistogram delivery_latency;    // publish intent -> each delivery
  LatencyHistogram completion_latency;  // publish intent -> last expected delivery
  LatencyHistogram ack_latency;         // PUBLISH written -> PUBACK / PUBCOMP read
  LatencyHistogram connect_latency;     // TCP connect start -> CONNACK (and SUBACK if any)

 private:
  struct Publisher;
  struct Conn;

  void startConnects();
  void openSocket(size_t idx);
  void onEvent(size_t idx, uint32_t events);
  void onReadable(Conn& c);
  size_t process(Conn& c, mqtt::Bytes bytes);
  void handle(Conn& c, const mqtt::Packet& packet);
  void becomeReady(Conn& c);
  void onDelivery(Conn& c, const mqtt::Publish& p, int64_t now);
  void onPublishDone(Conn& c, uint16_t packet_id, int64_t now);
  void fail(Conn& c, const std::string& why);
  void closeConn(Conn& c);
  void markDirty(Conn& c);
  void flush(Conn& c);
  void flushDirty();
  void setWantWrite(Conn& c, bool want);
  void schedule(int64_t now);
  void markSendable(Conn& c);
  void sendSome(Conn& c, int64_t now);
  void publishOne(Conn& c, int64_t stamp, int64_t now);
  void stormRefill();
  void sendPings(int64_t now);
  void appendAck(Conn& c, mqtt::PacketType type, uint16_t id);

  const LoadOptions opts_;
  RunControl& ctl_;
  const int index_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::deque<size_t> to_connect_;
  size_t connecting_ = 0;
  std::vector<size_t> dirty_;
  std::vector<size_t> sendable_;
  std::vector<size_t> publishers_;
  std::vector<size_t> batch_;  // scratch for draining dirty_ / sendable_
  size_t rr_ = 0;              // round-robin cursor over publishers_ for paced scheduling
  uint64_t assigned_ = 0;      // paced messages handed to publishers so far
  Phase seen_phase_ = Phase::Setup;
  int64_t run_start_ns_ = 0;
  int64_t last_ping_sweep_ns_ = 0;
  uint64_t storm_serial_ = 0;
  size_t storm_open_ = 0;
  std::vector<uint8_t> scratch_;
  mqtt::Buffer puback_, pubrec_;  // encoded once; packet id patched per use
  size_t ack_id_offset_ = 2;
  LoopCounters counters_;
  std::vector<std::string> errors_;  // the first few, for the report
  uint64_t error_count_ = 0;
};

}  // namespace parley::bench
