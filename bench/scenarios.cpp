#include "scenarios.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <thread>

#include "proc_stats.hpp"

namespace parley::bench {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

int64_t secondsToNs(double s) {
  return static_cast<int64_t>(s * 1e9);
}
double nsToSeconds(int64_t ns) {
  return static_cast<double>(ns) / 1e9;
}
void sleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Tags client ids and topics with our pid so runs never see each other's sessions.
std::string runTag() {
  return std::to_string(getpid());
}
std::string clientId(const std::string& kind, size_t n) {
  return "pb" + runTag() + kind + std::to_string(n);
}

// Creates a conversation through Parley's admin HTTP API (chat mode). Members: the first is
// the owner. A blocking HTTP/1.1 request on loopback; returns "" or an error text.
std::string createConversation(const BenchConfig& cfg, const std::string& id,
                               const std::vector<std::string>& users) {
  std::string body = "{\"id\":\"" + id + "\",\"kind\":\"group\",\"members\":[";
  for (size_t i = 0; i < users.size(); ++i) {
    if (i) body += ',';
    body += "{\"user\":\"" + users[i] + "\",\"role\":\"" + (i ? "member" : "owner") + "\"}";
  }
  body += "]}";
  const std::string request =
      "POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Authorization: Bearer " +
      cfg.admin_token +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket failed";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(cfg.admin_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, size_t(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/1.1 201", 0) == 0 || response.rfind("HTTP/1.1 200", 0) == 0) return "";
  return "admin API: " + response.substr(0, response.find("\r\n")) + " " +
         response.substr(response.find("\r\n\r\n") == std::string::npos
                             ? response.size()
                             : response.find("\r\n\r\n") + 4);
}

std::string versionName(mqtt::Version v) {
  return mqtt::isV5(v) ? "5.0" : "3.1.1";
}

std::string fmt(const char* format, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, format, a, b, c);
  return buf;
}

// Broker and load-generator CPU over one measured window.
class CpuWindow {
 public:
  explicit CpuWindow(pid_t broker) : broker_(broker) {}
  void start() {
    broker0_ = broker_ ? processCpuSeconds(broker_) : -1;
    self0_ = selfCpuSeconds();
  }
  // Adds <prefix>broker_cpu_s, <prefix>cpu_us_per_<unit> and <prefix>bench_cpu_s.
  void stop(Report& r, uint64_t units, const std::string& unit,
            const std::string& prefix = "") const {
    const double broker1 = broker_ ? processCpuSeconds(broker_) : -1;
    r.set(prefix + "bench_cpu_s", selfCpuSeconds() - self0_);
    if (broker0_ < 0 || broker1 < 0) return;
    const double cpu = broker1 - broker0_;
    r.set(prefix + "broker_cpu_s", cpu);
    if (units) r.set(prefix + "cpu_us_per_" + unit, cpu * 1e6 / static_cast<double>(units));
  }

 private:
  pid_t broker_;
  double broker0_ = -1, self0_ = 0;
};

void common(const BenchConfig& cfg, Report& r) {
  r.set("scenario", cfg.scenario);
  if (!cfg.label.empty()) r.set("label", cfg.label);
  r.set("host", cfg.load.host);
  r.setInt("port", cfg.load.port);
  r.set("protocol", versionName(cfg.load.version));
  r.setInt("qos", cfg.load.qos);
  r.setInt("size", static_cast<int64_t>(std::max(cfg.load.payload_size, kStampSize)));
  r.setInt("threads", cfg.threads);
  if (cfg.broker_pid) r.setInt("broker_pid", cfg.broker_pid);
  if (cfg.chat) r.setInt("chat", 1);
}

uint64_t reportErrors(Report& r, const std::vector<std::unique_ptr<LoadLoop>>& loops) {
  uint64_t n = 0;
  std::string first;
  for (const auto& l : loops) {
    n += l->errorCount();
    if (first.empty() && !l->errors().empty()) first = l->errors().front();
  }
  r.setInt("errors", static_cast<int64_t>(n));
  if (!first.empty()) r.set("first_error", first);
  return n;
}

// ---- steady-load scenarios: pairs, fanin, fanout, group, storm -------------------------------

struct Topology {
  std::vector<ClientSpec> clients;
  int publishers = 0;
  int subscribers = 0;
};

