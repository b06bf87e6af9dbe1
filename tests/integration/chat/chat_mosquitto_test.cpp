// Acceptance: docs/PROTOCOL.md is enough to write a client with only an MQTT library and flatc.
// This follows the document's worked example with curl, flatc, mosquitto_pub, mosquitto_sub and
// Paho C++ (for rpc) as separate tools: JSON -> flatc -> ChatSend, send with QoS 1, receive the
// ChatMessage on a persistent session (also after being offline), decode it with flatc, and
// read history over rpc/history (MQTT 5.0 request/response and 3.1.1) with Paho C++ and flatc.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_harness.hpp"

namespace chattest {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ChatMosquitto : public ::testing::Test {
 protected:
  std::string p(const std::string& name) const { return work_.path() + "/" + name; }

  // flatc --binary with the given root type; returns the .bin path.
  std::string encode(const std::string& name, const std::string& json_text,
                     const std::string& root_type = "") {
    std::ofstream(p(name + ".json")) << json_text;
    std::vector<std::string> argv = {FLATC_PATH, "--binary", "-o", work_.path()};
    if (!root_type.empty()) argv.insert(argv.end(), {"--root-type", root_type});
    argv.insert(argv.end(), {CHAT_SCHEMA_PATH, p(name + ".json")});
    auto r = itest::runTool(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return p(name + ".bin");
  }

  // flatc --json of a binary file; returns the parsed JSON (null on failure).
  json decode(const std::string& bin_name, const std::string& bytes, const std::string& root_type) {
    std::ofstream(p(bin_name + ".bin"), std::ios::binary) << bytes;
    auto r =
        itest::runTool({FLATC_PATH, "--json", "--raw-binary", "--strict-json", "--root-type",
                        root_type, "-o", p("out"), CHAT_SCHEMA_PATH, "--", p(bin_name + ".bin")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(slurp(p("out/" + bin_name + ".json")), nullptr, false);
  }

  std::vector<std::string> mosq(const std::string& tool, int version) const {
    return {tool,
            "-h",
            "127.0.0.1",
            "-p",
            std::to_string(broker_.port()),
            "-V",
            version == 5 ? "mqttv5" : "mqttv311"};
  }

  ChatBroker broker_;
  itest::TempDir work_;
};

TEST_F(ChatMosquitto, WorkedExampleWithCommandLineClients) {
  // Backend: create the group with curl, as the document does.
  const std::string admin = "http://127.0.0.1:" + std::to_string(broker_.adminPort());
  auto created = itest::runTool({"curl", "-s", "-H",
                                 std::string("Authorization: Bearer ") + ChatBroker::kToken, "-X",
                                 "POST", admin + "/v1/conversations", "-d",
                                 R"({"id":"team","kind":"group","title":"Team",
           "members":[{"user":"alice","role":"owner"},{"user":"bob"}]})"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(json::parse(created.out, nullptr, false).value("head_seq", 0), 1) << created.out;

  // Bob's phone: a persistent 3.1.1 session subscribed to conv/team, then offline.
  auto args = mosq("mosquitto_sub", 4);
  args.insert(args.end(),
              {"-i", "bob-phone", "-c", "-u", "bob", "-q", "1", "-t", "conv/team", "-E"});
  auto made = itest::runTool(args);
  ASSERT_EQ(made.exit_code, 0) << made.err;

  // Alice sends "hello" (5.0) with a ChatSend encoded by flatc from JSON.
  const std::string send_bin = encode(
      "send", R"({ "cmid": "01HV7Y-0001", "kind": "Text", "body": [104, 101, 108, 108, 111] })");
  args = mosq("mosquitto_pub", 5);
  args.insert(args.end(), {"-i", "alice-phone", "-u", "alice", "-q", "1", "-t", "conv/team", "-f",
                           send_bin, "-d"});
  auto pub = itest::runTool(args);
  ASSERT_EQ(pub.exit_code, 0) << pub.out << pub.err;
  EXPECT_NE(pub.out.find("received PUBACK"), std::string::npos) << pub.out;
  EXPECT_NE(pub.out.find("RC:0"), std::string::npos) << "refused: " << pub.out;

  // Bob's phone comes back and gets the message (catch-up), printed raw with -N.
  args = mosq("mosquitto_sub", 4);
  args.insert(args.end(), {"-i", "bob-phone", "-c", "-u", "bob", "-q", "1", "-t", "conv/team", "-C",
                           "1", "-N", "-W", "10"});
  auto sub = itest::runTool(args, 15s);
  ASSERT_EQ(sub.exit_code, 0) << "no message for bob-phone: " << sub.err;
  auto msg = decode("msg", sub.out, "parley.chat.fb.ChatMessage");
  ASSERT_TRUE(msg.is_object()) << "flatc could not decode the delivery";
  EXPECT_EQ(msg.value("conv", ""), "team");
  EXPECT_EQ(msg.value("seq", 0), 2);
  EXPECT_EQ(msg.value("cmid", ""), "01HV7Y-0001");
  EXPECT_EQ(msg.value("sender_user", ""), "alice");
  EXPECT_EQ(msg.value("sender_device", ""), "alice-phone");
  EXPECT_EQ(msg["body"], json::array({104, 101, 108, 108, 111}));
  EXPECT_GT(msg.value("server_time_ms", int64_t{0}), 0);

  // History with the command-line tools (5.0): a response topic of our own, published like any
  // message; the listener's persistent session holds the reply until it comes back.
  const std::string hist_bin = encode("hist", R"({ "conv": "team", "before_seq": 0, "limit": 20 })",
                                      "parley.chat.fb.HistoryRequest");
  args = mosq("mosquitto_sub", 4);
  args.insert(args.end(), {"-i", "bob-listener", "-c", "-u", "bob", "-q", "1", "-t",
                           "replies/bob-tablet", "-E"});
  made = itest::runTool(args);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  args = mosq("mosquitto_pub", 5);
  args.insert(args.end(), {"-i", "bob-tablet", "-u", "bob", "-q", "1", "-t", "rpc/history", "-f",
                           hist_bin, "-D", "publish", "response-topic", "replies/bob-tablet", "-D",
                           "publish", "correlation-data", "1"});
  pub = itest::runTool(args);
  ASSERT_EQ(pub.exit_code, 0) << pub.out << pub.err;
  args = mosq("mosquitto_sub", 4);
  args.insert(args.end(), {"-i", "bob-listener", "-c", "-u", "bob", "-q", "1", "-t",
                           "replies/bob-tablet", "-C", "1", "-N", "-W", "10"});
  auto listened = itest::runTool(args, 15s);
  ASSERT_EQ(listened.exit_code, 0) << "no reply on replies/bob-tablet: " << listened.err;
  auto cli_page = decode("clipage", listened.out, "parley.chat.fb.HistoryResponse");
  ASSERT_TRUE(cli_page.is_object());
  EXPECT_EQ(cli_page.value("head_seq", 0), 2);
  EXPECT_EQ(cli_page["messages"].size(), 2u) << cli_page.dump();

  // History over MQTT. The reply goes to the connection that asked, so request and reply need
  // one client; mosquitto_rr 2.0.11 (Debian 12) sends an empty payload with -f/-s, so this part
  // uses an MQTT library (Paho C++) — still with flatc for the envelopes.
  for (int version : {5, 4}) {
    SCOPED_TRACE(version == 5 ? "mqttv5" : "mqttv311");
    itest::PahoClient tablet(broker_.port(), "bob-tablet", version);
    auto opts = tablet.options(true);
    opts.user_name("bob");
    tablet.connect(opts.finalize());
    auto req = mqtt::make_message("rpc/history", slurp(hist_bin), 1, false);
    if (version == 5) {
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, "rpc/reply/bob-tablet"));
      props.add(mqtt::property(mqtt::property::CORRELATION_DATA, "req-1"));
      req->set_properties(props);
    } else {
      tablet.subscribe("rpc/reply/bob-tablet", 1);
    }
    tablet.publish(req);
    auto reply = tablet.next(10s);
    ASSERT_TRUE(reply) << "no rpc/history reply";
    EXPECT_EQ(reply->get_topic(), "rpc/reply/bob-tablet");
    if (version == 5) {
      EXPECT_EQ(mqtt::get<std::string>(reply->get_properties(), mqtt::property::CORRELATION_DATA),
                "req-1");
    }
    auto page = decode("page", reply->to_string(), "parley.chat.fb.HistoryResponse");
    ASSERT_TRUE(page.is_object()) << "flatc could not decode the HistoryResponse";
    EXPECT_EQ(page.value("head_seq", 0), 2);
    ASSERT_EQ(page["messages"].size(), 2u) << page.dump();
    // flatc 2.0 prints a nested flatbuffer as its byte array; decode it once more.
    const auto& bytes = page["messages"][1]["bytes"];
    std::string raw;
    if (bytes.is_array()) {
      for (const auto& b : bytes) raw.push_back(static_cast<char>(b.get<int>()));
      auto nested = decode("nested", raw, "parley.chat.fb.ChatMessage");
      EXPECT_EQ(nested.value("cmid", ""), "01HV7Y-0001");
    } else {
      EXPECT_EQ(bytes.value("cmid", ""), "01HV7Y-0001");
    }
    tablet.disconnect();
  }
}

}  // namespace
}  // namespace chattest
