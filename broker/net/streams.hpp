// Byte streams a client connection can run over, as small policy classes for ConnectionT<Io>:
// plain TCP, TLS, MQTT over WebSocket (RFC 6455, MQTT 5.0 chapter 6) and WebSocket over TLS.
// Each offers the same four operations — handshake, readSome, write, close — so ConnectionT is
// compiled once per stream type with no virtual call or extra copy on the plain TCP path.
//
// WebSocket: the stream is treated as a byte stream. MQTT packets may be split across or
// packed into binary messages in either direction (6.0 allows both); the codec reassembles them
// exactly as on TCP. A text frame closes the connection (6.0: binary frames only).
//
// Threading: used only on the connection's thread; the objects are bound to its io_context.
#pragma once
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "endpoint.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

namespace detail {

inline void closeSocket(tcp::socket& s) {
  error_code ignored;
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

// After a TLS handshake: the verified client certificate's CN, if asked for.
inline void certificateUser(SSL* ssl, bool cn_as_username, PeerInfo& info) {
  if (!cn_as_username) return;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    char cn[256];
    const int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0) info.cert_user = std::string(cn, static_cast<size_t>(n));
  }
  X509_free(cert);
}

}  // namespace detail

// Plain TCP. The only stream whose state is all in the kernel, so it can change threads by
// handing over its file descriptor.
class TcpIo {
 public:
  static constexpr bool kMovable = true;
  static constexpr const char* kName = "mqtt";
  explicit TcpIo(tcp::socket s) : s_(std::move(s)) {
    error_code ignored;
    s_.set_option(tcp::no_delay(true), ignored);
  }
  template <class H>
  void handshake(PeerInfo&, H&& h) {
    h(error_code{});
  }
  template <class H>
  void readSome(uint8_t* p, size_t n, H&& h) {
    s_.async_read_some(asio::buffer(p, n), std::forward<H>(h));
  }
  template <class H>
  void write(const uint8_t* p, size_t n, H&& h) {
    asio::async_write(s_, asio::buffer(p, n), std::forward<H>(h));
  }
  void close() { detail::closeSocket(s_); }
  tcp::socket& socket() { return s_; }

 private:
  tcp::socket s_;
};

// TLS 1.2/1.3 over TCP. Holds the context it was created with, so a reload does not pull it
// from under an open connection.
class TlsIo {
 public:
  static constexpr bool kMovable = false;
  static constexpr const char* kName = "mqtts";
  TlsIo(tcp::socket s, std::shared_ptr<ssl::context> ctx, bool cn_as_username)
      : ctx_(std::move(ctx)), s_(std::move(s), *ctx_), cn_as_username_(cn_as_username) {
    error_code ignored;
    s_.lowest_layer().set_option(tcp::no_delay(true), ignored);
  }
  template <class H>
  void handshake(PeerInfo& info, H h) {
    s_.async_handshake(ssl::stream_base::server,
                       [this, &info, h = std::move(h)](const error_code& ec) mutable {
                         if (!ec)
                           detail::certificateUser(s_.native_handle(), cn_as_username_, info);
                         h(ec);
                       });
  }
  template <class H>
  void readSome(uint8_t* p, size_t n, H&& h) {
    s_.async_read_some(asio::buffer(p, n), std::forward<H>(h));
  }
  template <class H>
  void write(const uint8_t* p, size_t n, H&& h) {
    asio::async_write(s_, asio::buffer(p, n), std::forward<H>(h));
  }
  void close() { detail::closeSocket(s_.next_layer()); }

 private:
  std::shared_ptr<ssl::context> ctx_;
  ssl::stream<tcp::socket> s_;
  bool cn_as_username_;
};

// MQTT over WebSocket, over TCP (Next = tcp::socket) or TLS (Next = ssl::stream<tcp::socket>).
// The HTTP upgrade must ask for path /mqtt and offer the subprotocol "mqtt".
template <class Next>
class WsIoT {
 public:
  static constexpr bool kTls = !std::is_same_v<Next, tcp::socket>;
  static constexpr bool kMovable = false;
  static constexpr const char* kName = kTls ? "wss" : "ws";

