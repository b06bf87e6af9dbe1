// Writes the seed corpus for fuzz_codec: every packet type encoded for 3.1.1 and 5.0 (with
// properties where 5.0 allows them), a whole connection as one stream, and malformed packets
// that stop at each kind of check. Usage: make_codec_corpus <dir>  (e.g. tests/fuzz/corpus/codec)
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "codec.hpp"

namespace {

using namespace parley::mqtt;

std::string g_dir;
int g_written = 0;

void write(const std::string& name, const Buffer& bytes) {
  std::ofstream out(g_dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ++g_written;
}

Buffer bytesOf(std::initializer_list<int> list) {
  Buffer b;
  for (int v : list) b.push_back(static_cast<uint8_t>(v));
  return b;
}

Properties users(Properties p = {}) {
  p.user_properties = {{"k", "v"}, {"trace", "1"}};
  return p;
}

void writeVersion(Version v, const std::string& tag) {
  const bool v5 = isV5(v);
  auto enc = [&](const Packet& p) {
    Buffer b;
    encode(p, v, b);
    return b;
  };

  Connect minimal;
  minimal.version = v;
  minimal.client_id = "dev";
  minimal.keep_alive = 30;
  write(tag + "-connect-minimal", enc(minimal));

  Connect full = minimal;
  full.clean_start = false;
  full.username = "alice";
  full.password = "token";
  full.will = Will{"presence/alice", "offline", 1, true, {}};
  if (v5) {
    full.props = users();
    full.props.session_expiry_interval = 3600;
    full.props.receive_maximum = 20;
    full.props.maximum_packet_size = 65536;
    full.props.topic_alias_maximum = 8;
    full.props.request_problem_information = 1;
    full.props.authentication_method = "jwt";
    full.props.authentication_data = "abc";
    full.will->props.will_delay_interval = 5;
    full.will->props.payload_format_indicator = 1;
    full.will->props.content_type = "text/plain";
  }
  write(tag + "-connect-full", enc(full));

  Connack ack{true, Reason::Success, {}};
  if (v5) {
    ack.props.assigned_client_identifier = "auto-1";
    ack.props.server_keep_alive = 60;
    ack.props.maximum_qos = 1;
    ack.props.retain_available = 1;
    ack.props.shared_subscription_available = 1;
    ack.props.topic_alias_maximum = 10;
  }
  write(tag + "-connack", enc(ack));
  write(tag + "-connack-refused", enc(Connack{false, Reason::NotAuthorized, {}}));

  for (uint8_t qos = 0; qos <= 2; ++qos) {
    Publish p;
    p.qos = qos;
    p.retain = qos == 1;
    p.dup = qos == 2;
    p.packet_id = qos ? 10 : 0;
    p.topic = "conv/42";
    p.payload = "{\"cmid\":\"x\",\"body\":\"hi\"}";
    if (v5 && qos == 1) {
      p.props = users();
      p.props.message_expiry_interval = 60;
      p.props.response_topic = "rpc/reply/dev";
      p.props.correlation_data = std::string("\0\1", 2);
      p.props.subscription_identifiers = {1, 300};
      p.props.topic_alias = 2;
    }
    write(tag + "-publish-qos" + std::to_string(qos), enc(p));
  }

  for (PacketType t :
       {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
    const std::string name = tag + "-ack" + std::to_string(static_cast<int>(t));
    write(name, enc(Ack{t, 10, Reason::Success, {}}));
    if (v5) {
      const Reason r = t == PacketType::Puback || t == PacketType::Pubrec
                           ? Reason::NoMatchingSubscribers
                           : Reason::PacketIdentifierNotFound;
      Properties props;
      props.reason_string = "why";
      write(name + "-reason-props", enc(Ack{t, 11, r, users(props)}));
    }
  }

  Subscribe sub{
      5,
      {},
      {{"conv/+", {1, false, false, 0}}, {"a/#", {2, v5, v5, static_cast<uint8_t>(v5 ? 2 : 0)}}}};
  if (v5) sub.props.subscription_identifiers = {7};
  write(tag + "-subscribe", enc(sub));
  write(tag + "-suback",
        enc(Suback{5, {}, {Reason::GrantedQoS1, Reason::GrantedQoS2, Reason::UnspecifiedError}}));
  write(tag + "-unsubscribe", enc(Unsubscribe{6, v5 ? users() : Properties{}, {"conv/+", "a/#"}}));
  write(tag + "-unsuback",
        enc(Unsuback{6,
                     {},
                     v5 ? std::vector{Reason::Success, Reason::NoSubscriptionExisted}
                        : std::vector<Reason>{}}));
  write(tag + "-pingreq", enc(Pingreq{}));
  write(tag + "-pingresp", enc(Pingresp{}));
  write(tag + "-disconnect", enc(Disconnect{}));
  if (v5) {
    Properties props;
    props.session_expiry_interval = 0;
    props.reason_string = "bye";
    write(tag + "-disconnect-props", enc(Disconnect{Reason::DisconnectWithWill, props}));
    Properties auth;
    auth.authentication_method = "SCRAM-SHA-256";
    auth.authentication_data = "client-first";
    write(tag + "-auth", enc(Auth{Reason::ContinueAuthentication, auth}));
  }

  // A whole connection in one input: CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT.
  Buffer stream = enc(minimal);
  for (const Packet& p : std::vector<Packet>{sub, Ack{PacketType::Puback, 10, Reason::Success, {}},
                                             Pingreq{}, Disconnect{}}) {
    encode(p, v, stream);
  }
  write(tag + "-stream", stream);
}

void writeMalformed() {
  const std::vector<std::pair<const char*, Buffer>> bad = {
      {"bad-varint-5-bytes", bytesOf({0x30, 0xff, 0xff, 0xff, 0xff, 0x01})},
      {"bad-varint-non-minimal", bytesOf({0xc0, 0x80, 0x00})},
      {"bad-type-0", bytesOf({0x00, 0x00})},
      {"bad-flags-subscribe", bytesOf({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00})},
      {"bad-publish-qos3", bytesOf({0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01})},
      {"bad-publish-wildcard", bytesOf({0x30, 0x05, 0x00, 0x03, 0x61, 0x2f, 0x2b})},
      {"bad-publish-string-past-end", bytesOf({0x30, 0x04, 0x00, 0x05, 0x61, 0x62})},
      {"bad-publish-surrogate", bytesOf({0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80})},
      {"bad-publish-id-0", bytesOf({0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00})},
      {"bad-connect-level-6", bytesOf({0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00,
                                       0x3c, 0x00, 0x03, 'a', 'b', 'c'})},
      {"bad-connect-reserved-flag", bytesOf({0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03,
                                             0x00, 0x3c, 0x00, 0x03, 'a', 'b', 'c'})},
      {"bad-connect-will-qos-no-will", bytesOf({0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
                                                0x0a, 0x00, 0x3c, 0x00, 0x03, 'a', 'b', 'c'})},
      {"bad-subscribe-empty", bytesOf({0x82, 0x02, 0x00, 0x01})},
      {"bad-subscribe-rh3", bytesOf({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30})},
      {"bad-puback-repeated-property", bytesOf({0x40, 0x0c, 0x00, 0x01, 0x00, 0x08, 0x1f, 0x00,
                                                0x01, 0x61, 0x1f, 0x00, 0x01, 0x62})},
      {"bad-publish-subscription-id-0", bytesOf({0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x0b, 0x00})},
      {"bad-publish-property-past-end", bytesOf({0x30, 0x05, 0x00, 0x01, 0x74, 0x09, 0x00})},
      {"partial-publish", bytesOf({0x30, 0x0a, 0x00, 0x01, 0x74})},
  };
  for (const auto& [name, bytes] : bad) write(name, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  writeVersion(Version::V311, "v311");
  writeVersion(Version::V5, "v5");
  Connect old;
  old.version = Version::V31;
  old.client_id = "legacy";
  Buffer b;
  encode(old, Version::V311, b);
  write("v31-connect-mqisdp", b);
  writeMalformed();
  std::printf("wrote %d files to %s\n", g_written, g_dir.c_str());
  return 0;
}