Topology pairsTopology(const BenchConfig& cfg) {
  Topology t;
  const std::string base = "bench/pairs/" + runTag() + "/";
  for (int i = 0; i < cfg.pairs; ++i) {
    for (int side = 0; side < 2; ++side) {
      ClientSpec c;
      c.client_id = clientId("p", static_cast<size_t>(i * 2 + side));
      c.filters = {base + std::to_string(i) + (side ? "/b" : "/a")};
      c.publish_topic = base + std::to_string(i) + (side ? "/a" : "/b");
      t.clients.push_back(std::move(c));
    }
  }
  t.publishers = t.subscribers = cfg.pairs * 2;
  return t;
}

Topology faninTopology(const BenchConfig& cfg) {
  Topology t;
  t.publishers = cfg.publishers ? cfg.publishers : 100;
  t.subscribers = cfg.subscribers ? cfg.subscribers : 1;
  const std::string base = "bench/fanin/" + runTag() + "/";
  for (int i = 0; i < t.subscribers; ++i) {
    ClientSpec c;
    c.client_id = clientId("s", static_cast<size_t>(i));
    c.filters = {base + "+"};
    t.clients.push_back(std::move(c));
  }
  for (int i = 0; i < t.publishers; ++i) {
    ClientSpec c;
    c.client_id = clientId("i", static_cast<size_t>(i));
    c.publish_topic = base + std::to_string(i);
    c.expected_per_publish = static_cast<uint32_t>(t.subscribers);
    t.clients.push_back(std::move(c));
  }
  return t;
}

Topology fanoutTopology(const BenchConfig& cfg) {
  Topology t;
  t.publishers = cfg.publishers ? cfg.publishers : 1;
  t.subscribers = cfg.subscribers ? cfg.subscribers : 1000;
  const std::string topic = "bench/fanout/" + runTag();
  for (int i = 0; i < t.subscribers; ++i) {
    ClientSpec c;
    c.client_id = clientId("s", static_cast<size_t>(i));
    c.filters = {topic};
    t.clients.push_back(std::move(c));
  }
  for (int i = 0; i < t.publishers; ++i) {
    ClientSpec c;
    c.client_id = clientId("o", static_cast<size_t>(i));
    c.publish_topic = topic;
    c.expected_per_publish = static_cast<uint32_t>(t.subscribers);
    t.clients.push_back(std::move(c));
  }
  return t;
}

Topology groupTopology(const BenchConfig& cfg) {
  // Every member subscribes to its group topic and posts to it; MQTT delivers a member's own
  // posts back to it too, so each post is expected group_size times. Plain MQTT, so every peer
  // runs it the same way (conv/{id} is Parley's chat layer, which needs conversations and
  // envelopes: not comparable with the peers).
  // Chat mode: each group is a conversation (members u{n}); members subscribe conv/{id}
  // explicitly (clean sessions) and send envelopes; their own sends come back to them too.
  Topology t;
  for (int g = 0; g < cfg.groups; ++g) {
    const std::string conv = "b" + runTag() + "g" + std::to_string(g);
    const std::string topic = (cfg.chat ? "conv/" : "group/") + conv;
    std::vector<std::string> users;
    for (int m = 0; m < cfg.group_size; ++m) {
      const auto n = static_cast<size_t>(g * cfg.group_size + m);
      ClientSpec c;
      c.client_id = clientId("g", n);
      c.filters = {topic};
      c.publish_topic = topic;
      c.expected_per_publish = static_cast<uint32_t>(cfg.group_size);
      if (cfg.chat) {
        c.username = "pb" + runTag() + "u" + std::to_string(n);
        c.chat = true;
        users.push_back(c.username);
      }
      t.clients.push_back(std::move(c));
    }
    if (cfg.chat) {
      const std::string err = createConversation(cfg, conv, users);
      if (!err.empty()) throw std::runtime_error(err);
    }
  }
  t.publishers = t.subscribers = cfg.groups * cfg.group_size;
  return t;
}

class LoopThreads {
 public:
  LoopThreads(const BenchConfig& cfg, RunControl& ctl, int n) : ctl_(ctl) {
    for (int i = 0; i < n; ++i) loops.push_back(std::make_unique<LoadLoop>(cfg.load, ctl, i));
  }
  ~LoopThreads() { stop(); }

