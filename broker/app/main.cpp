// parleyd: wires the store, the broker core and the network server together.
#include <sys/resource.h>

#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "acl.hpp"
#include "admin_api.hpp"
#include "admin_server.hpp"
#include "broker.hpp"
#include "chat_hub.hpp"
#include "conversation_directory.hpp"
#include "jwt_authenticator.hpp"
#include "password_file.hpp"
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

std::string readSecretFile(const std::string& path, const char* flag) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(std::string("cannot read ") + flag + " '" + path + "'");
  std::string s(std::istreambuf_iterator<char>(f), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Runs the chat retention policy every `interval_s` on its own thread (off the event loops).
class RetentionSweeper {
 public:
  RetentionSweeper(chat::ConversationDirectory& directory, uint32_t interval_s) {
    if (interval_s == 0) return;
    thread_ = std::thread([this, &directory, interval_s] {
      std::unique_lock lk(mu_);
      while (!cv_.wait_for(lk, std::chrono::seconds(interval_s), [this] { return stop_; })) {
        lk.unlock();
        if (const size_t n = directory.applyRetentionAll(); n > 0) {
          std::fprintf(stderr, "parleyd: retention trimmed %zu conversation(s)\n", n);
        }
        lk.lock();
      }
    });
  }
  ~RetentionSweeper() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  net::ListenOptions listen;
  core::BrokerConfig cfg;
  store::StoreOptions sopts;
  std::string durability = "sync", config_file;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  uint32_t max_packet = cfg.max_packet_size;
  std::string auth_mode = "none", jwt_key_file;
  std::string presence_policy = "shared";
  auth::JwtOptions jwt;
  int tls_port = -1, ws_port = -1, wss_port = -1;
  std::string password_file, acl_file;
  // Default connection cap: what the descriptor limit allows, less room for the store's files.
  size_t max_connections = 0;
  {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 512)
      max_connections = static_cast<size_t>(rl.rlim_cur) - 256;
  }
  admin::AdminListen admin_listen;
  admin::AdminOptions admin_opts;
  std::string admin_token_file;
  chat::DirectoryOptions chat_opts;
  uint32_t retention_interval_s = 300;

  po::options_description desc(
      "parleyd — Parley MQTT 3.1.1/5.0 broker\n\nUsage: parleyd [options]\nOptions (a --config "
      "file may set the same, one 'name = value' per line)");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("config", po::value(&config_file), "read options from this file")
    ("bind", po::value(&listen.bind)->default_value("127.0.0.1"), "address to listen on")
    ("port", po::value(&listen.port)->default_value(1883), "MQTT TCP port (0 = any free port)")
    ("port-file", po::value(&listen.port_file),
     "write the bound ports to this file once listening: the MQTT port on the first line, then "
     "'tls|ws|wss PORT' lines")
    ("tls-port", po::value(&tls_port), "MQTT over TLS port (off unless given; 0 = any free port)")
    ("ws-port", po::value(&ws_port), "MQTT over WebSocket port, path /mqtt (off unless given)")
    ("wss-port", po::value(&wss_port), "MQTT over WebSocket over TLS port (off unless given)")
    ("tls-cert", po::value(&listen.tls.cert_file), "PEM certificate chain for TLS listeners")
    ("tls-key", po::value(&listen.tls.key_file), "PEM private key for TLS listeners")
    ("tls-ca", po::value(&listen.tls.ca_file),
     "PEM CA file: client certificates are asked for and verified against it")
    ("tls-require-client-cert", po::bool_switch(&listen.tls.require_client_cert),
     "refuse TLS clients without a valid certificate (needs --tls-ca)")
    ("tls-cn-as-username", po::bool_switch(&listen.tls.cn_as_username),
     "a verified client certificate's CN is the user name; it replaces user name and password")
    ("max-connections", po::value(&max_connections)->default_value(max_connections),
     "open client connections over all listeners; more are closed right after accept "
     "(default: the descriptor limit less 256; 0 = no limit)")
    ("max-connect-rate", po::value(&listen.max_connect_rate)->default_value(0),
     "new connections per second from one source address (token bucket, burst = one second); "
     "excess ones are closed right after accept (0 = off)")
    ("max-publish-rate", po::value(&cfg.max_publish_rate)->default_value(cfg.max_publish_rate),
     "PUBLISH packets per second per client (token bucket); above it 5.0 clients get DISCONNECT "
     "0x96, 3.1.1 clients are closed (0 = off)")
    ("max-publish-bytes", po::value(&cfg.max_publish_bytes_rate)->default_value(cfg.max_publish_bytes_rate),
     "PUBLISH topic + payload bytes per second per client, same handling (0 = off)")
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
     "none: accept every CONNECT (development; logged); jwt: user name = user id, password = JWT; "
     "password: user name and password checked against --password-file")
    ("password-file", po::value(&password_file),
     "password file for --auth password (create and edit with 'parleyctl passwd'); re-read on SIGHUP")
    ("acl-file", po::value(&acl_file),
     "topic access rules (see docs/ACCESS.md); without it every client may use every topic; "
     "re-read on SIGHUP")
    ("jwt-alg", po::value(&jwt.algorithm)->default_value("HS256"), "HS256, RS256 or ES256")
    ("jwt-key-file", po::value(&jwt_key_file),
     "HS256: file holding the shared secret; RS256/ES256: PEM public key")
    ("presence-grace", po::value(&cfg.presence_grace_s)->default_value(cfg.presence_grace_s),
     "seconds a user stays online after its last device dropped without DISCONNECT")
    ("presence-policy", po::value(&presence_policy)->default_value(presence_policy),
     "who may subscribe to presence/{user} besides the user: shared (users sharing a "
     "conversation), self (nobody else) or authenticated (any logged-in user)")
    ("receipts-interval-ms", po::value(&cfg.receipts_interval_ms)->default_value(cfg.receipts_interval_ms),
     "at most one conv/{id}/receipts event per conversation per this interval")
    ("fanout-threshold", po::value(&cfg.fanout_threshold)->default_value(cfg.fanout_threshold),
     "conversations with more members (and channels) get no delivered/read receipts")
    ("slow-reader-timeout", po::value(&cfg.slow_reader_timeout_s)->default_value(cfg.slow_reader_timeout_s),
     "seconds a connection's unsent output may stay undrained before it is disconnected (0 = never)")
    ("typing-interval-ms", po::value(&cfg.typing_interval_ms)->default_value(cfg.typing_interval_ms),
     "typing signals forwarded per connection and conversation: at most one per this interval")
    ("sys-interval", po::value(&cfg.sys_interval_s)->default_value(cfg.sys_interval_s),
     "seconds between $SYS statistics (0 = off)")
    ("admin-port", po::value(&admin_listen.port),
     "serve the admin HTTP API on this port (0 = any free port); off when not given")
    ("admin-bind", po::value(&admin_listen.bind)->default_value("127.0.0.1"),
     "address the admin API listens on")
    ("admin-port-file", po::value(&admin_listen.port_file),
     "write the admin API's bound port to this file once listening")
    ("admin-token", po::value(&admin_opts.token),
     "bearer token the admin API requires (prefer --admin-token-file: argv is visible in ps)")
    ("admin-token-file", po::value(&admin_token_file), "file holding the admin bearer token")
    ("admin-insecure", po::bool_switch(&admin_opts.insecure),
     "development only: with no admin token configured, accept admin requests without one")
    ("group-member-cap", po::value(&chat_opts.group_member_cap)->default_value(chat_opts.group_member_cap),
     "largest group (members); also the default cap of a new group")
    ("channel-member-cap", po::value(&chat_opts.channel_member_cap)->default_value(0),
     "largest channel (members; 0 = unlimited)")
    ("retention-max-age", po::value(&chat_opts.retention_max_age_s)->default_value(0),
     "chat retention for conversations without their own policy: drop messages older than "
     "this many seconds (0 = keep forever)")
    ("retention-max-count", po::value(&chat_opts.retention_max_count)->default_value(0),
     "chat retention: keep at most this many messages per conversation (0 = no limit)")
    ("retention-interval", po::value(&retention_interval_s)->default_value(300),
     "seconds between retention sweeps (0 = never)");
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
  listen.max_connections = max_connections;
  if (tls_port >= 0) listen.tls_port = static_cast<uint16_t>(tls_port);
  if (ws_port >= 0) listen.ws_port = static_cast<uint16_t>(ws_port);
  if (wss_port >= 0) listen.wss_port = static_cast<uint16_t>(wss_port);
  if (threads == 0) threads = 1;
  if (threads > 255) threads = 255;

  try {
    if (presence_policy == "shared")
      cfg.presence_policy = core::PresencePolicy::Shared;
    else if (presence_policy == "self")
      cfg.presence_policy = core::PresencePolicy::Self;
    else if (presence_policy == "authenticated")
      cfg.presence_policy = core::PresencePolicy::Authenticated;
    else
      throw std::runtime_error("--presence-policy must be shared, self or authenticated");
    std::filesystem::create_directories(sopts.path);
    auto store = store::openRocksDbStore(sopts);
    SystemClock clock;
    core::Broker broker(cfg, *store, clock, threads);
    broker.recover();
    std::unique_ptr<core::Authenticator> authenticator;
    std::unique_ptr<auth::PasswordAuthenticator> passwords;
    std::unique_ptr<auth::AclAuthorizer> acl;
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
    } else if (auth_mode == "password") {
      if (password_file.empty()) throw std::runtime_error("--auth password needs --password-file");
      passwords = std::make_unique<auth::PasswordAuthenticator>(password_file);
      broker.setAuthenticator(passwords.get());
      std::fprintf(stderr, "parleyd: password authentication (%s, %zu users)\n",
                   password_file.c_str(), passwords->userCount());
    } else {
      throw std::runtime_error("--auth must be none, jwt or password");
    }
    if (!acl_file.empty()) {
      acl = std::make_unique<auth::AclAuthorizer>(acl_file);
      broker.setAuthorizer(acl.get());
      std::fprintf(stderr, "parleyd: topic access rules from %s (%zu rules)\n", acl_file.c_str(),
                   acl->ruleCount());
    }
    chat::ConversationDirectory directory(*store, chat_opts);
    // conv/{id} and rpc/{method} go to the chat layer; every durable record reaches followers.
    core::ChatHub chat_hub(broker, directory);
    broker.setChat(&chat_hub);
    RetentionSweeper sweeper(directory, retention_interval_s);
    std::unique_ptr<admin::AdminApi> admin_api;
    std::unique_ptr<admin::AdminServer> admin_server;
    if (vm.count("admin-port")) {
      if (!admin_token_file.empty()) {
        admin_opts.token = readSecretFile(admin_token_file, "--admin-token-file");
      }
      if (admin_opts.token.empty()) {
        std::fprintf(stderr, admin_opts.insecure
                                 ? "parleyd: WARNING: admin API without a token "
                                   "(--admin-insecure): anyone who can connect may manage "
                                   "conversations\n"
                                 : "parleyd: admin API has no --admin-token: every request "
                                   "except /healthz is refused\n");
      }
      admin_api = std::make_unique<admin::AdminApi>(directory, admin_opts);
      admin_server = std::make_unique<admin::AdminServer>(*admin_api, admin_listen);
      admin_server->start();
      std::fprintf(stderr, "parleyd: admin API on http://%s:%u\n", admin_listen.bind.c_str(),
                   static_cast<unsigned>(admin_server->port()));
    }
    net::Server server(broker, threads);
    chat_hub.reconcilePresence();  // after a crash no device is connected: nobody is online
    server.listen(listen);
    std::fprintf(stderr, "parleyd: data in %s, durability %s\n", sopts.path.c_str(),
                 durability.c_str());

    boost::asio::signal_set signals(server.context(0), SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      std::fprintf(stderr, "parleyd: signal %d, shutting down\n", sig);
      server.stop();
    });
    // SIGHUP: re-read the TLS certificate, the password file and the ACL; a file that fails to
    // load leaves the old one in force.
    boost::asio::signal_set hup(server.context(0), SIGHUP);
    std::function<void()> wait_hup = [&] {
      hup.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        std::fprintf(stderr, "parleyd: SIGHUP: reloading\n");
        server.reloadTls();
        std::string error;
        if (passwords && !passwords->reload(error))
          std::fprintf(stderr, "parleyd: password file reload failed: %s\n", error.c_str());
        if (acl && !acl->reload(error))
          std::fprintf(stderr, "parleyd: ACL reload failed: %s\n", error.c_str());
        wait_hup();
      });
    };
    wait_hup();
    std::signal(SIGPIPE, SIG_IGN);
    server.run();
    if (admin_server) admin_server->stop();
    store->flush();
    std::fprintf(stderr, "parleyd: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parleyd: fatal: %s\n", e.what());
    return 1;
  }
  return 0;
}
