#include "chat_harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace chattest {

using itest::Ack;
using itest::Packet;
using itest::Props;

// ---- broker ----

ChatBroker::ChatBroker(std::vector<std::string> extra) {
  admin_port_file_ = dir_.path() + "/admin.port";
  std::vector<std::string> args = {
      "--auth",        "none",      "--admin-port",      "0",
      "--admin-bind",  "127.0.0.1", "--admin-port-file", admin_port_file_,
      "--admin-token", kToken};
  args.insert(args.end(), extra.begin(), extra.end());
  proc_ = std::make_unique<itest::BrokerProcess>(std::move(args));
  readAdminPort();
}

void ChatBroker::restart() {
  std::remove(admin_port_file_.c_str());
  proc_->restart();
  readAdminPort();
}

void ChatBroker::readAdminPort() {
  admin_port_ = 0;
  itest::waitFor(
      [&] {
        std::ifstream f(admin_port_file_);
        long p = 0;
        if (f >> p && p > 0 && p < 65536) admin_port_ = static_cast<uint16_t>(p);
        return admin_port_ != 0;
      },
      10s);
  if (admin_port_ == 0) throw std::runtime_error("parleyd wrote no admin port file");
}

// ---- admin HTTP ----

namespace {

// Sends the whole request and reads until the server closes; "" on a socket error.
std::string httpExchange(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    size_t off = 0;
    while (off < request.size()) {
      const ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    char buf[65536];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

}  // namespace

HttpReply adminCall(uint16_t admin_port, const std::string& method, const std::string& path,
                    const json& body, const std::string& token) {
  const std::string payload = body.is_null() ? std::string() : body.dump();
  std::ostringstream req;
  req << method << ' ' << path << " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req << "Authorization: Bearer " << token << "\r\n";
  if (!body.is_null()) req << "Content-Type: application/json\r\n";
  req << "Content-Length: " << payload.size() << "\r\n\r\n" << payload;
  const std::string resp = httpExchange(admin_port, req.str());
  HttpReply r;
  if (resp.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(resp.c_str() + 9);
  const size_t head_end = resp.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    r.body = json::parse(resp.substr(head_end + 4), nullptr, false);
  }
  return r;
}

json createConversation(uint16_t admin_port, const std::string& id, const std::string& kind,
                        const std::vector<std::pair<std::string, std::string>>& members) {
  json m = json::array();
  for (const auto& [user, role] : members) m.push_back({{"user", user}, {"role", role}});
  json req = {{"id", id}, {"kind", kind}, {"members", m}};
  auto r = adminCall(admin_port, "POST", "/v1/conversations", req);
  if (r.status != 201) ADD_FAILURE() << "create " << id << ": HTTP " << r.status << " " << r.body;
  return r.body;
}

uint64_t addMember(uint16_t admin_port, const std::string& conv, const std::string& user,
                   const std::string& role) {
  auto r = adminCall(admin_port, "POST", "/v1/conversations/" + conv + "/members",
                     {{"user", user}, {"role", role}});
  if (r.status != 201) {
    ADD_FAILURE() << "add " << user << " to " << conv << ": HTTP " << r.status << " " << r.body;
    return 0;
  }
  return r.body.value("seq", uint64_t{0});
}

uint64_t removeMember(uint16_t admin_port, const std::string& conv, const std::string& user) {
  auto r = adminCall(admin_port, "DELETE", "/v1/conversations/" + conv + "/members/" + user);
  if (r.status != 200) {
    ADD_FAILURE() << "remove " << user << " from " << conv << ": HTTP " << r.status << " "
                  << r.body;
    return 0;
  }
  return r.body.value("seq", uint64_t{0});
}

std::vector<json> adminHistory(uint16_t admin_port, const std::string& conv) {
  std::vector<json> all;
  std::string before;
  for (int page = 0; page < 1000; ++page) {
    std::string path = "/v1/conversations/" + conv + "/messages?limit=100";
    if (!before.empty()) path += "&before=" + before;
    auto r = adminCall(admin_port, "GET", path);
    if (r.status != 200) {
      ADD_FAILURE() << "history " << conv << ": HTTP " << r.status << " " << r.body;
      break;
    }
    auto msgs = r.body["messages"];
    all.insert(all.begin(), msgs.begin(), msgs.end());
    if (!r.body.value("has_more", false) || msgs.empty()) break;
    before = std::to_string(msgs.front()["seq"].get<uint64_t>());
  }
  return all;
}

// ---- envelopes ----

namespace {
std::string finish(flatbuffers::FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}
}  // namespace

std::string chatSend(const std::string& cmid, const std::string& body, fb::Kind kind) {
  flatbuffers::FlatBufferBuilder b;
  const std::vector<uint8_t> bytes(body.begin(), body.end());
  b.Finish(fb::CreateChatSendDirect(b, cmid.c_str(), kind, &bytes));
  return finish(b);
}

std::string historyRequest(const std::string& conv, uint64_t before_seq, uint32_t limit) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateHistoryRequestDirect(b, conv.c_str(), before_seq, limit));
  return finish(b);
}