  void start() {
    for (auto& l : loops) {
      threads_.emplace_back([this, loop = l.get()] {
        try {
          loop->runUntil([this] { return ctl_.phase.load() == Phase::Stop; }, kForever);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "parley-bench: event loop stopped: %s\n", e.what());
        }
        loop->closeAll();
      });
    }
  }
  void stop() {
    ctl_.phase.store(Phase::Stop);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  uint64_t sum(std::atomic<uint64_t> LoopCounters::*field) const {
    uint64_t s = 0;
    for (const auto& l : loops) s += (l->counters().*field).load(std::memory_order_relaxed);
    return s;
  }
  int64_t lastDelivery() const {
    int64_t t = 0;
    for (const auto& l : loops) t = std::max(t, l->counters().last_delivery_ns.load());
    return t;
  }

  std::vector<std::unique_ptr<LoadLoop>> loops;

 private:
  RunControl& ctl_;
  std::vector<std::thread> threads_;
};

// Waits until every client is Ready; false (and an error in the report) if any failed.
bool awaitSetup(const BenchConfig& cfg, LoopThreads& lt, size_t total, Report& r) {
  const int64_t t0 = nowNs();
  const int64_t deadline = t0 + secondsToNs(cfg.connect_timeout_s);
  while (lt.sum(&LoopCounters::ready) + lt.sum(&LoopCounters::failed) < total && nowNs() < deadline)
    sleepMs(5);
  const uint64_t ready = lt.sum(&LoopCounters::ready);
  r.setInt("connections", static_cast<int64_t>(total));
  r.set("setup_s", nsToSeconds(nowNs() - t0));
  if (ready == total) return true;
  r.set("error",
        "only " + std::to_string(ready) + " of " + std::to_string(total) + " connections came up");
  return false;
}

bool runSteady(const BenchConfig& cfg, const Topology& topo, Report& r) {
  RunControl ctl;
  const int nloops = std::clamp<int>(cfg.threads, 1, static_cast<int>(topo.clients.size()));
  ctl.rate_per_loop = cfg.rate / nloops;
  LoopThreads lt(cfg, ctl, nloops);
  for (size_t i = 0; i < topo.clients.size(); ++i) {
    ClientSpec c = topo.clients[i];
    if (cfg.persistent && !c.filters.empty()) {
      c.clean = false;
      c.session_expiry = 3600;
    }
    lt.loops[i % lt.loops.size()]->add(c);
  }
  r.setInt("persistent", cfg.persistent ? 1 : 0);
  r.setInt("publishers", topo.publishers);
  r.setInt("subscribers", topo.subscribers);
  r.set("rate_target", cfg.rate);
  r.setInt("inflight", cfg.load.inflight);
  lt.start();
  if (!awaitSetup(cfg, lt, topo.clients.size(), r)) {
    lt.stop();
    reportErrors(r, lt.loops);
    return false;
  }

  CpuWindow cpu(cfg.broker_pid);
  cpu.start();
  const int64_t start = nowNs();
  ctl.run_start_ns.store(start);
  ctl.phase.store(Phase::Run);
  const int64_t pub_end_target = start + secondsToNs(cfg.duration_s);
  while (nowNs() < pub_end_target)
    sleepMs(std::max<int>(
        1, std::min<int>(20, static_cast<int>((pub_end_target - nowNs()) / 1'000'000))));
  ctl.phase.store(Phase::Drain);
  const int64_t pub_end = nowNs();

  // Drain: wait for outstanding acks and deliveries; give up on a stall or the drain limit.
  const bool acks = cfg.load.qos > 0;
  const int64_t drain_deadline = pub_end + secondsToNs(cfg.drain_s);
  uint64_t last_progress = 0;
  int64_t last_progress_ns = nowNs();
  for (;;) {
    sleepMs(5);
    const uint64_t published = lt.sum(&LoopCounters::published);
    const uint64_t acked = lt.sum(&LoopCounters::acked);
    const uint64_t delivered = lt.sum(&LoopCounters::delivered);
    const uint64_t dups = lt.sum(&LoopCounters::duplicates);
    const bool complete =
        (!acks || acked >= published) && delivered - dups >= ctl.tracker.expectedDeliveries();
    const int64_t now = nowNs();
    if (complete || now >= drain_deadline) break;
    if (acked + delivered != last_progress) {
      last_progress = acked + delivered;
      last_progress_ns = now;
    } else if (now - last_progress_ns > 2 * kNsPerSec) {
      break;
    }
  }
  const int64_t end = nowNs();
  const uint64_t published = lt.sum(&LoopCounters::published);
  const uint64_t acked = lt.sum(&LoopCounters::acked);
  const uint64_t delivered = lt.sum(&LoopCounters::delivered);
  const uint64_t dups = lt.sum(&LoopCounters::duplicates);
  const uint64_t expected = ctl.tracker.expectedDeliveries();
  cpu.stop(r, delivered, "msg");
  lt.stop();

  LatencyHistogram lat, last, ack;
  for (const auto& l : lt.loops) {
    lat.merge(l->delivery_latency);
    last.merge(l->completion_latency);
    ack.merge(l->ack_latency);
  }
  const int64_t last_delivery = lt.lastDelivery();
  const double window = nsToSeconds((last_delivery > start ? last_delivery : end) - start);
  const double throughput = window > 0 ? static_cast<double>(delivered) / window : 0;
  r.set("duration_s", nsToSeconds(pub_end - start));
  r.set("elapsed_s", window);
  r.setInt("published", static_cast<int64_t>(published));
  r.setInt("acked", static_cast<int64_t>(acked));
  r.setInt("delivered", static_cast<int64_t>(delivered));
  r.setInt("expected", static_cast<int64_t>(expected));
  r.setInt("lost",
           static_cast<int64_t>(expected > delivered - dups ? expected - (delivered - dups) : 0));
  r.setInt("duplicates", static_cast<int64_t>(dups));
  r.setInt("untracked", static_cast<int64_t>(lt.sum(&LoopCounters::untracked)));
  r.setInt("skipped", static_cast<int64_t>(lt.sum(&LoopCounters::skipped)));
  r.set("publish_rate", static_cast<double>(published) / nsToSeconds(pub_end - start));
  r.set("throughput_msgs_s", throughput);
  r.latency("lat", lat);
  r.latency("last", last);
  if (acks) r.latency("ack", ack);
  const uint64_t errors = reportErrors(r, lt.loops);
  r.set("summary", fmt("%.0f deliveries/s, latency p50 %.2f ms p99 %.2f ms", throughput,
                       static_cast<double>(lat.quantile(0.5)) / 1e6,
                       static_cast<double>(lat.quantile(0.99)) / 1e6));
  return errors == 0;
}

