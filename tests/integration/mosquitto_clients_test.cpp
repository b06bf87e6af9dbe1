// The Mosquitto command-line clients (an independent MQTT implementation) against parleyd:
// connect, publish/subscribe at every QoS, retained set/clear, wills, persistent sessions
// (also across SIGKILL), and 5.0 properties.
#include <signal.h>

#include "itest.hpp"

namespace itest {
namespace {

class MosquittoClients : public Versioned {
 protected:
  std::vector<std::string> pub(std::vector<std::string> extra) const {
    auto a = mosqArgs("mosquitto_pub", broker_.port(), v());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::vector<std::string> sub(std::vector<std::string> extra) const {
    auto a = mosqArgs("mosquitto_sub", broker_.port(), v());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  BrokerProcess broker_;
};
ITEST_VERSIONS(MosquittoClients);

TEST_P(MosquittoClients, PublishSubscribeAtEachQos) {
  for (int q = 0; q <= 2; ++q) {
    const std::string topic = "mq/qos" + std::to_string(q), qs = std::to_string(q);
    ToolProcess s(sub({"-t", topic, "-q", qs, "-C", "1", "-W", "10"}));
    ASSERT_TRUE(subscribed(s)) << s.out() << s.err();
    auto r = runTool(pub({"-t", topic, "-q", qs, "-m", "hello " + qs}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto res = s.wait(10s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    auto lines = parseSubLines(res.out);
    ASSERT_EQ(lines.size(), 1u) << res.out;
    EXPECT_EQ(lines[0].topic, topic);
    EXPECT_EQ(lines[0].payload, "hello " + qs);
    EXPECT_EQ(lines[0].qos, q);
    EXPECT_FALSE(lines[0].retain);
  }
}

TEST_P(MosquittoClients, ManySequentialPublishersInOrder) {
  ToolProcess s(sub({"-t", "mq/lines", "-q", "1", "-C", "50", "-W", "15"}));
  ASSERT_TRUE(subscribed(s));
  for (int i = 0; i < 50; ++i) {
    auto rr = runTool(pub({"-t", "mq/lines", "-q", "1", "-m", "line " + std::to_string(i)}));
    ASSERT_EQ(rr.exit_code, 0) << rr.err;
  }
  auto res = s.wait(15s);
  auto lines = parseSubLines(res.out);
  ASSERT_EQ(lines.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(lines[i].payload, "line " + std::to_string(i));
}

TEST_P(MosquittoClients, RetainedSetAndCleared) {
  auto r = runTool(pub({"-t", "mq/ret", "-q", "1", "-r", "-m", "sticky"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = runTool(sub({"-t", "mq/ret", "-q", "1", "-C", "1", "-W", "5"}), 10s);
  auto lines = parseSubLines(got.out);
  ASSERT_EQ(lines.size(), 1u) << got.out << got.err;
  EXPECT_EQ(lines[0].payload, "sticky");
  EXPECT_TRUE(lines[0].retain);
  r = runTool(pub({"-t", "mq/ret", "-q", "1", "-r", "-n"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // -W 1: one second with no retained message proves it is cleared.
  got = runTool(sub({"-t", "mq/ret", "-q", "1", "-C", "1", "-W", "1"}), 10s);
  EXPECT_TRUE(parseSubLines(got.out).empty()) << got.out;
}

TEST_P(MosquittoClients, WillSentWhenClientKilled) {
  ToolProcess watcher(sub({"-t", "mq/will", "-q", "1", "-C", "1", "-W", "10"}));
  ASSERT_TRUE(subscribed(watcher));
  ToolProcess victim(sub({"-t", "mq/unused", "-i", uid("victim"), "--will-topic", "mq/will",
                          "--will-payload", "victim died", "--will-qos", "1"}));
  ASSERT_TRUE(subscribed(victim));
  victim.kill();  // SIGKILL: the kernel closes the socket, no DISCONNECT
  auto res = watcher.wait(10s);
  auto lines = parseSubLines(res.out);
  ASSERT_EQ(lines.size(), 1u) << "will not delivered: " << res.out;
  EXPECT_EQ(lines[0].payload, "victim died");
  EXPECT_EQ(lines[0].qos, 1);
}

TEST_P(MosquittoClients, WillNotSentOnCleanExit) {
  ToolProcess watcher(sub({"-t", "mq/will2", "-q", "1"}));
  ASSERT_TRUE(subscribed(watcher));
  // mosquitto_sub exits cleanly (DISCONNECT) after one message.
  ToolProcess polite(sub({"-t", "mq/trigger", "-C", "1", "--will-topic", "mq/will2",
                          "--will-payload", "should not appear"}));
  ASSERT_TRUE(subscribed(polite));
  ASSERT_EQ(runTool(pub({"-t", "mq/trigger", "-m", "go"})).exit_code, 0);
  auto pr = polite.wait(10s);
  ASSERT_EQ(pr.exit_code, 0);
  // Then a marker on the watched topic: the watcher must see only the marker.
  ASSERT_EQ(runTool(pub({"-t", "mq/will2", "-q", "1", "-m", "marker"})).exit_code, 0);
  ASSERT_TRUE(watcher.waitOutput([](const std::string& o) { return o.find("marker") != std::string::npos; }, 5s));
  std::this_thread::sleep_for(300ms);  // absence window for a late will
  auto lines = parseSubLines(watcher.out());
  for (auto& l : lines) EXPECT_NE(l.payload, "should not appear");
}

TEST_P(MosquittoClients, PersistentSessionQueuesWhileOffline) {
  const std::string id = uid("mq-persist");
  {
    ToolProcess s(sub({"-t", "mq/persist", "-q", "1", "-c", "-i", id}));
    ASSERT_TRUE(subscribed(s));
    s.kill();
  }
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(runTool(pub({"-t", "mq/persist", "-q", "1", "-m", "queued " + std::to_string(i)})).exit_code, 0);
  auto res = runTool(sub({"-t", "mq/persist", "-q", "1", "-c", "-i", id, "-C", "3", "-W", "10"}), 15s);
  auto lines = parseSubLines(res.out);
  ASSERT_EQ(lines.size(), 3u) << res.out << res.err;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(lines[i].payload, "queued " + std::to_string(i));
}

TEST_P(MosquittoClients, PersistentSessionSurvivesSigkill) {
  const std::string id = uid("mq-crash");
  {
    ToolProcess s(sub({"-t", "mq/crash", "-q", "1", "-c", "-i", id}));
    ASSERT_TRUE(subscribed(s));
    s.kill();
  }
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(runTool(pub({"-t", "mq/crash", "-q", "1", "-m", "c" + std::to_string(i)})).exit_code, 0);
  broker_.kill();
  broker_.restart();
  auto res = runTool(sub({"-t", "mq/crash", "-q", "1", "-c", "-i", id, "-C", "5", "-W", "10"}), 15s);
  auto lines = parseSubLines(res.out);
  ASSERT_EQ(lines.size(), 5u) << res.out << res.err;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lines[i].payload, "c" + std::to_string(i));
}

TEST_P(MosquittoClients, WildcardSubscription) {
  ToolProcess s(sub({"-t", "mqw/+/x", "-t", "mqh/#", "-C", "3", "-W", "10"}));
  ASSERT_TRUE(s.waitOutput([](const std::string& o) {
    size_t n = 0, pos = 0;
    while ((pos = o.find("received SUBACK", pos)) != std::string::npos) ++n, ++pos;
    return n >= 1;
  }, 5s));
  for (const char* t : {"mqw/a/x", "mqw/a/y", "mqh", "mqh/deep/er"})
    ASSERT_EQ(runTool(pub({"-t", t, "-m", t})).exit_code, 0);
  auto res = s.wait(10s);
  std::vector<std::string> topics;
  for (auto& l : parseSubLines(res.out)) topics.push_back(l.topic);
  EXPECT_EQ(topics, (std::vector<std::string>{"mqw/a/x", "mqh", "mqh/deep/er"}));
}

TEST(MosquittoClientsV5, UserPropertiesAndContentTypeDelivered) {
  BrokerProcess broker;
  auto s_args = mosqArgs("mosquitto_sub", broker.port(), 5);
  // Replace the default format with one printing properties.
  s_args.back() = "MSG|%t|%q|%r|%C;%P;%p";
  s_args.insert(s_args.end(), {"-t", "mq5/props", "-C", "1", "-W", "10"});
  ToolProcess s(s_args);
  ASSERT_TRUE(subscribed(s));
  auto p = mosqArgs("mosquitto_pub", broker.port(), 5);
  p.insert(p.end(), {"-t", "mq5/props", "-m", "body", "-D", "publish", "user-property", "k",
                     "v", "-D", "publish", "content-type", "text/plain"});
  ASSERT_EQ(runTool(p).exit_code, 0);
  auto res = s.wait(10s);
  auto lines = parseSubLines(res.out);
  ASSERT_EQ(lines.size(), 1u) << res.out;
  EXPECT_EQ(lines[0].payload, "text/plain;k:v;body");
}

TEST(MosquittoClientsV5, SessionExpiryHonoured) {
  BrokerProcess broker;
  const std::string id = uid("mq-exp");
  auto s_args = mosqArgs("mosquitto_sub", broker.port(), 5);
  s_args.insert(s_args.end(), {"-t", "mq5/exp", "-q", "1", "-c", "-i", id, "-x", "1"});
  {
    ToolProcess s(s_args);
    ASSERT_TRUE(subscribed(s));
    ::kill(s.pid(), SIGTERM);  // mosquitto_sub disconnects cleanly on SIGTERM? either way ends
    s.wait(5s);
  }
  auto p = mosqArgs("mosquitto_pub", broker.port(), 5);
  p.insert(p.end(), {"-t", "mq5/exp", "-q", "1", "-m", "late"});
  ASSERT_EQ(runTool(p).exit_code, 0);
  std::this_thread::sleep_for(2200ms);  // the 1 s session expiry itself
  s_args.insert(s_args.end(), {"-C", "1", "-W", "1"});
  auto res = runTool(s_args, 10s);
  EXPECT_TRUE(parseSubLines(res.out).empty()) << "expired session still had its queue: " << res.out;
}

}  // namespace
}  // namespace itest
