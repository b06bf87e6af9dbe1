#include "server.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "connection.hpp"

namespace parley::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);
constexpr size_t kMaxBuckets = 100000;  // source addresses remembered for the rate limit

std::string peerName(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* kindName(int k) {
  static const char* names[] = {"mqtt", "tls", "ws", "wss"};
  return names[k];
}
}  // namespace

Server::Server(core::Broker& broker, size_t threads) : broker_(broker) {
  std::vector<core::Executor*> executors;
  for (size_t i = 0; i < threads; ++i) {
    loops_.push_back(std::make_unique<Loop>());
    executors.push_back(loops_.back().get());
  }
  broker_.setExecutors(std::move(executors));
}

Server::~Server() {
  stop();
}

uint16_t Server::bindListener(Kind kind, const std::string& bind, uint16_t port) {
  auto l = std::make_unique<Listener>();
  l->kind = kind;
  tcp::endpoint ep(asio::ip::make_address(bind), port);
  l->acceptor = std::make_unique<tcp::acceptor>(loops_[0]->io);
  l->acceptor->open(ep.protocol());
  l->acceptor->set_option(tcp::acceptor::reuse_address(true));
  l->acceptor->bind(ep);
  l->acceptor->listen(asio::socket_base::max_listen_connections);
  l->port = l->acceptor->local_endpoint().port();
  std::fprintf(stderr, "parleyd: listening on %s:%u (%s%s)\n", bind.c_str(),
               static_cast<unsigned>(l->port), kindName(static_cast<int>(kind)),
               kind == Kind::Ws || kind == Kind::Wss ? ", path /mqtt" : "");
  listeners_.push_back(std::move(l));
  return listeners_.back()->port;
}

void Server::listen(const ListenOptions& options) {
  max_connections_ = options.max_connections;
  max_connect_rate_ = options.max_connect_rate;
  if (options.tls_port || options.wss_port) tls_ = std::make_unique<TlsContext>(options.tls);
  port_ = bindListener(Kind::Tcp, options.bind, options.port);
  std::string extra;
  if (options.tls_port)
    extra +=
        "tls " + std::to_string(bindListener(Kind::Tls, options.bind, *options.tls_port)) + "\n";
  if (options.ws_port)
    extra += "ws " + std::to_string(bindListener(Kind::Ws, options.bind, *options.ws_port)) + "\n";
  if (options.wss_port)
    extra +=
        "wss " + std::to_string(bindListener(Kind::Wss, options.bind, *options.wss_port)) + "\n";
  std::fprintf(stderr, "parleyd: %zu threads; max connections %s, connect rate per address %s\n",
               loops_.size(),
               max_connections_ ? std::to_string(max_connections_).c_str() : "unlimited",
               max_connect_rate_ > 0 ? (std::to_string(max_connect_rate_) + "/s").c_str() : "off");
  if (tls_)
    std::fprintf(stderr, "parleyd: TLS certificate %s, client certificates %s\n",
                 options.tls.cert_file.c_str(),
                 options.tls.ca_file.empty()       ? "not asked"
                 : options.tls.require_client_cert ? "required"
                                                   : "verified if sent");
  if (!options.port_file.empty()) {
    const std::string tmp = options.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << port_ << "\n" << extra;
    }
    std::rename(tmp.c_str(), options.port_file.c_str());
  }
  for (auto& l : listeners_) accept(*l);
}

bool Server::admit(const asio::ip::address& from, const std::string& peer) {
  auto& stats = broker_.stats();
  const char* why = nullptr;
  std::lock_guard lock(admit_mu_);
  const int64_t now = steadyMs();
  if (max_connections_ && live_.load(std::memory_order_relaxed) >= max_connections_) {
    core::Stats::add(stats.connections_refused_max);
    why = "--max-connections reached";
  } else if (max_connect_rate_ > 0) {
    // Token bucket per source address: refills at the rate, holds one second's worth.
    const std::string key = from.to_string();
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kMaxBuckets) {
        // Forget addresses whose bucket has refilled; they would start full anyway.
        for (auto b = buckets_.begin(); b != buckets_.end();)
          b = (b->second.tokens + double(now - b->second.last_ms) * max_connect_rate_ / 1000 >=
               max_connect_rate_)
                  ? buckets_.erase(b)
                  : std::next(b);
      }
      it = buckets_.emplace(key, Bucket{max_connect_rate_, now}).first;
    }
    Bucket& b = it->second;
    b.tokens = std::min(max_connect_rate_,
                        b.tokens + double(now - b.last_ms) * max_connect_rate_ / 1000.0);
    b.last_ms = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
    } else {
      core::Stats::add(stats.connections_refused_rate);
      why = "--max-connect-rate exceeded for this address";
    }
  }
  if (!why) {
    live_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // One line per refusal would let a storm flood the log: at most one a second, with a count.
  if (now - last_refusal_log_ms_ >= 1000) {
    std::fprintf(stderr,
                 "parleyd: %s: connection refused: %s (%llu more refused since last line)\n",
                 peer.c_str(), why, static_cast<unsigned long long>(refusals_unlogged_));
    last_refusal_log_ms_ = now;
    refusals_unlogged_ = 0;
  } else {
    ++refusals_unlogged_;
  }
  return false;
}