bool runStorm(const BenchConfig& cfg, Report& r) {
  RunControl ctl;
  ctl.storm_concurrency = std::max(1, cfg.storm_concurrency);
  LoopThreads lt(cfg, ctl, std::max(1, cfg.threads));
  r.setInt("storm_concurrency", ctl.storm_concurrency * static_cast<int>(lt.loops.size()));
  lt.start();
  CpuWindow cpu(cfg.broker_pid);
  cpu.start();
  const int64_t start = nowNs();
  ctl.run_start_ns.store(start);
  ctl.phase.store(Phase::Run);
  while (nowNs() < start + secondsToNs(cfg.duration_s)) sleepMs(10);
  const uint64_t connects = lt.sum(&LoopCounters::ready);
  const int64_t end = nowNs();
  cpu.stop(r, connects, "connect");
  lt.stop();
  LatencyHistogram connect;
  for (const auto& l : lt.loops) connect.merge(l->connect_latency);
  const double rate = static_cast<double>(connects) / nsToSeconds(end - start);
  r.set("duration_s", nsToSeconds(end - start));
  r.setInt("connects", static_cast<int64_t>(connects));
  r.set("connects_per_s", rate);
  r.latency("connect", connect);
  reportErrors(r, lt.loops);
  r.set("summary", fmt("%.0f connects/s, CONNECT->CONNACK p99 %.2f ms", rate,
                       static_cast<double>(connect.quantile(0.99)) / 1e6));
  return true;
}

// ---- sequential scenarios: idle, catchup ------------------------------------------------------