std::string conversationsRequest() {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateConversationsRequestDirect(b, "", 100));
  return finish(b);
}

namespace {
ChatMsg fromTable(const fb::ChatMessage* m) {
  ChatMsg c;
  c.valid = true;
  if (m->conv()) c.conv = m->conv()->str();
  c.seq = m->seq();
  if (m->sender_user()) c.sender_user = m->sender_user()->str();
  if (m->sender_device()) c.sender_device = m->sender_device()->str();
  if (m->cmid()) c.cmid = m->cmid()->str();
  if (m->body()) c.body.assign(m->body()->begin(), m->body()->end());
  c.server_time_ms = m->server_time_ms();
  c.kind = m->kind();
  if (m->system()) {
    c.event = m->system()->event();
    if (m->system()->subject()) c.subject = m->system()->subject()->str();
  }
  return c;
}
}  // namespace

ChatMsg decodeChatMessage(const std::string& bytes) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!v.VerifyBuffer<fb::ChatMessage>(nullptr)) return {};
  return fromTable(flatbuffers::GetRoot<fb::ChatMessage>(bytes.data()));
}

HistoryPage decodeHistory(const std::string& bytes) {
  HistoryPage page;
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!v.VerifyBuffer<fb::HistoryResponse>(nullptr)) return page;
  const auto* h = flatbuffers::GetRoot<fb::HistoryResponse>(bytes.data());
  page.valid = true;
  page.head_seq = h->head_seq();
  page.floor_seq = h->floor_seq();
  page.has_more = h->has_more();
  if (h->messages()) {
    for (const auto* s : *h->messages()) {
      const auto* m = s->bytes_nested_root();
      page.messages.push_back(m ? fromTable(m) : ChatMsg{});
    }
  }
  return page;
}

RpcErr decodeRpcError(const std::string& bytes) {
  RpcErr e;
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!v.VerifyBuffer<fb::RpcError>(nullptr)) return e;
  const auto* r = flatbuffers::GetRoot<fb::RpcError>(bytes.data());
  e.valid = true;
  e.code = r->code();
  if (r->message()) e.message = r->message()->str();
  return e;
}

std::optional<uint64_t> pubackSeq(const Ack& ack) {
  for (const auto& [k, v] : ack.props.user) {
    if (k == "seq") {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0') return std::nullopt;
      return static_cast<uint64_t>(n);
    }
  }
  return std::nullopt;
}

// ---- device ----

ChatDevice::ChatDevice(uint16_t port, int version, std::string device, std::string user,
                       bool persistent)
    : port_(port),
      version_(version),
      device_(std::move(device)),
      user_(std::move(user)),
      persistent_(persistent) {}

std::optional<itest::ConnAck> ChatDevice::connect() {
  cli_ = std::make_unique<itest::RawClient>(port_, version_, rcvbuf_);
  acks_.clear();
  subacks_.clear();
  unacked_.clear();
  disconnect_.reset();
  itest::ConnectSpec s;
  s.version = version_;
  s.client_id = device_;
  s.username = user_;
  s.clean = !persistent_;
  s.keep_alive = 120;
  if (version_ == 5 && persistent_) s.props.u32(itest::P_SESSION_EXPIRY, 3600);
  return cli_->connect(s);
}

