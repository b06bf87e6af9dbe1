// Chat layer II acceptance for large channels, against the real parleyd: a channel of 10,000
// members with 2,000 devices online (MQTT 3.1.1 and 5.0 mixed). One message reaches every
// online device; the send writes a constant number of store records (read from
// $SYS/broker/store/records written), not one per member; offline devices with a stored offset
// catch up on connect; a device that never connected starts at the head (PROTOCOL.md) and finds
// the message through rpc/history.
//
// The 2,300 devices are not ChatDevices: each of those owns a blocking RawClient read one
// socket at a time, and RawClient::read(0ms) keeps polling until a millisecond has passed, so
// one pollAll() sweep over 2,000 of them took ~3 s here (2,000 sequential connects: ~1.1 s) and
// the fan-out appeared to take 2.4 s. Fleet below drives them all from one poll() over every
// socket and pipelines the CONNECTs in waves (2,000 connects: 0.2–0.6 s), which keeps the test
// quick under ASan and makes the fan-out time mean something.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "chat_harness.hpp"

namespace chattest {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Many persistent MQTT devices on raw sockets, driven from one thread by one poll() over all of
// them. Incoming QoS 1 PUBLISHes are acknowledged at once, or held while autoAck(false) (so the
// broker has no acknowledgement to turn into an offset write while the test counts records).
class Fleet {
 public:
  struct Device {
    int version = 4;
    std::string id, user;
    int fd = -1;
    bool eof = false;  // the broker closed the connection (or it broke)
    std::string in;    // bytes received, not yet a whole packet
    std::optional<itest::ConnAck> connack;
    std::vector<ChatMsg> msgs;   // conv/{id} deliveries in arrival order
    std::vector<uint16_t> held;  // QoS 1 ids not acknowledged yet (autoAck off)
    size_t others = 0;           // any other PUBLISH
  };

  explicit Fleet(uint16_t port) : port_(port) {}
  ~Fleet() {
    for (auto& d : devs_)
      if (d.fd >= 0) ::close(d.fd);
  }
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  void add(int version, std::string id, std::string user) {
    Device d;
    d.version = version;
    d.id = std::move(id);
    d.user = std::move(user);
    devs_.push_back(std::move(d));
  }
  size_t size() const { return devs_.size(); }
  Device& operator[](size_t i) { return devs_[i]; }
  std::vector<Device>& devices() { return devs_; }
  void autoAck(bool on) { auto_ack_ = on; }

  // Opens a connection per device and CONNECTs (persistent session, 5.0 expiry 1 h), `wave`
  // at a time so the broker's accept backlog never overflows (a dropped SYN costs a 1 s
  // retransmit). True if every device got CONNACK 0 within `timeout`.
  bool connectAll(size_t wave, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    for (size_t first = 0; first < devs_.size(); first += wave) {
      const size_t last = std::min(devs_.size(), first + wave);
      for (size_t i = first; i < last; ++i) {
        if (!open(devs_[i])) return false;
      }
      const bool done = pumpUntil(
          [&] {
            for (size_t i = first; i < last; ++i)
              if (!devs_[i].connack && !devs_[i].eof) return false;
            return true;
          },
          deadline);
      if (!done) return false;
      for (size_t i = first; i < last; ++i)
        if (!devs_[i].connack || devs_[i].connack->code != 0) return false;
    }
    return true;
  }

  // DISCONNECT (normal) every device and wait until the broker has closed each socket, so the
  // sessions are offline before the test goes on.
  bool disconnectAll(Millis timeout) {
    for (auto& d : devs_)
      if (d.fd >= 0 && !d.eof) sendAll(d, itest::disconnectPacket(d.version));
    return pumpUntil(
        [&] {
          for (auto& d : devs_)
            if (d.fd >= 0 && !d.eof) return false;
          return true;
        },
        Clock::now() + timeout);
  }

  // Sends a PUBACK for every held packet id.
  void ackHeld() {
    for (auto& d : devs_) {
      if (d.fd < 0 || d.eof) continue;
      for (uint16_t id : d.held) sendAll(d, itest::ackPacket(itest::PUBACK, id, d.version));
      d.held.clear();
    }
  }

