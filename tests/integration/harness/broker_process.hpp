// Integration-test harness: a real parleyd child process on an ephemeral port with its own
// temporary data directory, plus helpers to run the Mosquitto command-line clients as
// subprocesses with timeouts. Everything here is used from the test's main thread only.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace itest {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// Polls `pred` every few milliseconds until it is true or `timeout` passes. Returns its last value.
bool waitFor(const std::function<bool()>& pred, Millis timeout, Millis poll = 5ms);

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Path of the parleyd binary: $PARLEYD_BINARY if set, else the build's compiled-in path.
std::string parleydPath();

// One parleyd child. start() waits (bounded) for the port file; stop() sends SIGTERM and waits
// for the exit status; kill() sends SIGKILL; restart() starts again on the same data directory.
// The broker's stderr goes to a log file in the temp dir; its tail is printed if a test failed.
class BrokerProcess {
 public:
  explicit BrokerProcess(std::vector<std::string> extra_args = {});
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  void start();                             // throws std::runtime_error on failure/timeout
  int stop(Millis timeout = 10s);           // SIGTERM; returns exit code (-signal if killed)
  void kill();                              // SIGKILL and reap
  void restart() { start(); }               // same data dir, same extra args
  bool running();                           // child still alive?
  std::optional<int> exitStatus(Millis timeout);  // waits for exit without signalling

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dataDir() const { return data_dir_; }
  std::string uri() const;  // tcp://127.0.0.1:PORT
  std::string logTail(size_t max_bytes = 4000) const;

 private:
  TempDir dir_;
  std::string data_dir_, port_file_, log_file_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// Result of a finished subprocess.
struct ToolResult {
  int exit_code = -1;  // -1 if killed (timeout)
  bool timed_out = false;
  std::string out, err;
};

// A subprocess with stdout/stderr redirected to files; killed (SIGKILL) on destruction if alive.
class ToolProcess {
 public:
  explicit ToolProcess(std::vector<std::string> argv);
  ~ToolProcess();
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;

  std::string out() const;  // stdout so far
  std::string err() const;
  // Waits until stdout satisfies pred, bounded.
  bool waitOutput(const std::function<bool(const std::string&)>& pred, Millis timeout) const;
  ToolResult wait(Millis timeout);  // waits for exit; SIGKILL on timeout
  void kill();
  pid_t pid() const { return pid_; }

 private:
  TempDir dir_;
  std::string out_file_, err_file_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Runs argv to completion (SIGKILL after timeout).
ToolResult runTool(std::vector<std::string> argv, Millis timeout = 10s);

// Lines of mosquitto_sub output printed with the format "MSG|%t|%q|%r|%p" (see subArgs()).
struct SubLine {
  std::string topic;
  int qos = 0;
  bool retain = false;
  std::string payload;
};
std::vector<SubLine> parseSubLines(const std::string& out);
// Common mosquitto_sub/_pub argument prefix: host, port, protocol version (4 → mqttv311, 5 → mqttv5).
std::vector<std::string> mosqArgs(const std::string& tool, uint16_t port, int version);
// mosquitto_sub -d prints "received SUBACK" once subscribed; wait for it before publishing.
bool subscribed(const ToolProcess& sub, Millis timeout = 5s);

}  // namespace itest
