#include "broker_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#ifndef PARLEYD_PATH
#define PARLEYD_PATH ""
#endif

namespace itest {

namespace fs = std::filesystem;

bool waitFor(const std::function<bool()>& pred, Millis timeout, Millis poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(poll);
  }
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/parley-itest-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string parleydPath() {
  if (const char* p = std::getenv("PARLEYD_BINARY"); p && *p) return p;
  return PARLEYD_PATH;
}

namespace {

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// fork + exec with stdout/stderr redirected to files (or /dev/null if empty). stdin is /dev/null.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out_file,
            const std::string& err_file, bool append_err) {
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    int out = ::open(out_file.empty() ? "/dev/null" : out_file.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) ::dup2(out, 1);
    int err = ::open(err_file.empty() ? "/dev/null" : err_file.c_str(),
                     O_WRONLY | O_CREAT | (append_err ? O_APPEND : O_TRUNC), 0644);
    if (err >= 0) ::dup2(err, 2);
    // Own process group so that a stray signal to the test does not hit it and vice versa.
    ::setpgid(0, 0);
    ::execv(cargv[0], cargv.data());
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "exec %s failed: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// Non-blocking reap. Returns the raw wait status if the child exited.
std::optional<int> tryReap(pid_t pid) {
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == pid) return st;
  return std::nullopt;
}

std::optional<int> reapWithin(pid_t pid, Millis timeout) {
  std::optional<int> st;
  waitFor([&] { return (st = tryReap(pid)).has_value(); }, timeout, 2ms);
  return st;
}

int decodeStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return -WTERMSIG(st);
  return -1000;
}

}  // namespace

BrokerProcess::BrokerProcess(std::vector<std::string> extra_args) : extra_(std::move(extra_args)) {
  data_dir_ = dir_.path() + "/data";
  port_file_ = dir_.path() + "/port";
  log_file_ = dir_.path() + "/parleyd.log";
  start();
}

BrokerProcess::~BrokerProcess() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info && info->result() && info->result()->Failed()) {
    std::fprintf(stderr, "---- parleyd log tail (%s) ----\n%s\n---- end of log ----\n",
                 data_dir_.c_str(), logTail().c_str());
  }
  if (pid_ > 0) kill();
}

void BrokerProcess::start() {
  if (pid_ > 0) throw std::runtime_error("parleyd already running");
  const std::string bin = parleydPath();
  if (bin.empty() || ::access(bin.c_str(), X_OK) != 0)
    throw std::runtime_error("parleyd binary not found: '" + bin + "' (set PARLEYD_BINARY)");
  std::error_code ec;
  fs::remove(port_file_, ec);
  std::vector<std::string> argv = {bin,         "--bind",      "127.0.0.1", "--port",
                                   "0",         "--data-dir",  data_dir_,   "--port-file",
                                   port_file_,  "--threads",   "2"};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  {
    std::ofstream(log_file_, std::ios::app) << "==== start ====\n";
  }
  pid_ = spawn(argv, "", log_file_, /*append_err=*/true);
  std::string text;
  const bool ok = waitFor(
      [&] {
        if (tryReap(pid_)) {
          pid_ = -1;
          return true;
        }
        text = readFile(port_file_);
        return !text.empty() && text.find('\n') != std::string::npos;
      },
      15s);
  if (pid_ < 0) throw std::runtime_error("parleyd exited during start-up:\n" + logTail());
  if (!ok) {
    kill();
    throw std::runtime_error("parleyd did not write its port file within 15 s:\n" + logTail());
  }
  const long p = std::strtol(text.c_str(), nullptr, 10);
  if (p <= 0 || p > 65535) throw std::runtime_error("bad port file content: '" + text + "'");
  port_ = static_cast<uint16_t>(p);
}

int BrokerProcess::stop(Millis timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto st = reapWithin(pid_, timeout);
  if (!st) {
    kill();
    return -1000;
  }
  pid_ = -1;
  return decodeStatus(*st);
}

void BrokerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

bool BrokerProcess::running() {
  if (pid_ <= 0) return false;
  if (tryReap(pid_)) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> BrokerProcess::exitStatus(Millis timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto st = reapWithin(pid_, timeout);
  if (!st) return std::nullopt;
  pid_ = -1;
  return decodeStatus(*st);
}

std::string BrokerProcess::uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

std::string BrokerProcess::logTail(size_t max_bytes) const {
  std::string all = readFile(log_file_);
  if (all.size() > max_bytes) all = "..." + all.substr(all.size() - max_bytes);
  return all;
}

// ---- subprocess tools ----

ToolProcess::ToolProcess(std::vector<std::string> argv) {
  out_file_ = dir_.path() + "/out";
  err_file_ = dir_.path() + "/err";
  pid_ = spawn(argv, out_file_, err_file_, false);
}

ToolProcess::~ToolProcess() { kill(); }

std::string ToolProcess::out() const { return readFile(out_file_); }
std::string ToolProcess::err() const { return readFile(err_file_); }

bool ToolProcess::waitOutput(const std::function<bool(const std::string&)>& pred,
                             Millis timeout) const {
  return waitFor([&] { return pred(out()); }, timeout);
}

ToolResult ToolProcess::wait(Millis timeout) {
  ToolResult r;
  if (!status_ && pid_ > 0) {
    status_ = reapWithin(pid_, timeout);
    if (!status_) {
      r.timed_out = true;
      kill();
    }
  }
  if (status_) r.exit_code = decodeStatus(*status_);
  if (r.timed_out) r.exit_code = -1;
  r.out = out();
  r.err = err();
  return r;
}

void ToolProcess::kill() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = st;
  }
}

ToolResult runTool(std::vector<std::string> argv, Millis timeout) {
  ToolProcess p(std::move(argv));
  return p.wait(timeout);
}

std::vector<SubLine> parseSubLines(const std::string& out) {
  std::vector<SubLine> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MSG|", 0) != 0) continue;
    // MSG|topic|qos|retain|payload  (payload may contain '|')
    size_t a = 4, b = line.find('|', a);
    size_t c = line.find('|', b + 1), d = line.find('|', c + 1);
    if (b == std::string::npos || c == std::string::npos || d == std::string::npos) continue;
    SubLine s;
    s.topic = line.substr(a, b - a);
    s.qos = std::atoi(line.substr(b + 1, c - b - 1).c_str());
    s.retain = line.substr(c + 1, d - c - 1) == "1";
    s.payload = line.substr(d + 1);
    lines.push_back(std::move(s));
  }
  return lines;
}

std::vector<std::string> mosqArgs(const std::string& tool, uint16_t port, int version) {
  // stdbuf -oL: the tools' stdout is a file here, and their debug lines (which tell when the
  // SUBACK arrived) would otherwise sit in a block buffer until exit.
  std::vector<std::string> a = {"stdbuf", "-oL", tool, "-h", "127.0.0.1", "-p",
                                std::to_string(port), "-V", version == 5 ? "mqttv5" : "mqttv311"};
  if (tool == "mosquitto_sub") {
    a.insert(a.end(), {"-d", "-F", "MSG|%t|%q|%r|%p"});
  }
  return a;
}

bool subscribed(const ToolProcess& sub, Millis timeout) {
  return sub.waitOutput(
      [](const std::string& o) { return o.find("received SUBACK") != std::string::npos; },
      timeout);
}

}  // namespace itest