  explicit WsIoT(tcp::socket s) requires(!kTls) : ws_(std::move(s)) { init(); }
  WsIoT(tcp::socket s, std::shared_ptr<ssl::context> ctx, bool cn_as_username) requires(kTls)
      : ctx_(std::move(ctx)), ws_(std::move(s), *ctx_), cn_as_username_(cn_as_username) {
    init();
  }

  template <class H>
  void handshake(PeerInfo& info, H h) {
    if constexpr (kTls) {
      ws_.next_layer().async_handshake(
          ssl::stream_base::server, [this, &info, h = std::move(h)](const error_code& ec) mutable {
            if (ec) return h(ec);
            detail::certificateUser(ws_.next_layer().native_handle(), cn_as_username_, info);
            upgrade(std::move(h));
          });
    } else {
      upgrade(std::move(h));
    }
  }
  template <class H>
  void readSome(uint8_t* p, size_t n, H h) {
    ws_.async_read_some(asio::buffer(p, n),
                        [this, h = std::move(h)](error_code ec, size_t got) mutable {
                          if (!ec && ws_.got_text()) {
                            std::fprintf(stderr,
                                         "parleyd: WebSocket text frame (MQTT needs binary "
                                         "frames); closing\n");
                            ec = make_error_code(boost::system::errc::protocol_error);
                          }
                          h(ec, got);
                        });
  }
  template <class H>
  void write(const uint8_t* p, size_t n, H&& h) {
    ws_.async_write(asio::buffer(p, n), std::forward<H>(h));
  }
  // Closing the TCP connection under the WebSocket is enough: the MQTT DISCONNECT (or the
  // refusing CONNACK) has been written already.
  void close() { detail::closeSocket(beast::get_lowest_layer(ws_)); }

 private:
  struct Upgrade {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
  };

  void init() {
    error_code ignored;
    beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ignored);
    ws_.binary(true);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, "mqtt");
      res.set(http::field::server, "parleyd");
    }));
  }

  static bool offersMqtt(beast::string_view protocols) {
    while (!protocols.empty()) {
      const size_t comma = protocols.find(',');
      beast::string_view item = protocols.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item == "mqtt") return true;
      if (comma == beast::string_view::npos) break;
      protocols.remove_prefix(comma + 1);
    }
    return false;
  }

  template <class H>
  void upgrade(H h) {
    up_ = std::make_unique<Upgrade>();
    http::async_read(ws_.next_layer(), up_->buffer, up_->request,
                     [this, h = std::move(h)](const error_code& ec, size_t) mutable {
                       if (ec) return h(ec);
                       auto& req = up_->request;
                       const beast::string_view target = req.target();
                       const beast::string_view path = target.substr(0, target.find('?'));
                       if (!websocket::is_upgrade(req) || path != "/mqtt") {
                         return refuse(http::status::not_found,
                                       "MQTT over WebSocket is served at /mqtt\n", std::move(h));
                       }
                       if (!offersMqtt(req[http::field::sec_websocket_protocol])) {
                         return refuse(http::status::bad_request,
                                       "the WebSocket subprotocol must be mqtt\n", std::move(h));
                       }
                       ws_.async_accept(req, [this, h = std::move(h)](const error_code& e) mutable {
                         up_.reset();
                         h(e);
                       });
                     });
  }

  template <class H>
  void refuse(http::status status, const char* why, H h) {
    auto& res = up_->response;
    res.result(status);
    res.version(up_->request.version());
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(false);
    res.body() = why;
    res.prepare_payload();
    http::async_write(ws_.next_layer(), res, [h = std::move(h)](const error_code&, size_t) mutable {
      h(make_error_code(boost::system::errc::protocol_error));
    });
  }

  std::shared_ptr<ssl::context> ctx_;  // kTls only
  websocket::stream<Next> ws_;
  bool cn_as_username_ = false;
  std::unique_ptr<Upgrade> up_;  // during the HTTP upgrade only
};

using WsIo = WsIoT<tcp::socket>;
using WssIo = WsIoT<ssl::stream<tcp::socket>>;

}  // namespace parley::net
