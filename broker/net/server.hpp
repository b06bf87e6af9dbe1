// Server: the event-loop threads and the listeners (MQTT over TCP, TLS, WebSocket, WebSocket over
// TLS). One io_context per thread; every connection is served by exactly one of them. A new
// connection starts on a round-robin thread; once its CONNECT names the client id, its session's
// home thread takes over (TCP: the socket's descriptor is handed over; TLS/WebSocket: the
// protocol side moves and the stream relays bytes, see relay.hpp), so session state is only ever
// touched by one thread.
//
// Admission (before any byte is read): --max-connections over all listeners, and a token bucket
// per source address (--max-connect-rate). A refused connection is closed right after accept,
// with a log line (rate-limited itself) and a counter; established clients are not affected.
//
// Threading: constructed and started on the main thread; stop() and reloadTls() from any thread.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker.hpp"
#include "endpoint.hpp"
#include "tls_context.hpp"

namespace parley::net {

struct ListenOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 1883;
  std::optional<uint16_t> tls_port;  // MQTT over TLS; unset = off (0 = any free port)
  std::optional<uint16_t> ws_port;   // MQTT over WebSocket, path /mqtt
  std::optional<uint16_t> wss_port;  // MQTT over WebSocket over TLS
  TlsOptions tls;                    // for tls_port and wss_port
  // Written once every listener is bound: the MQTT TCP port on the first line, then one line
  // "tls|ws|wss PORT" per other listener.
  std::string port_file;
  size_t max_connections = 0;   // 0 = no limit
  double max_connect_rate = 0;  // new connections per second per source address; 0 = off
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
  // Re-reads the TLS certificate and key (SIGHUP). New connections use them; open ones keep
  // theirs. Returns false (and logs) if the files are unusable; the old ones stay in force.
  bool reloadTls();

  boost::asio::io_context& context(size_t thread) { return loops_[thread]->io; }
  size_t threadCount() const { return loops_.size(); }
  core::Broker& broker() { return broker_; }
  // Continues serving a TCP connection on `thread` (its home) from an adopted socket.
  void adopt(size_t thread, int fd, bool v6, std::vector<uint8_t> pending, PeerInfo info,
             ConnectionSlot slot);
  // A connection counted by admission is gone (ConnectionSlot).
  void releaseConnection() { live_.fetch_sub(1, std::memory_order_relaxed); }
  size_t liveConnections() const { return live_.load(std::memory_order_relaxed); }

 private:
  enum class Kind { Tcp, Tls, Ws, Wss };
  struct Listener {
    Kind kind;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    uint16_t port = 0;
  };
  struct Loop : core::Executor {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
        io.get_executor()};
    boost::asio::steady_timer tick{io};
    boost::asio::steady_timer sys{io};
    std::thread thread;
    void post(std::function<void()> fn) override { boost::asio::post(io, std::move(fn)); }
  };
  struct Bucket {
    double tokens;
    int64_t last_ms;
  };

  uint16_t bindListener(Kind kind, const std::string& bind, uint16_t port);
  void accept(Listener& l);
  void startConnection(Kind kind, size_t thread, boost::asio::ip::tcp::socket s, PeerInfo info,
                       ConnectionSlot slot);
  // Admission control; false = close the socket now.
  bool admit(const boost::asio::ip::address& from, const std::string& peer);
  void scheduleTick(size_t i);
  void scheduleSys();

  core::Broker& broker_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unique_ptr<TlsContext> tls_;
  std::atomic<size_t> next_loop_{0};
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};

  size_t max_connections_ = 0;
  double max_connect_rate_ = 0;
  std::atomic<size_t> live_{0};
  std::mutex admit_mu_;  // guards buckets_ and the refusal log throttle
  std::unordered_map<std::string, Bucket> buckets_;
  int64_t last_refusal_log_ms_ = 0;
  uint64_t refusals_unlogged_ = 0;
};

}  // namespace parley::net