  // Waits up to `timeout` for any socket to be readable, then handles everything that arrived
  // on every readable socket. Returns the number of sockets that had something.
  size_t pump(Millis timeout) {
    fds_.clear();
    idx_.clear();
    for (size_t i = 0; i < devs_.size(); ++i) {
      if (devs_[i].fd < 0 || devs_[i].eof) continue;
      fds_.push_back(pollfd{devs_[i].fd, POLLIN, 0});
      idx_.push_back(i);
    }
    if (fds_.empty()) return 0;
    const int n = ::poll(fds_.data(), fds_.size(), static_cast<int>(timeout.count()));
    if (n <= 0) return 0;
    size_t handled = 0;
    for (size_t k = 0; k < fds_.size(); ++k) {
      if (fds_[k].revents == 0) continue;
      readable(devs_[idx_[k]]);
      ++handled;
    }
    return handled;
  }

  bool pumpUntil(const std::function<bool()>& pred, Clock::time_point deadline) {
    for (;;) {
      if (pred()) return true;
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) return pred();
      pump(std::min(left, Millis(50)));
    }
  }

 private:
  bool open(Device& d) {
    d.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d.fd < 0) {
      ADD_FAILURE() << "socket(): " << std::strerror(errno) << " (device " << d.id << ")";
      return false;
    }
    const int one = 1;
    ::setsockopt(d.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(d.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ADD_FAILURE() << "connect(): " << std::strerror(errno) << " (device " << d.id << ")";
      return false;
    }
    itest::ConnectSpec s;
    s.version = d.version;
    s.client_id = d.id;
    s.username = d.user;
    s.clean = false;
    s.keep_alive = 600;  // no PINGREQs needed during the test
    if (d.version == 5) s.props.u32(itest::P_SESSION_EXPIRY, 3600);
    d.connack.reset();
    d.eof = false;
    d.in.clear();
    sendAll(d, itest::connectPacket(s));
    return true;
  }

  // The sockets are blocking; only reads use MSG_DONTWAIT. Every packet sent here is tiny, so a
  // send never waits on a full socket buffer.
  void sendAll(Device& d, const itest::Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = ::send(d.fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        d.eof = true;
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

  void readable(Device& d) {
    for (;;) {
      const ssize_t n = ::recv(d.fd, buf_, sizeof buf_, MSG_DONTWAIT);
      if (n > 0) {
        d.in.append(buf_, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) d.eof = true;
      break;
    }
    size_t pos = 0;
    while (auto p = frame(d.in, pos)) handle(d, *p);
    d.in.erase(0, pos);
  }

  // The next whole MQTT packet in `in` at `pos` (fixed header, remaining-length varint, body).
  static std::optional<itest::Packet> frame(const std::string& in, size_t& pos) {
    size_t i = pos + 1;
    uint32_t len = 0;
    for (int shift = 0;; shift += 7) {
      if (i >= in.size()) return std::nullopt;
      if (shift > 21) {
        ADD_FAILURE() << "malformed remaining length from the broker";
        return std::nullopt;
      }
      const auto b = static_cast<uint8_t>(in[i++]);
      len |= uint32_t(b & 0x7F) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (in.size() - i < len) return std::nullopt;
    itest::Packet p;
    p.type = static_cast<uint8_t>(in[pos]) >> 4;
    p.flags = static_cast<uint8_t>(in[pos]) & 0x0F;
    p.body.assign(in.begin() + static_cast<std::ptrdiff_t>(i),
                  in.begin() + static_cast<std::ptrdiff_t>(i + len));
    pos = i + len;
    return p;
  }

  void handle(Device& d, const itest::Packet& p) {
    switch (p.type) {
      case itest::CONNACK:
        d.connack = itest::parseConnack(p, d.version);
        break;
      case itest::PUBLISH: {
        auto pub = itest::parsePublish(p, d.version);
        if (pub.qos == 1) {
          if (auto_ack_) {
            sendAll(d, itest::ackPacket(itest::PUBACK, pub.id, d.version));
          } else {
            d.held.push_back(pub.id);
          }
        }
        if (pub.topic.rfind("conv/", 0) == 0 && pub.topic.find('/', 5) == std::string::npos) {
          d.msgs.push_back(decodeChatMessage(pub.payload));
        } else {
          ++d.others;
        }
        break;
      }
      case itest::DISCONNECT:
        d.eof = true;
        break;
      default:
        break;
    }
  }

  uint16_t port_;
  bool auto_ack_ = true;
  std::vector<Device> devs_;
  std::vector<pollfd> fds_;
  std::vector<size_t> idx_;
  char buf_[65536];
};

// The store's counters as parleyd publishes them every --sys-interval (1 s here): keys written
// and WriteSets committed since start-up.
struct StoreCounters {
  uint64_t records = 0, commits = 0;
  bool operator==(const StoreCounters&) const = default;
};

class StoreStats {
 public:
  explicit StoreStats(uint16_t port) : dev_(port, 5, "ops-sys-reader", "ops", false) {
    auto ack = dev_.connect();
    EXPECT_TRUE(ack && ack->code == 0) << "$SYS reader could not connect";
    auto codes = dev_.subscribe("$SYS/broker/store/#", 0);
    EXPECT_EQ(codes, std::vector<uint8_t>{0}) << "$SYS/broker/store/# not granted";
  }

  // The next round of $SYS values (each round publishes commits before records written).
  std::optional<StoreCounters> next(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto& pubs = dev_.otherPublishes();
      for (size_t i = 0; i < pubs.size(); ++i) {
        const uint64_t v = std::strtoull(pubs[i].payload.c_str(), nullptr, 10);
        if (pubs[i].topic == "$SYS/broker/store/commits") current_.commits = v;
        if (pubs[i].topic == "$SYS/broker/store/records written") {
          current_.records = v;
          pubs.erase(pubs.begin(), pubs.begin() + static_cast<std::ptrdiff_t>(i) + 1);
          return current_;
        }
      }
      pubs.clear();
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0 || dev_.closed()) return std::nullopt;
      dev_.poll(std::min(left, Millis(100)));
    }
  }

  // Rounds until two in a row agree, i.e. nothing was written for a whole interval: the store
  // is quiet and the value is a clean baseline.
  std::optional<StoreCounters> settled(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    std::optional<StoreCounters> prev;
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto cur = next(left);
      if (!cur) return std::nullopt;
      if (prev && *prev == *cur) return cur;
      prev = cur;
    }
  }

 private:
  ChatDevice dev_;
  StoreCounters current_;
};

std::string userName(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "u%05d", i);
  return b;
}

