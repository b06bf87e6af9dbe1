// Transports and access control against a real parleyd: TLS (with and without client
// certificates, certificate reload), MQTT over WebSocket and WebSocket over TLS (MQTT.js), a
// persistent session across transports, password file and ACL refusals, expired JWT, and the
// connection and publish limits. Certificates are generated per run by make_certs.sh.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

#include "harness.hpp"

namespace parley::test {
namespace {

class Transport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new fs::path(makeTempDir("certs"));
    auto r = run(std::string("bash ") + MAKE_CERTS + " " + q(certs_->string()), 60);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*certs_, ec);
    delete certs_;
  }
  static std::string cert(const std::string& name) { return (*certs_ / name).string(); }
  static std::vector<std::string> tlsArgs() {
    return {"--tls-port", "0", "--tls-cert", cert("server.crt"), "--tls-key", cert("server.key")};
  }
  // An MQTT.js command line; `env` like "MQTT_VERSION=4 ".
  static std::string node(const std::string& args, const std::string& env = "") {
    return "NODE_PATH=" + q(NODE_PATH_DIR) + " MQTT_CA=" + q(cert("ca.crt")) + " " + env + "node " +
           q(NODE_CLIENT) + " " + args;
  }
  static std::string pub(uint16_t port, const std::string& extra) {
    return "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) + " " + extra;
  }
  static std::string sub(uint16_t port, const std::string& extra) {
    return "mosquitto_sub -h 127.0.0.1 -p " + std::to_string(port) + " " + extra;
  }
  // A password file with alice/secret (made by parleyctl, as an operator would).
  static std::string passwordFile(const fs::path& dir) {
    const std::string f = (dir / "passwd").string();
    auto r = run("echo secret | " + std::string(PARLEYCTL) + " passwd --iterations 1000 " + q(f) +
                 " alice");
    EXPECT_EQ(r.code, 0) << r.out;
    return f;
  }

  static fs::path* certs_;
};
fs::path* Transport::certs_ = nullptr;

// mosquitto_sub and mosquitto_pub over TLS exchange QoS 1 messages; the sub may connect with
// or without a client certificate when client certificates are optional.
TEST_F(Transport, TlsQos1WithAndWithoutClientCertificate) {
  auto args = tlsArgs();
  args.insert(args.end(), {"--tls-ca", cert("ca.crt")});
  Parleyd b(args);
  ASSERT_NE(b.tls, 0);
  const std::string ca = " --cafile " + q(cert("ca.crt"));
  const std::string withCert =
      ca + " --cert " + q(cert("client.crt")) + " --key " + q(cert("client.key"));
  for (int i = 0; i < 4; ++i) {
    const std::string topic = "tls/" + std::to_string(i);
    Background s(sub(b.tls, "-q 1 -C 2 -v -i tsub" + std::to_string(i) + " -t " + topic +
                                (i % 2 ? withCert : ca)),
                 b.dir() / "sub.out");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    auto r = run(pub(b.tls, "-q 1 -t " + topic + " -m one" + (i % 2 ? ca : withCert)));
    ASSERT_EQ(r.code, 0) << r.out << b.log();
    r = run(pub(b.tls, "-q 1 -t " + topic + " -m two" + ca));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(s.wait(), 0);
    EXPECT_EQ(s.output(), topic + " one\n" + topic + " two\n");
  }
}

// --tls-require-client-cert: a certificate from the CA passes, none or one from another CA is
// refused in the handshake (and logged).
TEST_F(Transport, TlsClientCertificateRequired) {
  auto args = tlsArgs();
  args.insert(args.end(), {"--tls-ca", cert("ca.crt"), "--tls-require-client-cert"});
  Parleyd b(args);
  const std::string ca = " --cafile " + q(cert("ca.crt"));
  Background s(sub(b.tls, "-q 1 -C 1 -t req/x" + ca + " --cert " + q(cert("client.crt")) +
                              " --key " + q(cert("client.key"))),
               b.dir() / "sub.out");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto good = run(pub(b.tls, "-q 1 -t req/x -m ok" + ca + " --cert " + q(cert("client.crt")) +
                                 " --key " + q(cert("client.key"))));
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.output(), "ok\n");

  auto none = run(pub(b.tls, "-q 1 -t req/x -m no" + ca));
  EXPECT_NE(none.code, 0) << none.out;
  auto bad = run(pub(b.tls, "-q 1 -t req/x -m bad" + ca + " --cert " + q(cert("badclient.crt")) +
                                " --key " + q(cert("badclient.key"))));
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_TRUE(b.waitLog("handshake failed")) << b.log();
  EXPECT_NE(b.log().find("certificate verify failed"), std::string::npos) << b.log();
}

