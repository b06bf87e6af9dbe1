/* parley_sdk.h — the C ABI of the Parley chat SDK, for Swift, Kotlin (JNI/JNA/Panama) and any
 * other language that can call C. It wraps parley::sdk::ChatClient (parley/sdk/chat_client.hpp);
 * mobile-sdk/README.md explains the behaviour, docs/PROTOCOL.md the wire protocol.
 *
 * Rules of this ABI:
 * - A client is an opaque handle from parley_client_new(), freed with parley_client_free().
 * - No C++ type or exception crosses it. Strings are NUL-terminated UTF-8; bodies are byte
 *   ranges (pointer + length). Everything passed in is copied before the call returns.
 * - Pointers handed to a callback (messages, pages, error messages) are valid only during that
 *   callback: copy what you keep.
 * - Every callback runs on the client's callback thread, one at a time, in event order. Do not
 *   block in one, and do not call parley_client_free() from one.
 * - An operation function returns 0 when accepted; its completion callback (if not NULL) then
 *   runs exactly once, with err == NULL on success. A non-zero return (PARLEY_ERR_INVALID_ARGUMENT
 *   for a NULL client or a NULL required string) means nothing happened and no callback runs.
 */
#ifndef PARLEY_SDK_H
#define PARLEY_SDK_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PARLEY_SDK_API __attribute__((visibility("default")))
#else
#define PARLEY_SDK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: the values of parley::sdk::ErrorCode. */
enum {
  PARLEY_OK = 0,
  PARLEY_ERR_INVALID_ARGUMENT = 1,
  PARLEY_ERR_NOT_AUTHORIZED = 2,     /* 0x87: not a member, read-only, no such conversation */
  PARLEY_ERR_INVALID_PAYLOAD = 3,    /* 0x99 */
  PARLEY_ERR_SERVER_UNAVAILABLE = 4, /* 0x88: retry later with the same cmid */
  PARLEY_ERR_QUOTA_EXCEEDED = 5,     /* 0x97 */
  PARLEY_ERR_REFUSED = 6,            /* another MQTT refusal: see reason_code */
  PARLEY_ERR_NOT_FOUND = 7,
  PARLEY_ERR_BAD_REQUEST = 8,
  PARLEY_ERR_TIMEOUT = 9,
  PARLEY_ERR_CONNECT_FAILED = 10,
  PARLEY_ERR_PROTOCOL = 11,
  PARLEY_ERR_CLOSED = 12
};

/* Message kinds (schema/chat.fbs Kind). */
enum {
  PARLEY_KIND_TEXT = 0,
  PARLEY_KIND_MEDIA = 1,
  PARLEY_KIND_SYSTEM = 2,
  PARLEY_KIND_CUSTOM = 3
};

/* System events (schema/chat.fbs SystemEvent). */
enum {
  PARLEY_SYSTEM_CONVERSATION_CREATED = 0,
  PARLEY_SYSTEM_MEMBER_ADDED = 1,
  PARLEY_SYSTEM_MEMBER_REMOVED = 2,
  PARLEY_SYSTEM_ROLE_CHANGED = 3,
  PARLEY_SYSTEM_HISTORY_TRIMMED = 4
};

/* Roles and conversation kinds (schema/chat.fbs). */
enum {
  PARLEY_ROLE_MEMBER = 0,
  PARLEY_ROLE_ADMIN = 1,
  PARLEY_ROLE_OWNER = 2,
  PARLEY_ROLE_READ_ONLY = 3
};
enum { PARLEY_CONV_DIRECT = 0, PARLEY_CONV_GROUP = 1, PARLEY_CONV_CHANNEL = 2 };

typedef struct parley_client parley_client;

typedef struct parley_error {
  int32_t code;        /* PARLEY_ERR_* */
  int32_t reason_code; /* the MQTT 5 reason code when the broker gave one, else 0 */
  const char* message;
} parley_error;

typedef struct parley_media {
  const char* url;
  const char* mime;
  uint64_t size;
  const uint8_t* sha256; /* sha256_len bytes (32 or 0) */
  size_t sha256_len;
  uint32_t width, height;
  const uint8_t* thumbnail;
  size_t thumbnail_len;
} parley_media;

typedef struct parley_system_info {
  int32_t event; /* PARLEY_SYSTEM_* */
  const char* actor;
  const char* subject;
  int32_t role, old_role; /* PARLEY_ROLE_* */
  uint64_t floor_seq;     /* HISTORY_TRIMMED: the oldest seq still kept */
} parley_system_info;

typedef struct parley_message {
  const char* conv;
  uint64_t seq; /* 0 only for a HISTORY_TRIMMED notice */
  const char* sender_user;
  const char* sender_device;
  int64_t server_time_ms;
  const char* cmid;
  int32_t kind; /* PARLEY_KIND_* */
  const uint8_t* body;
  size_t body_len;
  uint64_t reply_to;
  const parley_media* media;        /* NULL if none */
  const parley_system_info* system; /* NULL unless kind == PARLEY_KIND_SYSTEM */
} parley_message;

typedef struct parley_history_page {
  const char* conv;
  const parley_message* messages; /* ascending seq */
  size_t count;
  uint64_t head_seq;
  uint64_t floor_seq;
  int32_t has_more;
} parley_history_page;

typedef struct parley_conversation {
  const char* conv;
  int32_t kind; /* PARLEY_CONV_* */
  const char* title;
  int32_t role; /* the caller's PARLEY_ROLE_* */
  uint64_t head_seq;
  uint64_t floor_seq;
  uint64_t offset; /* this device's acknowledged offset */
  uint32_t member_count;
  uint64_t read_seq;
  uint64_t unread;
} parley_conversation;