void ChatDevice::disconnect() {
  if (!cli_) return;
  cli_->send(itest::disconnectPacket(version_));
  cli_->waitClosed(2s);
  cli_.reset();
}

void ChatDevice::abort() {
  if (!cli_) return;
  cli_->abort();
  cli_.reset();
}

void ChatDevice::handle(const Packet& p) {
  switch (p.type) {
    case itest::PUBLISH: {
      auto pub = itest::parsePublish(p, version_);
      if (pub.qos == 1) {
        if (auto_ack_) {
          cli_->send(itest::ackPacket(itest::PUBACK, pub.id, version_));
        } else {
          unacked_.push_back(pub.id);
        }
      }
      if (pub.topic.rfind("conv/", 0) == 0 && pub.topic.find('/', 5) == std::string::npos) {
        by_conv_[pub.topic.substr(5)].push_back(decodeChatMessage(pub.payload));
      } else {
        other_.push_back(std::move(pub));
      }
      break;
    }
    case itest::PUBACK: {
      auto a = itest::parseAck(p, version_);
      acks_[a.id] = a;
      break;
    }
    case itest::SUBACK: {
      auto s = itest::parseSuback(p, version_);
      subacks_[s.id] = s;
      break;
    }
    case itest::DISCONNECT:
      disconnect_ = itest::parseDisconnect(p);
      break;
    default:
      break;
  }
}

void ChatDevice::ack(uint16_t id) {
  if (cli_) cli_->send(itest::ackPacket(itest::PUBACK, id, version_));
}

size_t ChatDevice::poll(Millis timeout) {
  if (!cli_) return 0;
  size_t n = 0;
  auto p = cli_->read(timeout);
  while (p) {
    handle(*p);
    ++n;
    p = cli_->read(0ms);
  }
  return n;
}

uint16_t ChatDevice::nextId() {
  if (++next_id_ == 0) next_id_ = 1;
  return next_id_;
}

uint16_t ChatDevice::publish(const std::string& topic, const std::string& payload,
                             const Props& props) {
  const uint16_t id = nextId();
  acks_.erase(id);
  if (cli_) cli_->send(itest::publishPacket(version_, topic, payload, 1, id, false, props));
  return id;
}

std::optional<Ack> ChatDevice::awaitAck(uint16_t id, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!acks_.count(id)) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || closed()) break;
    poll(std::min(left, Millis(50)));
  }
  auto it = acks_.find(id);
  if (it == acks_.end()) return std::nullopt;
  Ack a = it->second;
  acks_.erase(it);
  return a;
}

std::optional<Ack> ChatDevice::send(const std::string& conv, const std::string& cmid,
                                    const std::string& body, Millis timeout) {
  return awaitAck(publish("conv/" + conv, chatSend(cmid, body)), timeout);
}

std::vector<uint8_t> ChatDevice::subscribe(const std::string& filter, int qos, Millis timeout) {
  const uint16_t id = nextId();
  subacks_.erase(id);
  if (!cli_) return {};
  cli_->send(
      itest::subscribePacket(version_, id, {{filter, static_cast<uint8_t>(qos & 3)}}, Props{}));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!subacks_.count(id) && !closed() && std::chrono::steady_clock::now() < deadline) {
    poll(50ms);
  }
  auto it = subacks_.find(id);
  return it == subacks_.end() ? std::vector<uint8_t>{} : it->second.codes;
}

