// Helpers for the transport integration tests: a real parleyd on port 0 in a temporary
// directory, child processes (mosquitto clients, MQTT.js via node) and raw sockets.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace parley::test {

namespace fs = std::filesystem;

inline std::string readFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline fs::path makeTempDir(const char* tag) {
  std::string tmpl =
      (fs::temp_directory_path() / (std::string("parley-") + tag + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// Single-quotes `s` for sh.
inline std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct RunResult {
  int code = -1;
  std::string out;  // stdout and stderr
};

// Runs `cmd` with sh, bounded by `timeout`; waits for it.
inline RunResult run(const std::string& cmd, int timeout_s = 30) {
  RunResult r;
  const std::string full = "timeout " + std::to_string(timeout_s) + " sh -c " + q(cmd) + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A command running in the background; its output goes to a file.
class Background {
 public:
  Background(const std::string& cmd, const fs::path& out, int timeout_s = 30) : out_(out) {
    std::ofstream(out, std::ios::trunc).flush();  // before the fork: no stale output is seen
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string full = "exec timeout " + std::to_string(timeout_s) + " sh -c " + q(cmd);
      ::execl("/bin/sh", "sh", "-c", full.c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string output() const { return readFile(out_); }
  bool waitOutput(const std::string& what, int timeout_ms = 15000) const {
    for (int i = 0; i < timeout_ms / 20; ++i) {
      if (output().find(what) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  int wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    done_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  pid_t pid_ = -1;
  fs::path out_;
  bool done_ = false;
};

// parleyd with a temporary data directory, on port 0 (and the extra listeners asked for).
class Parleyd {
 public:
  explicit Parleyd(std::vector<std::string> args) : dir_(makeTempDir("transport")) {
    std::vector<std::string> argv = {PARLEYD,
                                     "--port",
                                     "0",
                                     "--port-file",
                                     (dir_ / "ports").string(),
                                     "--data-dir",
                                     (dir_ / "data").string(),
                                     "--durability",
                                     "none",
                                     "--threads",
                                     "2"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open((dir_ / "log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(dir_ / "ports"); ++i) {
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("parleyd exited: " + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::istringstream ports(readFile(dir_ / "ports"));
    ports >> port;
    std::string name;
    unsigned p;
    while (ports >> name >> p) {
      if (name == "tls") tls = static_cast<uint16_t>(p);
      if (name == "ws") ws = static_cast<uint16_t>(p);
      if (name == "wss") wss = static_cast<uint16_t>(p);
    }
    if (!port) throw std::runtime_error("parleyd did not start: " + log());
  }
  ~Parleyd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      for (int i = 0; i < 250 && ::waitpid(pid_, &st, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string log() const { return readFile(dir_ / "log"); }
  bool waitLog(const std::string& what, int timeout_ms = 5000) const {
    for (int i = 0; i < timeout_ms / 20; ++i) {
      if (log().find(what) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  const fs::path& dir() const { return dir_; }

  uint16_t port = 0, tls = 0, ws = 0, wss = 0;

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

// A TCP connection to 127.0.0.1:port that sends nothing; -1 on failure.
inline int connectRaw(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Has the peer closed `fd` (EOF or reset)? Does not wait.
inline bool peerClosed(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n <= 0;
}

}  // namespace parley::test