// Raises the soft descriptor limit to what the test and the broker it starts (which inherits
// it) need; false if the hard limit does not allow it.
bool ensureDescriptors(rlim_t need) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) return false;
    rl.rlim_cur = need;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  }
  return true;
}

TEST(ChatChannel, TenThousandMembersTwoThousandOnlineOneSendNoPerMemberWrites) {
  constexpr int kMembers = 10000;          // the owner + 9,999 read-only subscribers
  constexpr int kOnline = 2000;            // users 1..2000, one device each, online at send time
  constexpr int kOfflineWithOffset = 300;  // users 2001..2300: connected once before the send
  // A send is 3 keys by design (log record, dedup entry, head); a little room for a future
  // per-message key, none for a per-member one.
  constexpr uint64_t kMaxRecordsPerSend = 5;
  // Both the test and parleyd hold one descriptor per device, plus parleyd's own files.
  ASSERT_TRUE(ensureDescriptors(kOnline + kOfflineWithOffset + 1024))
      << "RLIMIT_NOFILE hard limit too low for " << kOnline + kOfflineWithOffset << " connections";
  const auto t_test = Clock::now();

  ChatBroker broker({"--sys-interval", "1"});
  const std::string conv = "news";

  // 1. The channel, all 10,000 members in one create call (the admin API takes a member list
  // of any size up to its 1 MiB body limit: ~36 bytes per member here).
  std::vector<std::pair<std::string, std::string>> members = {{"owner", "owner"}};
  for (int i = 1; i < kMembers; ++i) members.emplace_back(userName(i), "read_only");
  auto t0 = Clock::now();
  auto created = createConversation(broker.adminPort(), conv, "channel", members);
  ASSERT_EQ(created.value("member_count", 0), kMembers) << created;
  ASSERT_EQ(created.value("kind", ""), "channel") << created;
  ASSERT_EQ(created.value("head_seq", uint64_t{0}), 1u) << "seq 1 is conversation_created";
  std::printf("[channel] created with %d members in %.0f ms\n", kMembers, msSince(t0));

  // 2. Devices that will be offline at send time but have a session whose offset (the head,
  // seq 1) was written: connect once, then leave cleanly.
  Fleet offline(broker.port());
  for (int i = kOnline + 1; i <= kOnline + kOfflineWithOffset; ++i)
    offline.add(i % 2 ? 4 : 5, "dev-" + userName(i), userName(i));
  t0 = Clock::now();
  ASSERT_TRUE(offline.connectAll(250, 60s)) << "offline sample: first connect failed";
  for (auto& d : offline.devices()) {
    EXPECT_FALSE(d.connack->session_present) << d.id;
    EXPECT_TRUE(d.msgs.empty()) << d.id << ": a new device starts at the head";
  }
  ASSERT_TRUE(offline.disconnectAll(30s))
      << "offline sample: broker did not close after DISCONNECT";
  std::printf("[channel] %d offline-sample devices connected and left in %.0f ms\n",
              kOfflineWithOffset, msSince(t0));

  // 3. 2,000 online devices of distinct members, 3.1.1 and 5.0 alternating.
  Fleet online(broker.port());
  for (int i = 1; i <= kOnline; ++i) online.add(i % 2 ? 4 : 5, "dev-" + userName(i), userName(i));
  t0 = Clock::now();
  ASSERT_TRUE(online.connectAll(250, 60s)) << "online devices: connect failed";
  std::printf("[channel] %d online devices connected in %.0f ms\n", kOnline, msSince(t0));
  for (auto& d : online.devices()) ASSERT_TRUE(d.msgs.empty()) << d.id << " got " << d.msgs.size();

  ChatDevice poster(broker.port(), 5, "owner-console", "owner", false);
  ASSERT_TRUE(poster.connect());

  // 4. Baseline with the store quiet, then ONE send. The online devices hold their PUBACKs
  // until the count is taken: an acknowledgement moves the device's offset, which is written
  // (lazily) later — per online device, never per member — and is counted separately below.
  online.autoAck(false);
  StoreStats stats(broker.port());
  const auto base = stats.settled(20s);
  ASSERT_TRUE(base) << "store never went quiet ($SYS/broker/store/records written)";

  const std::string body = "all hands: the 10,000-member channel works";
  t0 = Clock::now();
  const uint16_t send_id = poster.publish("conv/" + conv, chatSend("announce-1", body));
  // The poster and the fleet are read in turns, so each time below is taken within a few
  // milliseconds of the bytes arriving (the fleet's poll() sees every socket at once).
  std::optional<itest::Ack> ack;
  double puback_ms = -1, first_ms = -1, fanout_ms = -1;
  size_t reached = 0;
  for (const auto deadline = Clock::now() + 30s; Clock::now() < deadline;) {
    if (!ack) {
      poster.poll(0ms);
      if ((ack = poster.awaitAck(send_id, 0ms))) puback_ms = msSince(t0);
    }
    if (fanout_ms < 0) {
      reached = 0;
      for (auto& d : online.devices()) reached += d.msgs.empty() ? 0 : 1;
      if (reached > 0 && first_ms < 0) first_ms = msSince(t0);
      if (reached == size_t(kOnline)) fanout_ms = msSince(t0);
    }
    if (ack && fanout_ms >= 0) break;
    online.pump(2ms);
  }
  ASSERT_TRUE(ack) << "no PUBACK for the channel send";
  ASSERT_EQ(ack->reason, 0);
  ASSERT_EQ(pubackSeq(*ack), std::optional<uint64_t>(2));
  ASSERT_GE(fanout_ms, 0) << reached << " of " << kOnline << " online devices got the message";
  int v4 = 0, v5 = 0;
  for (auto& d : online.devices()) {
    ASSERT_EQ(d.msgs.size(), 1u) << d.id;
    const ChatMsg& m = d.msgs[0];
    ASSERT_TRUE(m.valid) << d.id;
    EXPECT_EQ(m.conv, conv) << d.id;
    EXPECT_EQ(m.seq, 2u) << d.id;
    EXPECT_EQ(m.body, body) << d.id;
    EXPECT_EQ(m.cmid, "announce-1") << d.id;
    EXPECT_EQ(m.sender_user, "owner") << d.id;
    EXPECT_EQ(m.sender_device, "owner-console") << d.id;
    EXPECT_FALSE(d.eof) << d.id;
    (d.version == 5 ? v5 : v4)++;
  }
  EXPECT_EQ(v4, kOnline / 2);
  EXPECT_EQ(v5, kOnline / 2);
  std::printf(
      "[channel] send: PUBACK after %.1f ms; first online device had seq 2 after %.1f ms, all "
      "%d after %.1f ms\n",
      puback_ms, first_ms, kOnline, fanout_ms);

  const auto after_send = stats.settled(20s);
  ASSERT_TRUE(after_send) << "store never went quiet after the send";
  const uint64_t send_records = after_send->records - base->records;
  const uint64_t send_commits = after_send->commits - base->commits;
  std::printf("[channel] store writes for the send: %llu records in %llu commits\n",
              static_cast<unsigned long long>(send_records),
              static_cast<unsigned long long>(send_commits));
  // Log record + dedup entry + head (persistence/README.md); a per-member write would be
  // thousands. Nothing else may write while the devices hold their acknowledgements.
  EXPECT_GE(send_records, 1u) << "the send was not counted at all";
  EXPECT_LE(send_records, kMaxRecordsPerSend) << "the send wrote per member or per device";
  EXPECT_LE(send_commits, 2u);

  // The acknowledgements move each online device's offset: at most one offset record per
  // online device (written lazily, group-committed), nothing for the 8,000 offline members.
  online.autoAck(true);
  online.ackHeld();
  const auto after_acks = stats.settled(20s);
  ASSERT_TRUE(after_acks) << "store never went quiet after the acknowledgements";
  const uint64_t ack_records = after_acks->records - after_send->records;
  std::printf("[channel] store writes after %d acknowledgements: %llu records in %llu commits\n",
              kOnline, static_cast<unsigned long long>(ack_records),
              static_cast<unsigned long long>(after_acks->commits - after_send->commits));
  EXPECT_LE(ack_records, uint64_t(kOnline)) << "offsets written beyond the online devices";

  // 5. The offline sample comes back: each session resumes from its stored offset (seq 1) and
  // is sent seq 2 from the log.
  Fleet returning(broker.port());
  for (auto& d : offline.devices()) returning.add(d.version, d.id, d.user);
  t0 = Clock::now();
  ASSERT_TRUE(returning.connectAll(250, 60s)) << "offline sample: reconnect failed";
  size_t caught_up = 0;
  const bool all_back = returning.pumpUntil(
      [&] {
        caught_up = 0;
        for (auto& d : returning.devices()) caught_up += d.msgs.empty() ? 0 : 1;
        return caught_up == size_t(kOfflineWithOffset);
      },
      Clock::now() + 30s);
  EXPECT_TRUE(all_back) << caught_up << " of " << kOfflineWithOffset
                        << " returning devices caught up";
  for (auto& d : returning.devices()) {
    EXPECT_TRUE(d.connack->session_present) << d.id;
    ASSERT_EQ(d.msgs.size(), 1u) << d.id;
    EXPECT_EQ(d.msgs[0].seq, 2u) << d.id;
    EXPECT_EQ(d.msgs[0].body, body) << d.id;
  }
  std::printf("[channel] %d returning devices caught up in %.0f ms\n", kOfflineWithOffset,
              msSince(t0));

  // A device that never connected before (its user was one of the 7,699 never seen) gets a new
  // session, which starts at the head (PROTOCOL.md "Offsets and offline catch-up"): the
  // message is not replayed to it, rpc/history has it, and the next message comes live.
  std::vector<std::unique_ptr<ChatDevice>> fresh;
  fresh.push_back(std::make_unique<ChatDevice>(broker.port(), 4, "dev-new-a", userName(5000)));
  fresh.push_back(
      std::make_unique<ChatDevice>(broker.port(), 5, "dev-new-b", userName(kMembers - 1)));
  for (auto& f : fresh) {
    auto c = f->connect();
    ASSERT_TRUE(c && c->code == 0) << f->device();
    EXPECT_FALSE(c->session_present) << f->device();
    prepareRpcReplies(*f);
    auto reply = f->rpc("history", historyRequest(conv, 0, 10));
    ASSERT_TRUE(expectRpcOk(*f, reply)) << f->device();
    auto page = decodeHistory(reply->payload);
    ASSERT_TRUE(page.valid) << f->device();
    EXPECT_EQ(page.head_seq, 2u);
    ASSERT_EQ(page.messages.size(), 2u) << "conversation_created + the message";
    EXPECT_EQ(page.messages[1].seq, 2u);
    EXPECT_EQ(page.messages[1].body, body);
  }
  auto ack2 = poster.send(conv, "announce-2", "second", 10s);
  ASSERT_TRUE(ack2);
  ASSERT_EQ(pubackSeq(*ack2), std::optional<uint64_t>(3));
  for (auto& f : fresh) {
    ASSERT_TRUE(f->waitMessages(conv, 1, 10s)) << f->device();
    // Messages arrive in seq order, so a replayed seq 2 would come first.
    EXPECT_EQ(f->messages(conv)[0].seq, 3u) << f->device() << ": a new device starts at the head";
    EXPECT_EQ(f->messages(conv).size(), 1u) << f->device();
  }
  // A clean shutdown with 2,300 sessions (under the sanitizers this is also the leak check).
  EXPECT_EQ(broker.stop(), 0);
  std::printf("[channel] whole test %.1f s\n", msSince(t_test) / 1000.0);
}

}  // namespace
}  // namespace chattest