// --tls-cn-as-username: the certificate's CN (certuser) is the user, with no password, even
// under --auth password; the ACL then applies to that user.
TEST_F(Transport, TlsCertificateCnIsUserName) {
  auto dir = makeTempDir("cn");
  const std::string acl = (dir / "acl").string();
  std::ofstream(acl) << "user certuser\ntopic readwrite cert/#\n";
  auto args = tlsArgs();
  args.insert(args.end(),
              {"--tls-ca", cert("ca.crt"), "--tls-require-client-cert", "--tls-cn-as-username",
               "--auth", "password", "--password-file", passwordFile(dir), "--acl-file", acl});
  Parleyd b(args);
  const std::string tls = " --cafile " + q(cert("ca.crt")) + " --cert " + q(cert("client.crt")) +
                          " --key " + q(cert("client.key"));
  Background s(sub(b.tls, "-q 1 -C 1 -t cert/x" + tls), b.dir() / "sub.out");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto r = run(pub(b.tls, "-q 1 -t cert/x -m hi" + tls));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.output(), "hi\n");
  // Outside its ACL: the 5.0 PUBACK says not authorized.
  r = run(pub(b.tls, "-V 5 -q 1 -t other/x -m no" + tls));
  EXPECT_TRUE(b.waitLog("user 'certuser': publish to 'other/x' not authorized")) << b.log();
  fs::remove_all(dir);
}

// SIGHUP re-reads the certificate: a client trusting only the new CA fails before and
// succeeds after.
TEST_F(Transport, TlsCertificateReloadOnSighup) {
  auto dir = makeTempDir("reload");
  fs::copy_file(cert("server.crt"), dir / "s.crt");
  fs::copy_file(cert("server.key"), dir / "s.key");
  Parleyd b({"--tls-port", "0", "--tls-cert", (dir / "s.crt").string(), "--tls-key",
             (dir / "s.key").string()});
  const std::string other = " --cafile " + q(cert("otherca.crt"));
  EXPECT_NE(run(pub(b.tls, "-q 1 -t r/x -m a" + other)).code, 0);
  fs::copy_file(cert("server2.crt"), dir / "s.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(cert("server2.key"), dir / "s.key", fs::copy_options::overwrite_existing);
  b.signal(SIGHUP);
  ASSERT_TRUE(b.waitLog("TLS certificate reloaded")) << b.log();
  auto r = run(pub(b.tls, "-q 1 -t r/x -m b" + other));
  EXPECT_EQ(r.code, 0) << r.out << b.log();
  EXPECT_NE(run(pub(b.tls, "-q 1 -t r/x -m c --cafile " + q(cert("ca.crt")))).code, 0);
  fs::remove_all(dir);
}

// MQTT.js over ws:// and wss:// exchanges QoS 1 messages, both directions across transports,
// for 3.1.1 and 5.0. Several client ids, so some sessions live on the other thread (relayed).
TEST_F(Transport, WebSocketQos1MqttJs) {
  auto args = tlsArgs();
  args.insert(args.end(), {"--ws-port", "0", "--wss-port", "0"});
  Parleyd b(args);
  ASSERT_NE(b.ws, 0);
  ASSERT_NE(b.wss, 0);
  const std::string ws = "ws://127.0.0.1:" + std::to_string(b.ws) + "/mqtt";
  const std::string wss = "wss://127.0.0.1:" + std::to_string(b.wss) + "/mqtt";
  for (int i = 0; i < 6; ++i) {
    const std::string v = i % 2 ? "MQTT_VERSION=4 " : "MQTT_VERSION=5 ";
    const std::string topic = "ws/" + std::to_string(i);
    const std::string& from = i % 3 == 0 ? ws : wss;
    const std::string& to = i % 3 == 1 ? ws : wss;
    SCOPED_TRACE(v + from + " -> " + to);
    Background s(node("sub " + to + " wsub" + std::to_string(i) + " " + topic + " 3", v),
                 b.dir() / "sub.out");
    ASSERT_TRUE(s.waitOutput("READY")) << s.output() << b.log();
    auto r = run(node("pub " + from + " wpub" + std::to_string(i) + " " + topic + " a b c", v));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out, "PUBACK 0\nPUBACK 0\nPUBACK 0\n");
    EXPECT_EQ(s.wait(), 0);
    EXPECT_EQ(s.output(), "READY\na\nb\nc\n") << b.log();
  }
  // mosquitto_pub over plain TCP reaches a WebSocket subscriber too.
  Background s(node("sub " + ws + " mixsub mix/t 1"), b.dir() / "sub.out");
  ASSERT_TRUE(s.waitOutput("READY"));
  EXPECT_EQ(run(pub(b.port, "-q 1 -t mix/t -m tcp")).code, 0);
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.output(), "READY\ntcp\n");
}

