// The SDK over TLS (ssl://) with the app's CA file, and the clear error it gives when the
// broker's certificate is not trusted. Certificates come from tests/transport/make_certs.sh.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_harness.hpp"
#include "sdk_device.hpp"

namespace sdktest {
namespace {

namespace fs = std::filesystem;

// The TLS port parleyd wrote next to its data directory ("tls N" in the port file).
uint16_t tlsPort(chattest::ChatBroker& broker) {
  std::ifstream f(fs::path(broker.proc().dataDir()).parent_path() / "port");
  std::string word;
  unsigned p = 0;
  while (f >> word) {
    if (word == "tls" && f >> p) return static_cast<uint16_t>(p);
  }
  return 0;
}

TEST(SdkTls, ConnectsWithTheAppsCaAndRefusesAnUntrustedServer) {
  itest::TempDir certs;
  auto made = itest::runTool({"bash", MAKE_CERTS, certs.path()}, 30s);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  chattest::ChatBroker broker({"--tls-port", "0", "--tls-cert", certs.path() + "/server.crt",
                               "--tls-key", certs.path() + "/server.key"});
  const uint16_t port = tlsPort(broker);
  ASSERT_NE(port, 0) << "no tls port in the port file";
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});

  auto o = deviceOptions(0, "alice-phone", "alice");
  o.server_uri = "ssl://127.0.0.1:" + std::to_string(port);
  o.ca_file = certs.path() + "/ca.crt";
  SdkDevice alice(o);
  alice.connect();
  auto r = await(alice->send("ab", "over TLS"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().seq, 2u);

  // Another CA: the handshake fails and connect() says so (and nothing is sent).
  auto bad = deviceOptions(0, "bob-phone", "bob");
  bad.server_uri = o.server_uri;
  bad.ca_file = certs.path() + "/otherca.crt";
  SdkDevice bob(bad);
  auto c = await(bob->connect());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, sdk::ErrorCode::ConnectFailed) << c.error().message;
  EXPECT_FALSE(bob->connected());
}

}  // namespace
}  // namespace sdktest
