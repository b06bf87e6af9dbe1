// The C ABI (parley_sdk.h) end to end, using nothing but its functions and plain C callbacks
// with a user pointer: two clients in a direct conversation exchange a message (seq via the
// send callback, the message via on_message), read history, list conversations and get a
// NotAuthorized error value for a conversation they are not in.
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "chat_harness.hpp"
#include "parley_sdk.h"

extern "C" int parley_c_header_check(void);

namespace sdktest {
namespace {

using namespace std::chrono_literals;

// What the C callbacks of one client record; `user`/`ctx` point here.
struct Box {
  std::mutex mu;
  std::condition_variable cv;
  int connected = -1;
  std::vector<std::pair<uint64_t, std::string>> messages;  // seq, body
  std::vector<std::string> senders;
  int send_code = -1;
  int send_reason = 0;
  uint64_t send_seq = 0;
  std::string send_cmid;
  int history_code = -1;
  std::vector<uint64_t> history_seqs;
  uint64_t history_head = 0;
  std::vector<std::string> conversations;
  bool done = false;

  template <class P>
  bool wait(P pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 15s, pred);
  }
};

void onMessage(void* user, const parley_message* m) {
  auto* b = static_cast<Box*>(user);
  std::lock_guard lock(b->mu);
  b->messages.emplace_back(m->seq,
                           std::string(reinterpret_cast<const char*>(m->body), m->body_len));
  b->senders.emplace_back(m->sender_user);
  b->cv.notify_all();
}

void onConnection(void* user, int32_t connected, int32_t, const char*) {
  auto* b = static_cast<Box*>(user);
  std::lock_guard lock(b->mu);
  b->connected = connected;
  b->cv.notify_all();
}

void onSent(void* ctx, const parley_error* err, const char*, const char* cmid, uint64_t seq) {
  auto* b = static_cast<Box*>(ctx);
  std::lock_guard lock(b->mu);
  b->send_code = err ? err->code : PARLEY_OK;
  b->send_reason = err ? err->reason_code : 0;
  b->send_seq = seq;
  b->send_cmid = cmid ? cmid : "";
  b->done = true;
  b->cv.notify_all();
}

void onHistory(void* ctx, const parley_error* err, const parley_history_page* page) {
  auto* b = static_cast<Box*>(ctx);
  std::lock_guard lock(b->mu);
  b->history_code = err ? err->code : PARLEY_OK;
  b->history_seqs.clear();
  if (page) {
    for (size_t i = 0; i < page->count; ++i) b->history_seqs.push_back(page->messages[i].seq);
    b->history_head = page->head_seq;
  }
  b->done = true;
  b->cv.notify_all();
}

void onConversations(void* ctx, const parley_error* err, const parley_conversation* list, size_t n,
                     const char*) {
  auto* b = static_cast<Box*>(ctx);
  std::lock_guard lock(b->mu);
  if (!err) {
    for (size_t i = 0; i < n; ++i) b->conversations.emplace_back(list[i].conv);
  }
  b->done = true;
  b->cv.notify_all();
}

parley_client* newClient(uint16_t port, const char* device, const char* user, Box& box) {
  parley_options o;
  parley_options_init(&o);
  o.port = port;
  o.device_id = device;
  o.user_id = user;
  o.min_reconnect_ms = 100;
  parley_callbacks cb{};
  cb.user = &box;
  cb.on_message = onMessage;
  cb.on_connection = onConnection;
  return parley_client_new(&o, &cb);
}

TEST(SdkCAbi, TwoClientsExchangeAndReadHistory) {
  ASSERT_EQ(parley_c_header_check(), 0);
  chattest::ChatBroker broker;
  chattest::createConversation(broker.adminPort(), "ab", "direct",
                               {{"alice", "member"}, {"bob", "member"}});
  Box a, b;
  parley_client* alice = newClient(broker.port(), "alice-c", "alice", a);
  parley_client* bob = newClient(broker.port(), "bob-c", "bob", b);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  ASSERT_EQ(parley_connect(alice, nullptr, nullptr), PARLEY_OK);
  ASSERT_EQ(parley_connect(bob, nullptr, nullptr), PARLEY_OK);
  ASSERT_TRUE(a.wait([&] { return a.connected == 1; }));
  ASSERT_TRUE(b.wait([&] { return b.connected == 1; }));

  const std::string body = "hello from C";
  ASSERT_EQ(parley_send(alice, "ab", reinterpret_cast<const uint8_t*>(body.data()), body.size(),
                        PARLEY_KIND_TEXT, nullptr, 0, onSent, &a),
            PARLEY_OK);
  ASSERT_TRUE(a.wait([&] { return a.done; }));
  EXPECT_EQ(a.send_code, PARLEY_OK);
  EXPECT_EQ(a.send_seq, 2u);
  EXPECT_EQ(a.send_cmid.size(), 26u);
  ASSERT_TRUE(b.wait([&] {
    for (const auto& [seq, text] : b.messages) {
      if (seq == 2 && text == body) return true;
    }
    return false;
  }));

  {
    std::lock_guard lock(b.mu);
    b.done = false;
  }
  ASSERT_EQ(parley_history(bob, "ab", 0, 10, onHistory, &b), PARLEY_OK);
  ASSERT_TRUE(b.wait([&] { return b.done; }));
  EXPECT_EQ(b.history_code, PARLEY_OK);
  EXPECT_EQ(b.history_seqs, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(b.history_head, 2u);

  {
    std::lock_guard lock(b.mu);
    b.done = false;
  }
  ASSERT_EQ(parley_conversations(bob, nullptr, 0, onConversations, &b), PARLEY_OK);
  ASSERT_TRUE(b.wait([&] { return b.done; }));
  EXPECT_EQ(b.conversations, (std::vector<std::string>{"ab"}));

  // An error value, not an exception: a conversation bob is not in.
  chattest::createConversation(broker.adminPort(), "private", "group", {{"alice", "owner"}});
  {
    std::lock_guard lock(b.mu);
    b.done = false;
  }
  ASSERT_EQ(parley_send(bob, "private", reinterpret_cast<const uint8_t*>("x"), 1, PARLEY_KIND_TEXT,
                        nullptr, 0, onSent, &b),
            PARLEY_OK);
  ASSERT_TRUE(b.wait([&] { return b.done; }));
  EXPECT_EQ(b.send_code, PARLEY_ERR_NOT_AUTHORIZED);
  EXPECT_EQ(b.send_reason, 0x87);
  EXPECT_STREQ(parley_error_name(b.send_code), "NotAuthorized");

  // Misuse is refused with a code and no callback.
  EXPECT_EQ(parley_send(nullptr, "ab", nullptr, 0, 0, nullptr, 0, onSent, &b),
            PARLEY_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(parley_history(bob, nullptr, 0, 10, onHistory, &b), PARLEY_ERR_INVALID_ARGUMENT);

  parley_client_free(alice);
  parley_client_free(bob);
}

}  // namespace
}  // namespace sdktest