// WebSocket upgrade rules: wrong path → 404, no "mqtt" subprotocol → 400.
TEST_F(Transport, WebSocketPathAndSubprotocol) {
  Parleyd b({"--ws-port", "0"});
  const std::string base = "http://127.0.0.1:" + std::to_string(b.ws);
  const std::string upgrade =
      " -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'"
      " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='";
  auto r = run("curl -s -o /dev/null -w '%{http_code}' " + upgrade +
               " -H 'Sec-WebSocket-Protocol: mqtt' " + base + "/other");
  if (r.out.empty() || r.out == "000") GTEST_SKIP() << "curl unavailable: " << r.out;
  EXPECT_EQ(r.out, "404");
  r = run("curl -s -o /dev/null -w '%{http_code}' " + upgrade +
          " -H 'Sec-WebSocket-Protocol: chat' " + base + "/mqtt");
  EXPECT_EQ(r.out, "400");
  r = run("curl -s -m 2 -o /dev/null -w '%{http_code}' " + upgrade +
          " -H 'Sec-WebSocket-Protocol: mqtt' " + base + "/mqtt");
  EXPECT_EQ(r.out, "101");
}

// MQTT packets split across WebSocket frames and packed into one are handled as on TCP; a text
// frame closes the connection (MQTT 5.0 6.0).
TEST_F(Transport, WebSocketFramesSplitAndPacked) {
  Parleyd b({"--ws-port", "0"});
  const std::string url = "ws://127.0.0.1:" + std::to_string(b.ws) + "/mqtt";
  auto r = run("NODE_PATH=" + q(NODE_PATH_DIR) + " node " + q(WS_FRAMES) + " " + url + " binary");
  ASSERT_EQ(r.code, 0) << r.out << b.log();
  EXPECT_NE(r.out.find("20020000"), std::string::npos) << r.out;        // CONNACK accepted
  EXPECT_NE(r.out.find("9003000101"), std::string::npos) << r.out;      // SUBACK QoS 1
  EXPECT_NE(r.out.find("40020002"), std::string::npos) << r.out;        // PUBACK for id 2
  EXPECT_NE(r.out.find("32090003612f62"), std::string::npos) << r.out;  // the PUBLISH back
  r = run("NODE_PATH=" + q(NODE_PATH_DIR) + " node " + q(WS_FRAMES) + " " + url + " text");
  EXPECT_NE(r.out.find("CLOSED"), std::string::npos) << r.out;
}

// A persistent session outlives its transport: subscribe over TCP, go away, messages are
// published, the same client id comes back over WebSocket (and then WSS) and gets the backlog.
TEST_F(Transport, PersistentSessionAcrossTransports) {
  auto args = tlsArgs();
  args.insert(args.end(), {"--ws-port", "0", "--wss-port", "0"});
  Parleyd b(args);
  for (const std::string id : {"dev-a", "dev-b", "dev-c", "dev-d"}) {
    auto r = run(sub(b.port, "-c -q 1 -i " + id + " -t backlog/" + id + " -E"));
    ASSERT_EQ(r.code, 0) << r.out;
    for (int i = 1; i <= 3; ++i)
      ASSERT_EQ(
          run(pub(b.port, "-q 1 -t backlog/" + id + " -m " + id + "-" + std::to_string(i))).code,
          0);
    const std::string url = (id == "dev-a" || id == "dev-c")
                                ? "ws://127.0.0.1:" + std::to_string(b.ws) + "/mqtt"
                                : "wss://127.0.0.1:" + std::to_string(b.wss) + "/mqtt";
    r = run(node("resume " + url + " " + id + " 3", "MQTT_VERSION=4 MQTT_CLEAN=0 "));
    EXPECT_EQ(r.code, 0) << r.out << b.log();
    EXPECT_EQ(r.out, "SESSION 1\n" + id + "-1\n" + id + "-2\n" + id + "-3\n");
    // And back over TCP: nothing left, the session is still there.
    r = run(sub(b.port, "-c -q 1 -i " + id + " -t backlog/" + id + " -W 1 -v"));
    EXPECT_EQ(r.out.find("backlog/"), std::string::npos) << r.out;
  }
}

