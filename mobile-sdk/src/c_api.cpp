// The C ABI (parley_sdk.h) over ChatClient. Each function catches everything: an exception must
// never unwind into Swift, Kotlin or C. Values handed to C callbacks are views (CView below)
// into the C++ objects of the event, alive for the duration of the callback only.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "parley/sdk/chat_client.hpp"
#include "parley_sdk.h"

using namespace parley::sdk;

struct parley_client {
  explicit parley_client(ClientOptions o, Handlers h) : client(std::move(o), std::move(h)) {}
  ChatClient client;
};

namespace {

std::string orEmpty(const char* s) {
  return s ? std::string(s) : std::string();
}

std::string bytes(const uint8_t* p, size_t n) {
  return p && n ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

const uint8_t* u8(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// An Error as a parley_error pointing into it.
struct CError {
  explicit CError(const Error& e)
      : v{static_cast<int32_t>(e.code), e.reason_code, e.message.c_str()} {}
  parley_error v;
};

// A Message as a parley_message; media and system live here too.
struct CMessage {
  explicit CMessage(const Message& m) {
    v.conv = m.conv.c_str();
    v.seq = m.seq;
    v.sender_user = m.sender_user.c_str();
    v.sender_device = m.sender_device.c_str();
    v.server_time_ms = m.server_time_ms;
    v.cmid = m.cmid.c_str();
    v.kind = static_cast<int32_t>(m.kind);
    v.body = u8(m.body);
    v.body_len = m.body.size();
    v.reply_to = m.reply_to;
    v.media = nullptr;
    v.system = nullptr;
    if (m.media) {
      const MediaRef& r = *m.media;
      media = {r.url.c_str(), r.mime.c_str(), r.size,          u8(r.sha256),      r.sha256.size(),
               r.width,       r.height,       u8(r.thumbnail), r.thumbnail.size()};
      v.media = &media;
    }
    if (m.system) {
      const SystemInfo& s = *m.system;
      system = {static_cast<int32_t>(s.event),
                s.actor.c_str(),
                s.subject.c_str(),
                static_cast<int32_t>(s.role),
                static_cast<int32_t>(s.old_role),
                s.floor_seq};
      v.system = &system;
    }
  }
  // The views point into this object: never copy or move it.
  CMessage(const CMessage&) = delete;
  CMessage& operator=(const CMessage&) = delete;
  parley_message v{};
  parley_media media{};
  parley_system_info system{};
};

std::vector<parley_member_cursor> cursors(const Receipts& r) {
  std::vector<parley_member_cursor> out;
  out.reserve(r.cursors.size());
  for (const auto& c : r.cursors) out.push_back({c.user.c_str(), c.delivered_seq, c.read_seq});
  return out;
}

Handlers handlersFor(const parley_callbacks& cb) {
  Handlers h;
  void* user = cb.user;
  if (cb.on_message) {
    h.on_message = [f = cb.on_message, user](const Message& m) {
      CMessage c(m);
      f(user, &c.v);
    };
  }
  if (cb.on_receipts) {
    h.on_receipts = [f = cb.on_receipts, user](const Receipts& r) {
      auto list = cursors(r);
      f(user, r.conv.c_str(), list.data(), list.size());
    };
  }
  if (cb.on_typing) {
    h.on_typing = [f = cb.on_typing, user](const TypingEvent& t) {
      parley_typing_event v{t.conv.c_str(), t.user.c_str(), t.device.c_str(), t.typing() ? 1 : 0};
      f(user, &v);
    };
  }
  if (cb.on_presence) {
    h.on_presence = [f = cb.on_presence, user](const Presence& p) {
      parley_presence v{p.user.c_str(), p.online ? 1 : 0, p.devices, p.last_seen_ms};
      f(user, &v);
    };
  }
  if (cb.on_connection) {
    h.on_connection = [f = cb.on_connection, user](const ConnectionEvent& e) {
      f(user, e.connected ? 1 : 0, e.session_present ? 1 : 0, e.cause.c_str());
    };
  }
  return h;
}

// Runs `body` and turns any exception into an error code: nothing may unwind into C.
template <class F>
int guarded(F&& body) {
  try {
    body();
    return PARLEY_OK;
  } catch (const std::bad_alloc&) {
    return PARLEY_ERR_REFUSED;
  } catch (...) {
    return PARLEY_ERR_INVALID_ARGUMENT;
  }
}

Completion<SendReceipt> sendDone(parley_send_cb done, void* ctx) {
  return [done, ctx](Result<SendReceipt> r) {
    if (!done) return;
    if (!r) {
      CError e(r.error());
      return done(ctx, &e.v, nullptr, nullptr, 0);
    }
    const auto& v = r.value();
    done(ctx, nullptr, v.conv.c_str(), v.cmid.c_str(), v.seq);
  };
}

Completion<void> voidDone(parley_done_cb done, void* ctx) {
  return [done, ctx](Result<void> r) {
    if (!done) return;
    if (!r) {
      CError e(r.error());
      return done(ctx, &e.v);
    }
    done(ctx, nullptr);
  };
}

}  // namespace

extern "C" {

void parley_options_init(parley_options* opts) {
  if (!opts) return;
  std::memset(opts, 0, sizeof *opts);
  const ClientOptions d;
  opts->host = "127.0.0.1";
  opts->port = d.port;
  opts->session_expiry_s = static_cast<uint32_t>(d.session_expiry.count());
  opts->keep_alive_s = static_cast<uint32_t>(d.keep_alive.count());
  opts->connect_timeout_s = static_cast<uint32_t>(d.connect_timeout.count());
  opts->min_reconnect_ms = static_cast<uint32_t>(d.min_reconnect_delay.count());
  opts->max_reconnect_ms = static_cast<uint32_t>(d.max_reconnect_delay.count());
  opts->rpc_timeout_ms = static_cast<uint32_t>(d.rpc_timeout.count());
  opts->seq_lookup_delay_ms = static_cast<uint32_t>(d.seq_lookup_delay.count());
}

parley_client* parley_client_new(const parley_options* opts, const parley_callbacks* callbacks) {
  if (!opts || !opts->device_id || !opts->user_id) return nullptr;
  try {
    ClientOptions o;
    if (opts->host) o.host = opts->host;
    if (opts->port) o.port = opts->port;
    o.server_uri = orEmpty(opts->server_uri);
    o.ca_file = orEmpty(opts->ca_file);
    o.device_id = opts->device_id;
    o.user_id = opts->user_id;
    o.password = orEmpty(opts->password);
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (opts->session_expiry_s) o.session_expiry = seconds(opts->session_expiry_s);
    if (opts->keep_alive_s) o.keep_alive = seconds(opts->keep_alive_s);
    if (opts->connect_timeout_s) o.connect_timeout = seconds(opts->connect_timeout_s);
    if (opts->min_reconnect_ms) o.min_reconnect_delay = milliseconds(opts->min_reconnect_ms);
    if (opts->max_reconnect_ms) o.max_reconnect_delay = milliseconds(opts->max_reconnect_ms);
    if (opts->rpc_timeout_ms) o.rpc_timeout = milliseconds(opts->rpc_timeout_ms);
    if (opts->seq_lookup_delay_ms) o.seq_lookup_delay = milliseconds(opts->seq_lookup_delay_ms);
    const parley_callbacks none{};
    return new parley_client(std::move(o), handlersFor(callbacks ? *callbacks : none));
  } catch (...) {
    return nullptr;
  }
}

void parley_client_free(parley_client* client) {
  try {
    delete client;
  } catch (...) {
    // ~ChatClient does not throw; nothing may escape into C even if it someday did.
  }
}

int parley_connect(parley_client* client, parley_connect_cb done, void* ctx) {
  if (!client) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    client->client.connect([done, ctx](Result<ConnectInfo> r) {
      if (!done) return;
      if (!r) {
        CError e(r.error());
        return done(ctx, &e.v, 0);
      }
      done(ctx, nullptr, r.value().session_present ? 1 : 0);
    });
  });
}

int parley_disconnect(parley_client* client, parley_done_cb done, void* ctx) {
  if (!client) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.disconnect(voidDone(done, ctx)); });
}

