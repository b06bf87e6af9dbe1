// The benchmark scenarios. Each builds the connections it needs on LoadLoops, runs them, and
// fills a Report. Scenarios that measure steady load (pairs, fanin, fanout, group, storm) run
// `threads` loops on their own threads; the sequential ones (idle, catchup) drive one loop from
// the calling thread, step by step.
#pragma once
#include <sys/types.h>

#include <string>

#include "load_loop.hpp"
#include "report.hpp"

namespace parley::bench {

struct BenchConfig {
  LoadOptions load;
  std::string scenario;
  std::string label;  // free text copied into the report (e.g. the broker's name)
  int threads = 1;
  double duration_s = 5;
  double drain_s = 10;  // after publishing stops, wait this long at most for stragglers
  double connect_timeout_s = 60;
  double rate = 0;  // total messages/s over all publishers; 0 = as fast as windows allow
  int pairs = 10;
  int publishers = 0;   // 0 = scenario default
  int subscribers = 0;  // 0 = scenario default
  int groups = 10;
  int group_size = 20;
  int connections = 1000;      // idle
  double settle_s = 2;         // idle: wait before reading the broker's RSS
  uint64_t messages = 100000;  // catchup
  double catchup_timeout_s = 120;
  // catchup: stop waiting once no message has arrived for this long (a broker that dropped part
  // of the queue, e.g. FlashMQ past its 65,535-message per-client limit, then counts as lost
  // instead of running into the timeout).
  double catchup_stall_s = 3;
  int storm_concurrency = 64;  // per loop
  pid_t broker_pid = 0;
  // Subscribers use persistent sessions (clean session 0 / session expiry): a durable broker
  // must then store every QoS>0 message before acknowledging it.
  bool persistent = false;
  // Parley's chat layer: catchup and group run on conv/{id} conversations created through the
  // admin API (--admin-port, --admin-token), with ChatSend envelopes. Parley only.
  bool chat = false;
  uint16_t admin_port = 0;
  std::string admin_token;
};

// Runs cfg.scenario; returns false (with "error" set in the report) when it could not run.
bool runScenario(const BenchConfig& cfg, Report& report);

}  // namespace parley::bench