// --auth password: a wrong password is refused with 0x86 (5.0) / 4 (3.1.1) and logged; the
// right one is accepted.
TEST_F(Transport, WrongPasswordRefused) {
  auto dir = makeTempDir("pw");
  Parleyd b({"--auth", "password", "--password-file", passwordFile(dir), "--ws-port", "0"});
  const std::string url = "mqtt://127.0.0.1:" + std::to_string(b.port);
  auto r = run(node("connect " + url + " pw1", "MQTT_USER=alice MQTT_PASS=wrong "));
  EXPECT_EQ(r.out, "CONNACK 134\n");
  r = run(node("connect " + url + " pw2", "MQTT_VERSION=4 MQTT_USER=alice MQTT_PASS=wrong "));
  EXPECT_EQ(r.out, "CONNACK 4\n");
  r = run(node("connect " + url + " pw3", "MQTT_USER=mallory MQTT_PASS=secret "));
  EXPECT_EQ(r.out, "CONNACK 134\n");
  r = run(node("connect ws://127.0.0.1:" + std::to_string(b.ws) + "/mqtt pw4",
               "MQTT_USER=alice MQTT_PASS=secret "));
  EXPECT_EQ(r.out, "CONNACK 0\n");
  EXPECT_NE(run(pub(b.port, "-q 1 -t x -m y -u alice -P nope")).code, 0);
  EXPECT_EQ(run(pub(b.port, "-q 1 -t x -m y -u alice -P secret")).code, 0);
  EXPECT_TRUE(b.waitLog("user 'alice' refused (reason 0x86): wrong password")) << b.log();
  EXPECT_NE(b.log().find("user 'mallory' refused (reason 0x86): unknown user"), std::string::npos);
  fs::remove_all(dir);
}

// --acl-file: forbidden SUBSCRIBE gets 0x87 (5.0) / 0x80 (3.1.1), forbidden PUBLISH a 0x87
// PUBACK; allowed ones pass, including a %c pattern. Each refusal is logged.
TEST_F(Transport, AclForbiddenPublishAndSubscribe) {
  auto dir = makeTempDir("acl");
  const std::string acl = (dir / "acl").string();
  std::ofstream(acl) << "# test rules\ntopic read public/#\nuser alice\ntopic readwrite alice/#\n"
                        "topic deny alice/secret/#\npattern write devices/%c/#\n";
  Parleyd b({"--auth", "password", "--password-file", passwordFile(dir), "--acl-file", acl});
  const std::string url = "mqtt://127.0.0.1:" + std::to_string(b.port);
  const std::string alice = "MQTT_USER=alice MQTT_PASS=secret ";
  EXPECT_EQ(run(node("subscribe " + url + " a1 secret/#", alice)).out, "SUBACK 135\n");
  EXPECT_EQ(run(node("subscribe " + url + " a1 alice/#", alice)).out, "SUBACK 135\n")
      << "alice/# overlaps the denied alice/secret/#";
  EXPECT_EQ(run(node("subscribe " + url + " a1 alice/inbox/+", alice)).out, "SUBACK 1\n");
  EXPECT_EQ(run(node("subscribe " + url + " a1 public/news", alice)).out, "SUBACK 1\n");
  EXPECT_EQ(run(node("subscribe " + url + " a1 secret/#", "MQTT_VERSION=4 " + alice)).out,
            "SUBACK 128\n");
  EXPECT_EQ(run(node("pub " + url + " a1 public/news x", alice)).out, "PUBACK 135\n");
  EXPECT_EQ(run(node("pub " + url + " a1 alice/secret/x x", alice)).out, "PUBACK 135\n");
  EXPECT_EQ(run(node("pub " + url + " a1 alice/notes x", alice)).out, "PUBACK 0\n");
  EXPECT_EQ(run(node("pub " + url + " dev7 devices/dev7/temp 21", alice)).out, "PUBACK 0\n");
  EXPECT_EQ(run(node("pub " + url + " dev7 devices/dev8/temp 21", alice)).out, "PUBACK 135\n");
  EXPECT_TRUE(b.waitLog("user 'alice': subscribe to 'secret/#' not authorized")) << b.log();
  EXPECT_NE(b.log().find("user 'alice': publish to 'public/news' not authorized"),
            std::string::npos);
  fs::remove_all(dir);
}

std::string base64url(const unsigned char* p, size_t n) {
  std::string b(4 * ((n + 2) / 3) + 1, '\0');
  b.resize(static_cast<size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b.data()), p, static_cast<int>(n))));
  for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