void Server::accept(Listener& l) {
  const size_t target = next_loop_.fetch_add(1) % loops_.size();
  l.acceptor->async_accept(
      loops_[target]->io, [this, &l, target](const boost::system::error_code& ec, tcp::socket s) {
        if (ec) {
          if (ec == asio::error::operation_aborted) return;
          std::fprintf(stderr, "parleyd: accept: %s\n", ec.message().c_str());
          if (ec == asio::error::no_descriptors) {
            // Out of file descriptors: back off briefly instead of spinning.
            auto t =
                std::make_shared<asio::steady_timer>(loops_[0]->io, std::chrono::milliseconds(100));
            t->async_wait([this, &l, t](const boost::system::error_code&) { accept(l); });
            return;
          }
        } else {
          boost::system::error_code pec;
          const tcp::endpoint remote = s.remote_endpoint(pec);
          std::string peer = pec ? "?" : peerName(remote);
          if (pec || !admit(remote.address(), peer)) {
            boost::system::error_code ignored;
            s.close(ignored);
          } else {
            // The socket belongs to loops_[target]; start it there.
            asio::post(loops_[target]->io, [this, kind = l.kind, target, s = std::move(s),
                                            peer = std::move(peer)]() mutable {
              startConnection(kind, target, std::move(s), PeerInfo{std::move(peer), {}},
                              ConnectionSlot(this));
            });
          }
        }
        accept(l);
      });
}

void Server::startConnection(Kind kind, size_t thread, tcp::socket s, PeerInfo info,
                             ConnectionSlot slot) {
  switch (kind) {
    case Kind::Tcp:
      std::make_shared<ConnectionT<TcpIo>>(*this, thread, std::move(info), std::move(slot),
                                           std::move(s))
          ->start();
      break;
    case Kind::Tls:
      std::make_shared<ConnectionT<TlsIo>>(*this, thread, std::move(info), std::move(slot),
                                           std::move(s), tls_->current(),
                                           tls_->options().cn_as_username)
          ->start();
      break;
    case Kind::Ws:
      std::make_shared<ConnectionT<WsIo>>(*this, thread, std::move(info), std::move(slot),
                                          std::move(s))
          ->start();
      break;
    case Kind::Wss:
      std::make_shared<ConnectionT<WssIo>>(*this, thread, std::move(info), std::move(slot),
                                           std::move(s), tls_->current(),
                                           tls_->options().cn_as_username)
          ->start();
      break;
  }
}

void Server::adopt(size_t thread, int fd, bool v6, std::vector<uint8_t> pending, PeerInfo info,
                   ConnectionSlot slot) {
  asio::post(loops_[thread]->io, [this, thread, fd, v6, pending = std::move(pending),
                                  info = std::move(info), slot = std::move(slot)]() mutable {
    tcp::socket s(loops_[thread]->io);
    boost::system::error_code ec;
    s.assign(v6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    std::make_shared<ConnectionT<TcpIo>>(*this, thread, std::move(info), std::move(slot),
                                         std::move(s))
        ->start(std::move(pending));
  });
}

bool Server::reloadTls() {
  if (!tls_) return true;
  std::string error;
  if (!tls_->reload(error)) {
    std::fprintf(stderr, "parleyd: TLS reload failed, keeping the old certificate: %s\n",
                 error.c_str());
    return false;
  }
  std::fprintf(stderr, "parleyd: TLS certificate reloaded from %s\n",
               tls_->options().cert_file.c_str());
  return true;
}

void Server::scheduleTick(size_t i) {
  auto& loop = *loops_[i];
  loop.tick.expires_after(kTick);
  loop.tick.async_wait([this, i](const boost::system::error_code& ec) {
    if (ec) return;
    broker_.tick(i);
    scheduleTick(i);
  });
}

void Server::scheduleSys() {
  const uint32_t s = broker_.config().sys_interval_s;
  if (!s) return;
  auto& loop = *loops_[0];
  loop.sys.expires_after(std::chrono::seconds(s));
  loop.sys.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    broker_.publishSys();
    scheduleSys();
  });
}

void Server::run() {
  for (size_t i = 0; i < loops_.size(); ++i) {
    scheduleTick(i);
    if (i == 0) scheduleSys();
    if (i == 0) continue;
    loops_[i]->thread = std::thread([this, i] {
      core::Broker::setCurrentThread(i);
      loops_[i]->io.run();
    });
  }
  core::Broker::setCurrentThread(0);
  loops_[0]->io.run();
  for (size_t i = 1; i < loops_.size(); ++i)
    if (loops_[i]->thread.joinable()) loops_[i]->thread.join();
}

void Server::stop() {
  if (stopped_.exchange(true)) return;
  for (auto& l : loops_) {
    l->guard.reset();
    l->io.stop();
  }
}

}  // namespace parley::net