typedef struct parley_member_cursor {
  const char* user;
  uint64_t delivered_seq;
  uint64_t read_seq;
} parley_member_cursor;

typedef struct parley_typing_event {
  const char* conv;
  const char* user;
  const char* device;
  int32_t typing; /* 1 typing, 0 stopped */
} parley_typing_event;

typedef struct parley_presence {
  const char* user;
  int32_t online;
  uint32_t devices;
  int64_t last_seen_ms;
} parley_presence;

/* Event callbacks; `user` is parley_callbacks.user. Any of them may be NULL. */
typedef struct parley_callbacks {
  void* user;
  void (*on_message)(void* user, const parley_message* msg);
  void (*on_receipts)(void* user, const char* conv, const parley_member_cursor* cursors,
                      size_t count);
  void (*on_typing)(void* user, const parley_typing_event* ev);
  void (*on_presence)(void* user, const parley_presence* p);
  void (*on_connection)(void* user, int32_t connected, int32_t session_present, const char* cause);
} parley_callbacks;

/* Options. parley_options_init() fills the defaults; a zero numeric field means "default". */
typedef struct parley_options {
  const char* host;       /* default "127.0.0.1" */
  uint16_t port;          /* default 1883 */
  const char* server_uri; /* overrides host/port, e.g. "ssl://chat.example.com:8883" */
  const char* ca_file;    /* PEM trust store for ssl:// */
  const char* device_id;  /* required: the MQTT client id */
  const char* user_id;    /* required: the MQTT user name */
  const char* password;   /* the JWT, or NULL */
  uint32_t session_expiry_s;
  uint32_t keep_alive_s;
  uint32_t connect_timeout_s;
  uint32_t min_reconnect_ms;
  uint32_t max_reconnect_ms;
  uint32_t rpc_timeout_ms;
  uint32_t seq_lookup_delay_ms;
} parley_options;

/* Completion callbacks; `ctx` is the pointer passed with the operation. err is NULL on success. */
typedef void (*parley_done_cb)(void* ctx, const parley_error* err);
typedef void (*parley_connect_cb)(void* ctx, const parley_error* err, int32_t session_present);
typedef void (*parley_send_cb)(void* ctx, const parley_error* err, const char* conv,
                               const char* cmid, uint64_t seq);
typedef void (*parley_history_cb)(void* ctx, const parley_error* err,
                                  const parley_history_page* page);
typedef void (*parley_conversations_cb)(void* ctx, const parley_error* err,
                                        const parley_conversation* conversations, size_t count,
                                        const char* next_after);
typedef void (*parley_receipts_cb)(void* ctx, const parley_error* err, const char* conv,
                                   const parley_member_cursor* cursors, size_t count);

PARLEY_SDK_API void parley_options_init(parley_options* opts);

/* A new client (not connected). NULL if opts or a required field is NULL. `callbacks` may be
 * NULL; it is copied. */
PARLEY_SDK_API parley_client* parley_client_new(const parley_options* opts,
                                                const parley_callbacks* callbacks);
/* Disconnects, completes pending operations with PARLEY_ERR_CLOSED (their callbacks run before
 * this returns) and frees the client. NULL is ignored. */
PARLEY_SDK_API void parley_client_free(parley_client* client);

PARLEY_SDK_API int parley_connect(parley_client* client, parley_connect_cb done, void* ctx);
PARLEY_SDK_API int parley_disconnect(parley_client* client, parley_done_cb done, void* ctx);
PARLEY_SDK_API int parley_is_connected(const parley_client* client);
PARLEY_SDK_API int parley_set_password(parley_client* client, const char* password);

/* Sends body[0..body_len) to conv with kind PARLEY_KIND_TEXT/CUSTOM (media: use
 * parley_send_media). cmid NULL or "" = a fresh one; pass an earlier cmid to retry a message. */
PARLEY_SDK_API int parley_send(parley_client* client, const char* conv, const uint8_t* body,
                               size_t body_len, int32_t kind, const char* cmid, uint64_t reply_to,
                               parley_send_cb done, void* ctx);
PARLEY_SDK_API int parley_send_media(parley_client* client, const char* conv,
                                     const parley_media* media, const uint8_t* caption,
                                     size_t caption_len, const char* cmid, parley_send_cb done,
                                     void* ctx);
PARLEY_SDK_API int parley_history(parley_client* client, const char* conv, uint64_t before_seq,
                                  uint32_t limit, parley_history_cb done, void* ctx);
PARLEY_SDK_API int parley_conversations(parley_client* client, const char* after, uint32_t limit,
                                        parley_conversations_cb done, void* ctx);
/* Every member's delivered/read cursors of one conversation (rpc/receipts). */
PARLEY_SDK_API int parley_receipts(parley_client* client, const char* conv, parley_receipts_cb done,
                                   void* ctx);
PARLEY_SDK_API int parley_mark_read(parley_client* client, const char* conv, uint64_t seq,
                                    parley_done_cb done, void* ctx);
PARLEY_SDK_API int parley_typing(parley_client* client, const char* conv, int32_t typing);
PARLEY_SDK_API int parley_subscribe_presence(parley_client* client, const char* user,
                                             parley_done_cb done, void* ctx);
PARLEY_SDK_API int parley_unsubscribe_presence(parley_client* client, const char* user);
PARLEY_SDK_API int parley_set_last_seq(parley_client* client, const char* conv, uint64_t seq);

/* Writes a fresh cmid (26 characters + NUL) into buf; returns 0, or PARLEY_ERR_INVALID_ARGUMENT
 * if buf is NULL or len < 27. */
PARLEY_SDK_API int parley_new_cmid(char* buf, size_t len);
/* "NotAuthorized", … for a PARLEY_ERR_* code (a static string). */
PARLEY_SDK_API const char* parley_error_name(int32_t code);

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_SDK_H */
