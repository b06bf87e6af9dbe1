// $SYS statistics: published every --sys-interval to subscribers of $SYS/#, with numeric
// values that move with the broker's activity.
#include <cstdlib>
#include <map>

#include "itest.hpp"

namespace itest {
namespace {

class SysTopics : public Versioned {};
ITEST_VERSIONS(SysTopics);

// Reads $SYS messages until every topic in `want` has a value, bounded.
std::map<std::string, std::string> gather(PahoClient& c, const std::set<std::string>& want,
                                          Millis timeout) {
  std::map<std::string, std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto complete = [&] {
    for (auto& t : want)
      if (!got.count(t)) return false;
    return true;
  };
  while (!complete()) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto m = c.next(left);
    if (!m) break;
    got[m->get_topic()] = m->to_string();
  }
  return got;
}

bool isNumber(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

TEST_P(SysTopics, BrokerStatisticsPublished) {
  BrokerProcess broker({"--sys-interval", "1"});
  PahoClient sys(broker.port(), uid("sys"), v());
  sys.connect();
  sys.subscribe("$SYS/#", 0);
  const std::set<std::string> want = {"$SYS/broker/clients/connected",
                                      "$SYS/broker/messages/received", "$SYS/broker/uptime"};
  auto got = gather(sys, want, 4s);
  for (auto& t : want) {
    ASSERT_TRUE(got.count(t)) << t << " not published within 4 s (interval 1 s)";
    EXPECT_TRUE(isNumber(got[t])) << t << " = '" << got[t] << "'";
  }
  // The first values may predate the subscriber (retained from the previous round); a later
  // round must count it.
  std::string connected = got["$SYS/broker/clients/connected"];
  const bool counted = waitFor(
      [&] {
        if (std::atof(connected.c_str()) >= 1.0) return true;
        auto m = sys.next(200ms);
        if (m && m->get_topic() == "$SYS/broker/clients/connected") connected = m->to_string();
        return false;
      },
      4s, 0ms);
  EXPECT_TRUE(counted) << "clients/connected = " << connected << " with a subscriber connected";
}

TEST_P(SysTopics, CountersMoveWithActivity) {
  BrokerProcess broker({"--sys-interval", "1"});
  PahoClient sys(broker.port(), uid("sys"), v());
  sys.connect();
  sys.subscribe("$SYS/broker/#", 0);
  const std::set<std::string> want = {"$SYS/broker/messages/received", "$SYS/broker/uptime",
                                      "$SYS/broker/clients/connected"};
  auto first = gather(sys, want, 4s);
  ASSERT_EQ(first.size() >= want.size(), true);
  const double received0 = std::atof(first["$SYS/broker/messages/received"].c_str());
  const double uptime0 = std::atof(first["$SYS/broker/uptime"].c_str());
  const double clients0 = std::atof(first["$SYS/broker/clients/connected"].c_str());
  std::vector<std::unique_ptr<PahoClient>> extra;
  for (int i = 0; i < 3; ++i) {
    extra.push_back(std::make_unique<PahoClient>(broker.port(), uid("x"), v()));
    extra.back()->connect();
  }
  for (int i = 0; i < 10; ++i) extra[0]->publish("sys/load", "x", 1);
  // Wait (bounded) for a later round reflecting the activity.
  double received = received0, uptime = uptime0, clients = clients0;
  const bool ok = waitFor(
      [&] {
        auto m = sys.next(200ms);
        if (!m) return false;
        const double val = std::atof(m->to_string().c_str());
        if (m->get_topic() == "$SYS/broker/messages/received") received = val;
        if (m->get_topic() == "$SYS/broker/uptime") uptime = val;
        if (m->get_topic() == "$SYS/broker/clients/connected") clients = val;
        return received >= received0 + 10 && uptime > uptime0 && clients >= clients0 + 3;
      },
      6s, 0ms);
  EXPECT_TRUE(ok) << "received " << received0 << "->" << received << ", uptime " << uptime0
                  << "->" << uptime << ", clients " << clients0 << "->" << clients;
}

TEST_P(SysTopics, ClientsCannotPublishIntoSys) {
  BrokerProcess broker({"--sys-interval", "0"});
  PahoClient sys(broker.port(), uid("sys"), v());
  sys.connect();
  sys.subscribe("$SYS/broker/uptime", 0);
  PahoClient evil(broker.port(), uid("evil"), v());
  evil.connect();
  try {
    evil.publish("$SYS/broker/uptime", "forged", 0);
  } catch (const mqtt::exception&) {
  }
  // With --sys-interval 0 nothing else publishes into $SYS: 500 ms of silence proves the
  // forged message was not forwarded.
  EXPECT_TRUE(sys.silentFor(500ms)) << "client message forwarded into $SYS";
}

}  // namespace
}  // namespace itest