int parley_is_connected(const parley_client* client) {
  return client && client->client.connected() ? 1 : 0;
}

int parley_set_password(parley_client* client, const char* password) {
  if (!client) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.setPassword(orEmpty(password)); });
}

int parley_send(parley_client* client, const char* conv, const uint8_t* body, size_t body_len,
                int32_t kind, const char* cmid, uint64_t reply_to, parley_send_cb done, void* ctx) {
  if (!client || !conv || (!body && body_len)) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    OutgoingMessage m;
    m.conv = conv;
    m.body = bytes(body, body_len);
    m.kind = static_cast<MessageKind>(kind);
    m.cmid = orEmpty(cmid);
    m.reply_to = reply_to;
    client->client.send(std::move(m), sendDone(done, ctx));
  });
}

int parley_send_media(parley_client* client, const char* conv, const parley_media* media,
                      const uint8_t* caption, size_t caption_len, const char* cmid,
                      parley_send_cb done, void* ctx) {
  if (!client || !conv || !media || (!caption && caption_len)) {
    return PARLEY_ERR_INVALID_ARGUMENT;
  }
  return guarded([&] {
    OutgoingMessage m;
    m.conv = conv;
    m.kind = MessageKind::Media;
    m.body = bytes(caption, caption_len);
    m.cmid = orEmpty(cmid);
    MediaRef r;
    r.url = orEmpty(media->url);
    r.mime = orEmpty(media->mime);
    r.size = media->size;
    r.sha256 = bytes(media->sha256, media->sha256_len);
    r.width = media->width;
    r.height = media->height;
    r.thumbnail = bytes(media->thumbnail, media->thumbnail_len);
    m.media = std::move(r);
    client->client.send(std::move(m), sendDone(done, ctx));
  });
}