std::string hs256(const std::string& secret, const std::string& claims) {
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string input =
      base64url(reinterpret_cast<const unsigned char*>(header.data()), header.size()) + "." +
      base64url(reinterpret_cast<const unsigned char*>(claims.data()), claims.size());
  unsigned char mac[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url(mac, len);
}

// --auth jwt: an expired token is refused (and logged), a fresh one accepted.
TEST_F(Transport, ExpiredJwtRefused) {
  auto dir = makeTempDir("jwt");
  std::ofstream(dir / "key") << "test-secret\n";
  Parleyd b({"--auth", "jwt", "--jwt-key-file", (dir / "key").string()});
  const long now = static_cast<long>(std::time(nullptr));
  const std::string expired =
      hs256("test-secret", R"({"sub":"alice","exp":)" + std::to_string(now - 3600) + "}");
  const std::string fresh =
      hs256("test-secret", R"({"sub":"alice","exp":)" + std::to_string(now + 3600) + "}");
  const std::string url = "mqtt://127.0.0.1:" + std::to_string(b.port);
  EXPECT_EQ(run(node("connect " + url + " j1", "MQTT_USER=alice MQTT_PASS=" + expired + " ")).out,
            "CONNACK 134\n");
  EXPECT_NE(run(pub(b.port, "-q 1 -t x -m y -u alice -P " + expired)).code, 0);
  EXPECT_TRUE(b.waitLog("JWT expired")) << b.log();
  EXPECT_EQ(run(node("connect " + url + " j2", "MQTT_USER=alice MQTT_PASS=" + fresh + " ")).out,
            "CONNACK 0\n");
  fs::remove_all(dir);
}

// --max-connect-rate: a burst of connections from one address beyond the rate is closed right
// after accept (logged, counted), while an established client keeps exchanging messages.
TEST_F(Transport, ConnectRateLimitSparesEstablishedClients) {
  Parleyd b({"--max-connect-rate", "5", "--ws-port", "0"});
  Background pp(node("pingpong ws://127.0.0.1:" + std::to_string(b.ws) + "/mqtt pp storm/t 40 50"),
                b.dir() / "pp.out");
  ASSERT_TRUE(pp.waitOutput("READY")) << pp.output() << b.log();
  std::vector<int> fds;
  for (int i = 0; i < 60; ++i) fds.push_back(connectRaw(b.port));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int refused = 0, open = 0;
  for (int fd : fds) {
    if (fd < 0 || peerClosed(fd)) {
      ++refused;
    } else {
      ++open;
    }
  }
  EXPECT_GE(refused, 50) << open;
  EXPECT_GE(open, 1);
  EXPECT_LE(open, 10);
  EXPECT_EQ(pp.wait(), 0) << pp.output();
  EXPECT_EQ(pp.output(), "READY\nGOT 40\n");
  EXPECT_TRUE(b.waitLog("connection refused: --max-connect-rate exceeded")) << b.log();
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

// --max-connections: connections beyond the cap are closed right after accept.
TEST_F(Transport, MaxConnections) {
  Parleyd b({"--max-connections", "3"});
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(connectRaw(b.port));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  int closed = 0;
  for (int fd : fds) closed += fd < 0 || peerClosed(fd);
  EXPECT_EQ(closed, 2);
  EXPECT_TRUE(b.waitLog("connection refused: --max-connections reached")) << b.log();
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  // Slots are given back: a new client gets in.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(run(pub(b.port, "-q 1 -t x -m y")).code, 0);
}

// --max-publish-rate: a 5.0 client flooding PUBLISHes gets DISCONNECT 0x96, a 3.1.1 client is
// closed; both logged and counted in $SYS.
TEST_F(Transport, PublishRateLimit) {
  Parleyd b({"--max-publish-rate", "20", "--sys-interval", "1"});
  const std::string url = "mqtt://127.0.0.1:" + std::to_string(b.port);
  EXPECT_EQ(run(node("flood " + url + " f5 flood/t 200")).out, "DISCONNECT 150\n");
  EXPECT_EQ(run(node("flood " + url + " f4 flood/t 200", "MQTT_VERSION=4 ")).out, "CLOSED\n");
  EXPECT_TRUE(b.waitLog("publish rate above --max-publish-rate 20/s")) << b.log();
  auto r = run(sub(b.port, "-C 1 -t '$SYS/broker/limits/publish rate exceeded'"));
  EXPECT_EQ(r.out, "2\n");
  // Within the rate nothing happens.
  EXPECT_EQ(run(node("pub " + url + " slow flood/t a b c")).out, "PUBACK 0\nPUBACK 0\nPUBACK 0\n");
}

}  // namespace
}  // namespace parley::test