std::optional<itest::PublishIn> ChatDevice::rpc(const std::string& method,
                                                const std::string& payload, Millis timeout) {
  const std::string corr = "corr-" + device_ + "-" + std::to_string(next_id_ + 1);
  last_corr_ = corr;
  Props props;
  if (version_ == 5) {
    props.str(itest::P_RESPONSE_TOPIC, "rpc/reply/" + device_);
    props.str(itest::P_CORRELATION_DATA, corr);
  }
  const size_t before = other_.size();
  publish("rpc/" + method, payload, props);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (size_t i = before; i < other_.size(); ++i) {
      if (other_[i].topic.rfind("rpc/reply/" + device_, 0) == 0) {
        auto r = other_[i];
        other_.erase(other_.begin() + static_cast<std::ptrdiff_t>(i));
        return r;
      }
    }
    if (closed() || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    poll(50ms);
  }
}

bool ChatDevice::waitMessages(const std::string& conv, size_t n, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (by_conv_[conv].size() < n) {
    if (closed() || std::chrono::steady_clock::now() >= deadline) {
      poll(0ms);
      return by_conv_[conv].size() >= n;
    }
    poll(50ms);
  }
  return true;
}

void prepareRpcReplies(ChatDevice& d) {
  if (d.version() == 5) return;
  for (const std::string& t : {"rpc/reply/" + d.device(), "rpc/reply/" + d.device() + "/error"}) {
    auto codes = d.subscribe(t, 1);
    ASSERT_EQ(codes.size(), 1u) << "no SUBACK for " << t;
    EXPECT_LE(codes[0], 1) << "own reply topic refused: " << t;
  }
}

namespace {
bool errorFlag(const itest::PublishIn& p) {
  for (const auto& [k, val] : p.props.user) {
    if (k == "error" && val == "1") return true;
  }
  return false;
}
}  // namespace

void expectRpcError(ChatDevice& d, const std::optional<itest::PublishIn>& reply,
                    fb::RpcErrorCode code) {
  ASSERT_TRUE(reply) << "no rpc reply";
  if (d.version() == 5) {
    EXPECT_EQ(reply->topic, "rpc/reply/" + d.device());
    EXPECT_EQ(reply->props.getStr(itest::P_CORRELATION_DATA), d.lastCorrelation());
    EXPECT_TRUE(errorFlag(*reply)) << "5.0 rpc error reply without user property error=1";
  } else {
    EXPECT_EQ(reply->topic, "rpc/reply/" + d.device() + "/error");
  }
  auto err = decodeRpcError(reply->payload);
  ASSERT_TRUE(err.valid) << "reply is not an RpcError";
  EXPECT_EQ(err.code, code) << err.message;
}

bool expectRpcOk(ChatDevice& d, const std::optional<itest::PublishIn>& reply) {
  if (!reply) {
    ADD_FAILURE() << "no rpc reply";
    return false;
  }
  bool ok = reply->topic == "rpc/reply/" + d.device();
  EXPECT_EQ(reply->topic, "rpc/reply/" + d.device());
  if (d.version() == 5) {
    EXPECT_EQ(reply->props.getStr(itest::P_CORRELATION_DATA), d.lastCorrelation());
    EXPECT_FALSE(errorFlag(*reply)) << decodeRpcError(reply->payload).message;
    ok = ok && !errorFlag(*reply);
  }
  return ok;
}

bool pollAll(const std::vector<ChatDevice*>& devices, const std::function<bool()>& pred,
             Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t handled = 0;
    for (auto* d : devices) handled += d->poll(0ms);
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (handled == 0) std::this_thread::sleep_for(2ms);
  }
}

std::string checkSeqRun(const std::vector<ChatMsg>& msgs, uint64_t first, uint64_t last) {
  const uint64_t want = last >= first ? last - first + 1 : 0;
  std::ostringstream err;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (!msgs[i].valid) {
      err << "message #" << i << " is not a valid ChatMessage";
      return err.str();
    }
    if (msgs[i].seq != first + i) {
      err << "message #" << i << " has seq " << msgs[i].seq << ", expected " << first + i
          << " (previous " << (i ? msgs[i - 1].seq : 0) << ")";
      return err.str();
    }
  }
  if (msgs.size() != want) {
    err << "got " << msgs.size() << " messages (seqs " << first << "..), expected " << want
        << " (up to seq " << last << ")";
    return err.str();
  }
  return {};
}

}  // namespace chattest
