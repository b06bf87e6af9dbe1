// parleyd: wires the store, the broker core and the network server together.
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "broker.hpp"
#include "jwt_authenticator.hpp"
#include "server.hpp"
#include "store.hpp"

namespace po = boost::program_options;
using namespace parley;

namespace {

class SystemClock final : public core::Clock {
 public:
  int64_t nowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t wallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

store::Durability parseDurability(const std::string& s) {
  if (s == "sync") return store::Durability::Sync;
  if (s == "batched") return store::Durability::Batched;
  if (s == "none") return store::Durability::None;
  throw po::error("--durability must be sync, batched or none");
}

}  // namespace

int main(int argc, char** argv) {
  net::ListenOptions listen;
  core::BrokerConfig cfg;
  store::StoreOptions sopts;
  std::string durability = "sync", config_file;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  uint32_t max_packet = cfg.max_packet_size;
  std::string auth_mode = "none", jwt_key_file;
  auth::JwtOptions jwt;

  po::options_description desc(
      "parleyd — Parley MQTT 3.1.1/5.0 broker\n\nUsage: parleyd [options]\nOptions (a --config "
      "file may set the same, one 'name = value' per line)");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("config", po::value(&config_file), "read options from this file")
    ("bind", po::value(&listen.bind)->default_value("127.0.0.1"), "address to listen on")
    ("port", po::value(&listen.port)->default_value(1883), "MQTT TCP port (0 = any free port)")
    ("port-file", po::value(&listen.port_file), "write the bound port to this file once listening")
    ("data-dir", po::value(&sopts.path)->default_value("./data"), "RocksDB data directory")
    ("threads", po::value(&threads), "event-loop threads (default: number of cores)")
    ("durability", po::value(&durability)->default_value("sync"),
     "sync: fsync (group-committed) before acknowledging; batched: fsync every "
     "--flush-interval-ms; none: leave it to the OS")
    ("flush-interval-ms", po::value(&sopts.batched_flush_ms)->default_value(10),
     "WAL fsync period for --durability batched")
    ("max-packet-size", po::value(&max_packet)->default_value(cfg.max_packet_size),
     "largest packet accepted, bytes (5.0 clients are told)")
    ("receive-maximum", po::value(&cfg.receive_maximum)->default_value(cfg.receive_maximum),
     "QoS>0 PUBLISHes a client may have unacknowledged towards the broker")
    ("max-inflight", po::value(&cfg.max_inflight)->default_value(cfg.max_inflight),
     "QoS>0 PUBLISHes the broker has unacknowledged towards one client")
    ("max-queued-messages", po::value(&cfg.max_queued_in_memory)->default_value(cfg.max_queued_in_memory),
     "messages held in memory per session; beyond it a persistent session reads from disk and "
     "a clean session drops QoS 0")
    ("max-queued-clean", po::value(&cfg.max_queued_clean)->default_value(cfg.max_queued_clean),
     "QoS 1/2 messages held for a clean (non-persistent) session; beyond it the session is "
     "disconnected with reason 0x97 (counted), never silently thinned")
    ("publisher-backlog-limit", po::value(&cfg.publisher_backlog_limit)->default_value(cfg.publisher_backlog_limit),
     "deliveries of one publisher's messages waiting in memory before the broker stops reading "
     "from it (backpressure instead of dropping)")
    ("topic-alias-maximum", po::value(&cfg.topic_alias_maximum)->default_value(cfg.topic_alias_maximum),
     "topic aliases a 5.0 client may use")
    ("max-keepalive", po::value(&cfg.max_keep_alive)->default_value(0),
     "cap on client keep-alive, seconds (0 = accept the client's). Applied to 5.0 clients, which "
     "are told (server keep-alive); 3.1.1 has no way to tell a client, so it is not applied there")
    ("keepalive-grace-percent", po::value(&cfg.keepalive_grace_percent)->default_value(150),
     "disconnect after this % of the keep-alive without a packet")
    ("max-session-expiry", po::value(&cfg.max_session_expiry)->default_value(cfg.max_session_expiry),
     "cap on a 5.0 session expiry interval, seconds")
    ("persistent-session-expiry-311", po::value(&cfg.persistent_session_expiry_311)->default_value(0),
     "seconds an abandoned 3.1.1 persistent session is kept (0 = forever, as 3.1.1 says)")
    ("max-subscriptions", po::value(&cfg.max_subscriptions_per_client)->default_value(cfg.max_subscriptions_per_client),
     "subscriptions per client")
    ("max-topic-length", po::value(&cfg.max_topic_length)->default_value(cfg.max_topic_length),
     "bytes in a topic name or filter")
    ("max-topic-levels", po::value(&cfg.max_topic_levels)->default_value(cfg.max_topic_levels),
     "levels in a topic name or filter")
    ("auth", po::value(&auth_mode)->default_value("none"),
     "none: accept every CONNECT (development; logged); jwt: user name = user id, password = JWT")
    ("jwt-alg", po::value(&jwt.algorithm)->default_value("HS256"), "HS256, RS256 or ES256")
    ("jwt-key-file", po::value(&jwt_key_file),
     "HS256: file holding the shared secret; RS256/ES256: PEM public key")
    ("sys-interval", po::value(&cfg.sys_interval_s)->default_value(cfg.sys_interval_s),
     "seconds between $SYS statistics (0 = off)");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("config")) {
      std::ifstream f(vm["config"].as<std::string>());
      if (!f) throw po::error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(f, desc), vm);
    }
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    sopts.durability = parseDurability(durability);
  } catch (const po::error& e) {
    std::cerr << "parleyd: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  cfg.max_packet_size = max_packet;
  if (threads == 0) threads = 1;
  if (threads > 255) threads = 255;

  try {
    std::filesystem::create_directories(sopts.path);
    auto store = store::openRocksDbStore(sopts);
    SystemClock clock;
    core::Broker broker(cfg, *store, clock, threads);
    broker.recover();
    std::unique_ptr<core::Authenticator> authenticator;
    if (auth_mode == "jwt") {
      std::ifstream kf(jwt_key_file, std::ios::binary);
      if (!kf) throw std::runtime_error("cannot read --jwt-key-file '" + jwt_key_file + "'");
      jwt.key.assign(std::istreambuf_iterator<char>(kf), {});
      if (jwt.algorithm == "HS256")
        while (!jwt.key.empty() && (jwt.key.back() == '\n' || jwt.key.back() == '\r'))
          jwt.key.pop_back();
      authenticator = std::make_unique<auth::JwtAuthenticator>(jwt);
      broker.setAuthenticator(authenticator.get());
      std::fprintf(stderr, "parleyd: JWT authentication (%s)\n", jwt.algorithm.c_str());
    } else if (auth_mode == "none") {
      std::fprintf(stderr,
                   "parleyd: WARNING: authentication is off (--auth none): every CONNECT is "
                   "accepted and the user name is trusted\n");
    } else {
      throw std::runtime_error("--auth must be none or jwt");
    }
    net::Server server(broker, threads);
    server.listen(listen);
    std::fprintf(stderr, "parleyd: data in %s, durability %s\n", sopts.path.c_str(),
                 durability.c_str());

    boost::asio::signal_set signals(server.context(0), SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      std::fprintf(stderr, "parleyd: signal %d, shutting down\n", sig);
      server.stop();
    });
    std::signal(SIGPIPE, SIG_IGN);
    server.run();
    store->flush();
    std::fprintf(stderr, "parleyd: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parleyd: fatal: %s\n", e.what());
    return 1;
  }
  return 0;
}
