#include "server.hpp"

#include <cstdio>
#include <fstream>

#include "connection.hpp"

namespace parley::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);

std::string peerName(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
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

void Server::listen(const ListenOptions& options) {
  auto& io = loops_[0]->io;
  tcp::endpoint ep(asio::ip::make_address(options.bind), options.port);
  acceptor_ = std::make_unique<tcp::acceptor>(io);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(tcp::acceptor::reuse_address(true));
  acceptor_->bind(ep);
  acceptor_->listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_->local_endpoint().port();
  std::fprintf(stderr, "parleyd: listening on %s:%u (%zu threads)\n", options.bind.c_str(),
               static_cast<unsigned>(port_), loops_.size());
  if (!options.port_file.empty()) {
    const std::string tmp = options.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << port_ << "\n";
    }
    std::rename(tmp.c_str(), options.port_file.c_str());
  }
  accept();
}

void Server::accept() {
  const size_t target = next_loop_.fetch_add(1) % loops_.size();
  acceptor_->async_accept(
      loops_[target]->io, [this, target](const boost::system::error_code& ec, tcp::socket s) {
        if (ec) {
          if (ec == asio::error::operation_aborted) return;
          std::fprintf(stderr, "parleyd: accept: %s\n", ec.message().c_str());
        } else {
          std::string peer = peerName(s);
          // The socket belongs to loops_[target]; start it there.
          asio::post(loops_[target]->io, [this, target, s = std::move(s), peer]() mutable {
            auto c = std::make_shared<Connection>(*this, target, std::move(s), std::move(peer));
            c->start();
          });
        }
        accept();
      });
}

void Server::adopt(size_t thread, int fd, bool v6, std::vector<uint8_t> pending, std::string peer) {
  asio::post(loops_[thread]->io, [this, thread, fd, v6, pending = std::move(pending),
                                  peer = std::move(peer)]() mutable {
    tcp::socket s(loops_[thread]->io);
    boost::system::error_code ec;
    s.assign(v6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    auto c = std::make_shared<Connection>(*this, thread, std::move(s), std::move(peer));
    c->start(std::move(pending));
  });
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
