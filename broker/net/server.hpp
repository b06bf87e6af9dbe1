// Server: the event-loop threads and the TCP listener. One io_context per thread; every
// connection is served by exactly one of them. A new connection starts on a round-robin thread
// and, once its CONNECT names the client id, moves to that id's home thread (its socket's file
// descriptor is handed over), so session state is only ever touched by one thread.
//
// Threading: constructed and started on the main thread; stop() from any thread.
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker.hpp"

namespace parley::net {

struct ListenOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 1883;
  std::string port_file;  // written with the bound port once listening
};

class Server {
 public:
  Server(core::Broker& broker, size_t threads);
  ~Server();

  // Binds and listens (throws on failure: start-up).
  void listen(const ListenOptions& options);
  uint16_t port() const { return port_; }
  // Runs the event loops until stop(); blocks the calling thread.
  void run();
  void stop();

  boost::asio::io_context& context(size_t thread) { return loops_[thread]->io; }
  size_t threadCount() const { return loops_.size(); }
  core::Broker& broker() { return broker_; }
  // Continues serving a connection on `thread` (its home) from an adopted socket.
  void adopt(size_t thread, int fd, bool v6, std::vector<uint8_t> pending, std::string peer);

 private:
  struct Loop : core::Executor {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
        io.get_executor()};
    boost::asio::steady_timer tick{io};
    boost::asio::steady_timer sys{io};
    std::thread thread;
    void post(std::function<void()> fn) override { boost::asio::post(io, std::move(fn)); }
  };
  void accept();
  void scheduleTick(size_t i);
  void scheduleSys();

  core::Broker& broker_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::atomic<size_t> next_loop_{0};
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace parley::net