bool runIdle(const BenchConfig& cfg, Report& r) {
  RunControl ctl;
  std::vector<std::unique_ptr<LoadLoop>> loops;
  loops.push_back(std::make_unique<LoadLoop>(cfg.load, ctl, 0));
  LoadLoop& loop = *loops.front();
  const auto n = static_cast<uint64_t>(std::max(1, cfg.connections));
  for (uint64_t i = 0; i < n; ++i) {
    ClientSpec c;
    c.client_id = clientId("d", i);
    loop.add(std::move(c));
  }
  const long rss0 = cfg.broker_pid ? processRssKib(cfg.broker_pid) : -1;
  const int64_t t0 = nowNs();
  const auto& k = loop.counters();
  loop.runUntil([&] { return k.ready + k.failed >= n; }, t0 + secondsToNs(cfg.connect_timeout_s));
  const int64_t t1 = nowNs();
  const uint64_t ready = k.ready;
  r.setInt("connections", static_cast<int64_t>(n));
  r.setInt("connected", static_cast<int64_t>(ready));
  r.set("connect_s", nsToSeconds(t1 - t0));
  r.set("connects_per_s", static_cast<double>(ready) / nsToSeconds(t1 - t0));
  loop.runUntil([] { return false; }, nowNs() + secondsToNs(cfg.settle_s));
  const long rss1 = cfg.broker_pid ? processRssKib(cfg.broker_pid) : -1;

  CpuWindow cpu(cfg.broker_pid);
  cpu.start();
  loop.runUntil([] { return false; }, nowNs() + secondsToNs(cfg.duration_s));
  cpu.stop(r, 0, "conn");
  const size_t still_open = loop.openConnections();
  r.set("hold_s", cfg.duration_s);
  r.setInt("dropped", static_cast<int64_t>(ready - still_open));
  loop.closeAll();
  r.latency("connect", loop.connect_latency);
  if (rss0 >= 0 && rss1 >= 0 && ready > 0) {
    const double per_conn = static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(ready);
    r.setInt("rss_before_kib", rss0);
    r.setInt("rss_after_kib", rss1);
    r.set("rss_per_conn_bytes", per_conn);
    r.set("summary", fmt("%.0f connections held, broker RSS +%.0f bytes per connection",
                         static_cast<double>(ready), per_conn));
  } else {
    r.set("summary", fmt("%.0f connections held (no --broker-pid: RSS not measured)",
                         static_cast<double>(ready)));
  }
  reportErrors(r, loops);
  if (ready < n) r.set("error", "only " + std::to_string(ready) + " connections came up");
  return ready == n;
}