int parley_history(parley_client* client, const char* conv, uint64_t before_seq, uint32_t limit,
                   parley_history_cb done, void* ctx) {
  if (!client || !conv) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    client->client.history(conv, before_seq, limit, [done, ctx](Result<HistoryPage> r) {
      if (!done) return;
      if (!r) {
        CError e(r.error());
        return done(ctx, &e.v, nullptr);
      }
      const HistoryPage& p = r.value();
      // CMessage holds pointers into itself, so it stays put in a deque-like list of nodes.
      std::vector<std::unique_ptr<CMessage>> holders;
      std::vector<parley_message> list;
      holders.reserve(p.messages.size());
      list.reserve(p.messages.size());
      for (const auto& m : p.messages) {
        holders.push_back(std::make_unique<CMessage>(m));
        list.push_back(holders.back()->v);
      }
      parley_history_page v{p.conv.c_str(), list.data(), list.size(),
                            p.head_seq,     p.floor_seq, p.has_more ? 1 : 0};
      done(ctx, nullptr, &v);
    });
  });
}

int parley_conversations(parley_client* client, const char* after, uint32_t limit,
                         parley_conversations_cb done, void* ctx) {
  if (!client) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    client->client.conversations(orEmpty(after), limit, [done, ctx](Result<ConversationPage> r) {
      if (!done) return;
      if (!r) {
        CError e(r.error());
        return done(ctx, &e.v, nullptr, 0, nullptr);
      }
      const ConversationPage& p = r.value();
      std::vector<parley_conversation> list;
      list.reserve(p.conversations.size());
      for (const auto& c : p.conversations) {
        list.push_back({c.conv.c_str(), static_cast<int32_t>(c.kind), c.title.c_str(),
                        static_cast<int32_t>(c.role), c.head_seq, c.floor_seq, c.offset,
                        c.member_count, c.read_seq, c.unread});
      }
      done(ctx, nullptr, list.data(), list.size(), p.next_after.c_str());
    });
  });
}

int parley_receipts(parley_client* client, const char* conv, parley_receipts_cb done, void* ctx) {
  if (!client || !conv) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    client->client.receipts(conv, [done, ctx](Result<Receipts> r) {
      if (!done) return;
      if (!r) {
        CError e(r.error());
        return done(ctx, &e.v, nullptr, nullptr, 0);
      }
      auto list = cursors(r.value());
      done(ctx, nullptr, r.value().conv.c_str(), list.data(), list.size());
    });
  });
}

int parley_mark_read(parley_client* client, const char* conv, uint64_t seq, parley_done_cb done,
                     void* ctx) {
  if (!client || !conv) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.markRead(conv, seq, voidDone(done, ctx)); });
}

int parley_typing(parley_client* client, const char* conv, int32_t typing) {
  if (!client || !conv) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.typing(conv, typing != 0); });
}

int parley_subscribe_presence(parley_client* client, const char* user, parley_done_cb done,
                              void* ctx) {
  if (!client || !user) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.subscribePresence(user, voidDone(done, ctx)); });
}

int parley_unsubscribe_presence(parley_client* client, const char* user) {
  if (!client || !user) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.unsubscribePresence(user); });
}

int parley_set_last_seq(parley_client* client, const char* conv, uint64_t seq) {
  if (!client || !conv) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] { client->client.setLastSeq(conv, seq); });
}

int parley_new_cmid(char* buf, size_t len) {
  if (!buf || len < 27) return PARLEY_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    const std::string id = ChatClient::newCmid();
    std::memcpy(buf, id.c_str(), id.size() + 1);
  });
}

const char* parley_error_name(int32_t code) {
  if (code == PARLEY_OK) return "Ok";
  if (code < PARLEY_ERR_INVALID_ARGUMENT || code > PARLEY_ERR_CLOSED) return "Unknown";
  return errorCodeName(static_cast<ErrorCode>(code));
}

}  // extern "C"
