#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

namespace sdktest {

namespace {

// Writes all of `data` (loopback peers read promptly; a short blocking write is fine here).
bool sendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int connectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Length of the first complete MQTT packet in buf, 0 if incomplete, -1 if malformed.
long packetLength(const std::string& buf) {
  if (buf.size() < 2) return 0;
  size_t len = 0, mult = 1, i = 1;
  for (;; ++i) {
    if (i >= buf.size()) return 0;
    if (i > 4) return -1;
    const auto b = static_cast<uint8_t>(buf[i]);
    len += (b & 127u) * mult;
    mult *= 128;
    if (!(b & 128u)) break;
  }
  const size_t total = i + 1 + len;
  return buf.size() >= total ? static_cast<long>(total) : 0;
}

struct Pair {
  int client = -1, upstream = -1;
  std::string down;  // broker -> client bytes not yet forwarded (incomplete packet)
  bool dead = false;
  void close() {
    if (client >= 0) ::close(client);
    if (upstream >= 0) ::close(upstream);
    client = upstream = -1;
    dead = true;
  }
};

}  // namespace

FaultProxy::FaultProxy(uint16_t target_port) : target_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error("FaultProxy: cannot listen on loopback");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  const char c = 's';
  (void)!::write(wake_[1], &c, 1);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void FaultProxy::cutAll() {
  std::unique_lock lock(mu_);
  const uint64_t want = ++cut_requested_;
  const char c = 'c';
  (void)!::write(wake_[1], &c, 1);
  cv_.wait_for(lock, std::chrono::seconds(5), [&] { return cut_done_ >= want; });
}

void FaultProxy::run() {
  std::list<Pair> pairs;
  std::vector<pollfd> fds;
  std::vector<Pair*> owners;  // per pollfd: the pair it belongs to (nullptr: listen/wake)
  char buf[65536];
  while (!stop_) {
    {
      std::lock_guard lock(mu_);
      if (cut_done_ < cut_requested_) {
        for (auto& p : pairs) p.close();
        cut_done_ = cut_requested_;
        cv_.notify_all();
      }
    }
    pairs.remove_if([](const Pair& p) { return p.dead; });
    fds.clear();
    owners.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    owners.push_back(nullptr);
    fds.push_back({wake_[0], POLLIN, 0});
    owners.push_back(nullptr);
    for (auto& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      owners.push_back(&p);
      fds.push_back({p.upstream, POLLIN, 0});
      owners.push_back(&p);
    }
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
    if (fds[1].revents) {
      while (::read(wake_[0], buf, sizeof buf) > 0) {
      }
    }
    if (fds[0].revents & POLLIN) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ++accepted_;
        const int up = refuse_ ? -1 : connectLoopback(target_);
        if (up < 0) {
          ::close(c);
        } else {
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          pairs.push_back(Pair{c, up, {}, false});
        }
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      Pair* p = owners[i];
      if (p->dead || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const bool from_client = fds[i].fd == p->client;
      const ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
      if (n <= 0) {
        p->close();
        continue;
      }
      if (from_client) {
        if (!swallow_up_ && !sendAll(p->upstream, buf, static_cast<size_t>(n))) p->close();
        continue;
      }
      // Broker -> client: forward whole packets only, so a PUBACK can be held back exactly.
      p->down.append(buf, static_cast<size_t>(n));
      for (;;) {
        const long len = packetLength(p->down);
        if (len < 0) {
          p->close();
          break;
        }
        if (len == 0) break;
        const auto type = static_cast<uint8_t>(p->down[0]) >> 4;
        if (type == 4 && drop_puback_.exchange(false)) {
          ++pubacks_dropped_;
          p->close();
          break;
        }
        if (type == 3) ++publishes_forwarded_;
        if (type == 4) ++pubacks_forwarded_;
        if (!sendAll(p->client, p->down.data(), static_cast<size_t>(len))) {
          p->close();
          break;
        }
        p->down.erase(0, static_cast<size_t>(len));
      }
    }
  }
  for (auto& p : pairs) p.close();
}

}  // namespace sdktest
