// parley-bench: an MQTT load generator for Parley and its peers (Mosquitto, NATS, FlashMQ).
// Parses the command line, runs one scenario (scenarios.hpp) and prints a human summary on
// stderr and one JSON result line on stdout. Exit status: 0 when the run completed without
// connection errors, 1 when it did not, 2 for bad usage.
#include <sys/resource.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <string>

#include "scenarios.hpp"

namespace po = boost::program_options;
using namespace parley::bench;

namespace {

parley::mqtt::Version parseVersion(const std::string& s) {
  if (s == "3.1.1" || s == "311" || s == "4") return parley::mqtt::Version::V311;
  if (s == "5" || s == "5.0" || s == "50") return parley::mqtt::Version::V5;
  throw po::error("--protocol must be 3.1.1 or 5");
}

// Thousands of sockets: lift the soft descriptor limit to the hard one.
rlim_t raiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  BenchConfig cfg;
  std::string protocol = "3.1.1";
  int qos = 1, port = 1883;
  bool quiet = false;

  po::options_description desc(
      "parley-bench — MQTT load generator\n\n"
      "Usage: parley-bench SCENARIO [options]\n"
      "Scenarios: pairs fanin fanout group idle catchup storm\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("scenario", po::value(&cfg.scenario), "scenario to run (also the first positional argument)")
    ("host", po::value(&cfg.load.host)->default_value(cfg.load.host), "broker IPv4 address")
    ("port", po::value(&port)->default_value(port), "broker port")
    ("protocol", po::value(&protocol)->default_value(protocol), "MQTT version: 3.1.1 or 5")
    ("qos", po::value(&qos)->default_value(qos), "QoS of publishes and subscriptions (0, 1, 2)")
    ("size", po::value(&cfg.load.payload_size)->default_value(cfg.load.payload_size),
     "payload bytes (at least 20: send time, message id, marker)")
    ("rate", po::value(&cfg.rate)->default_value(cfg.rate),
     "total publishes/s over all publishers; 0 = as fast as the in-flight window allows")
    ("inflight", po::value(&cfg.load.inflight)->default_value(cfg.load.inflight),
     "unacknowledged QoS>0 publishes per publisher (QoS 0: burst size)")
    ("duration", po::value(&cfg.duration_s)->default_value(cfg.duration_s),
     "seconds of publishing (storm: of connecting; idle: of holding)")
    ("drain", po::value(&cfg.drain_s)->default_value(cfg.drain_s),
     "seconds to wait for outstanding acks and deliveries after publishing stops")
    ("threads", po::value(&cfg.threads)->default_value(cfg.threads), "event-loop threads")
    ("pairs", po::value(&cfg.pairs)->default_value(cfg.pairs), "pairs: number of pairs")
    ("persistent", po::bool_switch(&cfg.persistent),
     "subscribers use persistent sessions (a durable broker stores every QoS>0 message)")
    ("publishers", po::value(&cfg.publishers),
     "fanin (default 100), fanout (default 1), catchup (default 4): publishers")
    ("subscribers", po::value(&cfg.subscribers),
     "fanin (default 1), fanout (default 1000): subscribers")
    ("groups", po::value(&cfg.groups)->default_value(cfg.groups), "group: conversations")
    ("group-size", po::value(&cfg.group_size)->default_value(cfg.group_size),
     "group: members per conversation")
    ("connections", po::value(&cfg.connections)->default_value(cfg.connections),
     "idle: connections to open")
    ("settle", po::value(&cfg.settle_s)->default_value(cfg.settle_s),
     "idle: seconds between the last CONNACK and reading the broker's RSS")
    ("messages", po::value(&cfg.messages)->default_value(cfg.messages),
     "catchup: messages published while the session is offline")
    ("catchup-timeout", po::value(&cfg.catchup_timeout_s)->default_value(cfg.catchup_timeout_s),
     "catchup: seconds allowed for publishing and for catching up")
    ("catchup-stall", po::value(&cfg.catchup_stall_s)->default_value(cfg.catchup_stall_s),
     "catchup: stop once no queued message arrived for this many seconds")
    ("storm-concurrency", po::value(&cfg.storm_concurrency)->default_value(cfg.storm_concurrency),
     "storm: handshakes in flight per thread")
    ("sources", po::value(&cfg.load.sources)->default_value(cfg.load.sources),
     "loopback source addresses to spread connections over (127.0.0.2 ...); 0 = OS default")
    ("connect-concurrency",
     po::value(&cfg.load.connect_concurrency)->default_value(cfg.load.connect_concurrency),
     "handshakes in flight per thread while setting up")
    ("connect-timeout", po::value(&cfg.connect_timeout_s)->default_value(cfg.connect_timeout_s),
     "seconds allowed for all connections to come up")
    ("keepalive", po::value(&cfg.load.keep_alive)->default_value(cfg.load.keep_alive),
     "MQTT keep-alive seconds (0 = off)")
    ("broker-pid", po::value(&cfg.broker_pid),
     "broker process to charge CPU (/proc/PID/stat) and memory (/proc/PID/status) to")
    ("chat", po::bool_switch(&cfg.chat),
     "catchup, group: use Parley's chat layer (conversations via the admin API, envelopes)")
    ("admin-port", po::value(&cfg.admin_port), "--chat: the broker's admin API port")
    ("admin-token", po::value(&cfg.admin_token), "--chat: the admin API bearer token")
    ("label", po::value(&cfg.label), "free text copied into the JSON result (e.g. broker name)")
    ("quiet,q", po::bool_switch(&quiet), "print only the JSON line");
  // clang-format on
  po::positional_options_description pos;
  pos.add("scenario", 1);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
    if (vm.count("help") || cfg.scenario.empty()) {
      std::cout << desc << '\n';
      return vm.count("help") ? 0 : 2;
    }
    cfg.load.version = parseVersion(protocol);
    if (qos < 0 || qos > 2) throw po::error("--qos must be 0, 1 or 2");
    if (port <= 0 || port > 65535) throw po::error("--port must be 1..65535");
    if (cfg.threads < 1) throw po::error("--threads must be at least 1");
    cfg.load.qos = static_cast<uint8_t>(qos);
    cfg.load.port = static_cast<uint16_t>(port);
  } catch (const po::error& e) {
    std::cerr << "parley-bench: " << e.what() << "\n(see --help)\n";
    return 2;
  }

  const rlim_t fds = raiseFdLimit();
  if (cfg.scenario == "idle" && static_cast<rlim_t>(cfg.connections) + 64 > fds)
    std::cerr << "parley-bench: warning: open-file limit " << fds << " is below " << cfg.connections
              << " connections\n";

  Report report;
  bool ok = false;
  try {
    ok = runScenario(cfg, report);
  } catch (const std::exception& e) {
    report.set("error", e.what());
  }
  if (!quiet) {
    std::cerr << "parley-bench " << cfg.scenario << (ok ? "" : " (FAILED)") << ":\n";
    report.printHuman(std::cerr);
  }
  report.printJson(std::cout);
  return ok ? 0 : 1;
}
