#include "paho_client.hpp"

namespace itest {

namespace {
constexpr auto kOpTimeout = std::chrono::seconds(10);
}

PahoClient::PahoClient(uint16_t port, const std::string& client_id, int version)
    : version_(version) {
  mqtt::create_options co(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  cli_ = std::make_unique<mqtt::async_client>("tcp://127.0.0.1:" + std::to_string(port),
                                              client_id, co, nullptr);
  cli_->start_consuming();
}

PahoClient::~PahoClient() {
  try {
    if (cli_->is_connected()) cli_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (...) {
  }
}

mqtt::connect_options_builder PahoClient::options(bool clean) const {
  mqtt::connect_options_builder b;
  b.mqtt_version(version_ == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1)
      .keep_alive_interval(std::chrono::seconds(30))
      .connect_timeout(std::chrono::seconds(5));
  if (version_ == 5)
    b.clean_start(clean);
  else
    b.clean_session(clean);
  return b;
}

mqtt::connect_response PahoClient::connect(bool clean) { return connect(options(clean).finalize()); }

mqtt::connect_response PahoClient::connect(mqtt::connect_options opts) {
  // Paho C++ 1.2.0's connect_options copy keeps the C struct's pointer to the *source's*
  // properties, which are gone once a builder or temporary is destroyed: the CONNECT would go
  // out without them (e.g. no Session Expiry Interval). Re-point it at our own copy, which
  // lives until the connect completes below.
  mqtt::properties props = opts.get_properties();
  if (version_ == 5) opts.set_properties(props);  // 3.1.1 options must carry no properties
  auto tok = cli_->connect(opts);
  if (!tok->wait_for(kOpTimeout)) throw std::runtime_error("Paho connect timed out");
  return tok->get_connect_response();
}

void PahoClient::disconnect() {
  if (!cli_->disconnect()->wait_for(kOpTimeout)) throw std::runtime_error("disconnect timed out");
}

void PahoClient::disconnect(mqtt::disconnect_options opts) {
  if (!cli_->disconnect(opts)->wait_for(kOpTimeout))
    throw std::runtime_error("disconnect timed out");
}

void PahoClient::subscribe(const std::string& filter, int qos) {
  if (!cli_->subscribe(filter, qos)->wait_for(kOpTimeout))
    throw std::runtime_error("subscribe timed out");
}

void PahoClient::publish(const std::string& topic, const std::string& payload, int qos,
                         bool retain) {
  publish(mqtt::make_message(topic, payload, qos, retain));
}

void PahoClient::publish(mqtt::message_ptr msg) {
  if (!cli_->publish(msg)->wait_for(kOpTimeout)) throw std::runtime_error("publish timed out");
}

mqtt::const_message_ptr PahoClient::next(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return nullptr;
    mqtt::const_message_ptr m;
    if (!cli_->try_consume_message_for(&m, left)) return nullptr;
    if (m) return m;  // a null entry signals a lost connection: keep waiting
  }
}

std::vector<mqtt::const_message_ptr> PahoClient::collect(size_t n, Millis each) {
  std::vector<mqtt::const_message_ptr> out;
  while (out.size() < n) {
    auto m = next(each);
    if (!m) break;
    out.push_back(m);
  }
  return out;
}

void connectAll(std::initializer_list<PahoClient*> clients) {
  std::vector<mqtt::token_ptr> toks;
  for (auto* c : clients) toks.push_back(c->raw().connect(c->options(true).finalize()));
  for (auto& t : toks)
    if (!t->wait_for(kOpTimeout)) throw std::runtime_error("Paho connect timed out");
}

bool PahoClient::silentFor(Millis window) { return next(window) == nullptr; }

}  // namespace itest