bool runCatchup(const BenchConfig& cfg, Report& r) {
  if (cfg.load.qos == 0) {
    r.set("error", "catchup needs --qos 1 or 2");
    return false;
  }
  RunControl ctl;
  std::vector<std::unique_ptr<LoadLoop>> loops;
  loops.push_back(std::make_unique<LoadLoop>(cfg.load, ctl, 0));
  LoadLoop& loop = *loops.front();
  const auto& k = loop.counters();
  // Chat mode: the messages are sent to a conversation by one user's devices and the returning
  // device (another member) replays them from the conversation's log by offset.
  const std::string conv = "bc" + runTag();
  const std::string topic = cfg.chat ? "conv/" + conv : "bench/catchup/" + runTag();
  const std::string reader = "pb" + runTag() + "reader", writer = "pb" + runTag() + "writer";
  if (cfg.chat) {
    const std::string err = createConversation(cfg, conv, {writer, reader});
    if (!err.empty()) {
      r.set("error", err);
      return false;
    }
  }
  const uint64_t total = std::max<uint64_t>(1, cfg.messages);
  const int npub = cfg.publishers ? cfg.publishers : 4;
  r.setInt("messages", static_cast<int64_t>(total));
  r.setInt("publishers", npub);

  // 1. A persistent session subscribes, then goes offline.
  ClientSpec sub;
  sub.client_id = clientId("c", 0);
  sub.clean = false;
  sub.session_expiry = 3600;
  sub.filters = {topic};
  if (cfg.chat) sub.username = reader;
  const size_t sub_idx = loop.add(sub);
  const int64_t setup_deadline = nowNs() + secondsToNs(cfg.connect_timeout_s);
  loop.runUntil([&] { return k.ready + k.failed >= 1; }, setup_deadline);
  if (k.ready < 1) {
    reportErrors(r, loops);
    r.set("error", "subscriber did not come up");
    return false;
  }
  loop.disconnect(sub_idx);
  loop.runUntil([] { return false; }, nowNs() + 200'000'000);

  // 2. K messages are published and acknowledged while it is away.
  for (int i = 0; i < npub; ++i) {
    ClientSpec p;
    p.client_id = clientId("q", static_cast<size_t>(i));
    p.publish_topic = topic;
    if (cfg.chat) {
      p.username = writer;
      p.chat = true;
    }
    p.max_messages = total / static_cast<uint64_t>(npub) +
                     (static_cast<uint64_t>(i) < total % static_cast<uint64_t>(npub) ? 1 : 0);
    loop.add(std::move(p));
  }
  loop.runUntil([&] { return k.ready + k.failed >= 1 + static_cast<uint64_t>(npub); },
                setup_deadline);
  if (k.failed > 0) {
    reportErrors(r, loops);
    r.set("error", "publishers did not come up");
    return false;
  }
  CpuWindow ingest_cpu(cfg.broker_pid);
  ingest_cpu.start();
  const int64_t t0 = nowNs();
  ctl.run_start_ns.store(t0);
  ctl.phase.store(Phase::Run);
  const bool published = loop.runUntil([&] { return k.acked >= total || k.failed > 0; },
                                       t0 + secondsToNs(cfg.catchup_timeout_s));
  const int64_t t1 = nowNs();
  ctl.phase.store(Phase::Drain);
  ingest_cpu.stop(r, k.acked, "msg", "ingest_");
  r.setInt("acked", static_cast<int64_t>(k.acked.load()));
  r.set("ingest_s", nsToSeconds(t1 - t0));
  r.set("ingest_msgs_s", static_cast<double>(k.acked) / nsToSeconds(t1 - t0));
  r.latency("ack", loop.ack_latency);
  if (!published || k.acked < total) {
    reportErrors(r, loops);
    r.set("error", "publishing did not complete");
    return false;
  }
  for (size_t i = 1; i <= static_cast<size_t>(npub); ++i) loop.disconnect(i);
  loop.runUntil([] { return false; }, nowNs() + 200'000'000);

  // 3. It comes back: time from reconnect to the last of the K messages.
  CpuWindow cpu(cfg.broker_pid);
  cpu.start();
  const int64_t t2 = nowNs();
  loop.reconnect(sub_idx, false);
  // The catch-up ends with the last message that arrives: all K, or the last one before a
  // stall of --catchup-stall seconds (the rest counts as lost).
  uint64_t seen = 0;
  int64_t last_progress = t2;
  const int64_t stall_ns = secondsToNs(cfg.catchup_stall_s);
  bool stalled = false;
  loop.runUntil(
      [&] {
        if (k.delivered >= total || k.failed > 0) return true;
        const int64_t now = nowNs();
        if (k.delivered != seen) {
          seen = k.delivered;
          last_progress = now;
        }
        stalled = seen > 0 && now - last_progress > stall_ns;
        return stalled;
      },
      t2 + secondsToNs(cfg.catchup_timeout_s));
  const int64_t t3 = stalled ? last_progress : nowNs();
  r.setInt("stalled", stalled ? 1 : 0);
  const uint64_t delivered = k.delivered;
  cpu.stop(r, delivered, "msg");
  const double rate = static_cast<double>(delivered) / nsToSeconds(t3 - t2);
  r.setInt("session_present", loop.sessionPresent(sub_idx) ? 1 : 0);
  r.setInt("delivered", static_cast<int64_t>(delivered));
  r.setInt("lost", static_cast<int64_t>(delivered < total ? total - delivered : 0));
  r.setInt("duplicates", static_cast<int64_t>(k.duplicates.load()));
  r.set("catchup_s", nsToSeconds(t3 - t2));
  r.set("catchup_msgs_s", rate);
  loop.closeAll();
  reportErrors(r, loops);
  r.set("summary", fmt("%.0f queued messages received in %.3f s = %.0f msgs/s",
                       static_cast<double>(delivered), nsToSeconds(t3 - t2), rate));
  return delivered >= total;
}

}  // namespace

bool runScenario(const BenchConfig& cfg, Report& report) {
  common(cfg, report);
  const std::string& s = cfg.scenario;
  if (s == "pairs") return runSteady(cfg, pairsTopology(cfg), report);
  if (s == "fanin") return runSteady(cfg, faninTopology(cfg), report);
  if (s == "fanout") return runSteady(cfg, fanoutTopology(cfg), report);
  if (s == "group") return runSteady(cfg, groupTopology(cfg), report);
  if (s == "storm") return runStorm(cfg, report);
  if (s == "idle") return runIdle(cfg, report);
  if (s == "catchup") return runCatchup(cfg, report);
  report.set("error", "unknown scenario '" + s + "'");
  return false;
}

}  // namespace parley::bench
