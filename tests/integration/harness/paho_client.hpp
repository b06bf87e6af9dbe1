// A thin wrapper over Paho MQTT C++'s async_client for the tests: no client-side persistence,
// consuming queue started before connect, bounded waits everywhere. One test thread uses it.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

namespace itest {

using Millis = std::chrono::milliseconds;

class PahoClient {
 public:
  // version 4 = MQTT 3.1.1, 5 = MQTT 5.0.
  PahoClient(uint16_t port, const std::string& client_id, int version);
  ~PahoClient();

  // Options pre-filled with the version, clean flag and keep-alive; tests add to them.
  mqtt::connect_options_builder options(bool clean = true) const;
  mqtt::connect_response connect(bool clean = true);
  mqtt::connect_response connect(mqtt::connect_options opts);
  void disconnect();  // normal DISCONNECT (0x00)
  void disconnect(mqtt::disconnect_options opts);

  void subscribe(const std::string& filter, int qos);
  void publish(const std::string& topic, const std::string& payload, int qos, bool retain = false);
  void publish(mqtt::message_ptr msg);

  // The next application message, or nullptr after `timeout`.
  mqtt::const_message_ptr next(Millis timeout = Millis(5000));
  // Collects up to n messages, each waited for at most `each`.
  std::vector<mqtt::const_message_ptr> collect(size_t n, Millis each = Millis(5000));
  // True if no message arrives within `window` (use only to prove absence).
  bool silentFor(Millis window);

  bool connected() const { return cli_->is_connected(); }
  mqtt::async_client& raw() { return *cli_; }
  int version() const { return version_; }

 private:
  int version_;
  std::unique_ptr<mqtt::async_client> cli_;
};

// Connects several clients (clean session/start) at once. Paho's async engine notices a new
// socket only after its poll loop times out (~1 s) when another client already exists, so
// each sequential connect costs ~2 s; concurrent connects share that cost.
void connectAll(std::initializer_list<PahoClient*> clients);

}  // namespace itest
