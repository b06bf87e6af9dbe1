// Shared includes and small helpers for the integration test files.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>

#include "broker_process.hpp"
#include "paho_client.hpp"
#include "raw_mqtt.hpp"

namespace itest {

// A client id unique within the test process (brokers are per test, but ids must not clash
// between clients of one test).
inline std::string uid(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// Test fixtures parameterised by protocol version: 4 = MQTT 3.1.1, 5 = MQTT 5.0.
class Versioned : public ::testing::TestWithParam<int> {
 protected:
  int v() const { return GetParam(); }
  // Connect spec for a raw client; for 5.0 a persistent session needs a session expiry.
  ConnectSpec spec(const std::string& id, bool clean = true, uint32_t session_expiry = 0) const {
    ConnectSpec s;
    s.version = v();
    s.client_id = id;
    s.clean = clean;
    if (v() == 5 && session_expiry) s.props.u32(P_SESSION_EXPIRY, session_expiry);
    return s;
  }
  // Paho options for a persistent session (3.1.1 clean session 0; 5.0 expiry 1 h).
  mqtt::connect_options persistentOpts(PahoClient& c) const {
    auto b = c.options(false);
    if (v() == 5) b.properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 3600)});
    return b.finalize();
  }
  // Connects a raw client and asserts CONNACK 0.
  std::unique_ptr<RawClient> rawConnect(uint16_t port, const ConnectSpec& s) const {
    auto c = std::make_unique<RawClient>(port, v());
    auto ack = c->connect(s);
    EXPECT_TRUE(ack.has_value()) << "no CONNACK for " << s.client_id;
    if (ack) { EXPECT_EQ(ack->code, 0) << "CONNACK code for " << s.client_id; }
    return c;
  }
};

inline std::string versionName(const ::testing::TestParamInfo<int>& i) {
  return i.param == 5 ? "V5" : "V311";
}

#define ITEST_VERSIONS(Fixture) \
  INSTANTIATE_TEST_SUITE_P(Mqtt, Fixture, ::testing::Values(4, 5), ::itest::versionName)

}  // namespace itest
