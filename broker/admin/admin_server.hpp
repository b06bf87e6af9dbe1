// AdminServer: an HTTP/1.1 server (Boost.Beast) for the admin API on its own io_context and
// thread, separate from the MQTT event loops, so an admin call that waits for a durable write
// never stalls MQTT traffic. Keep-alive, 1 MiB body limit, 30 s I/O timeout per request.
//
// Threading: construct, start() and stop() from one thread (main). Requests are handled one at
// a time on the server's thread (admin traffic is small; AdminApi::handle may block).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "admin_api.hpp"

namespace parley::admin {

struct AdminListen {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;      // 0 = any free port
  std::string port_file;  // written with the bound port once listening
};

class AdminServer {
 public:
  // Binds at once; throws std::runtime_error if it cannot (start-up).
  AdminServer(AdminApi& api, const AdminListen& listen);
  ~AdminServer();
  uint16_t port() const;
  void start();
  void stop();  // closes the listener and open connections, joins the thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace parley::admin
