// AdminServer (admin_server.hpp): Boost.Beast async accept / read / write on one io_context.
#include "admin_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>

namespace parley::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kBodyLimit = 1 << 20;
constexpr auto kTimeout = std::chrono::seconds(30);

// One HTTP connection: read a request, answer it, repeat while keep-alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, AdminApi& api) : stream_(std::move(socket)), api_(api) {}

  void start() { read(); }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec) {
      if (ec && ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout) {
        // A malformed request or an oversized body: answer 400 once, then close.
        respond(400, R"({"error":"bad_request","message":"malformed HTTP request"})", false);
        return;
      }
      close();
      return;
    }
    const auto& req = parser_->get();
    AdminRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.body = req.body();
    const AdminResponse out = api_.handle(r);
    respond(out.status, out.body, req.keep_alive());
  }

  void respond(int status, std::string body, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(static_cast<unsigned>(status));
    res->version(11);
    res->set(http::field::server, "parleyd");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    stream_.expires_after(kTimeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) {
                          self->close();
                          return;
                        }
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  AdminApi& api_;
};

}  // namespace

struct AdminServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  AdminApi* api = nullptr;
  std::vector<std::weak_ptr<Connection>> connections;  // io thread only

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        std::fprintf(stderr, "parleyd: admin accept: %s\n", ec.message().c_str());
      } else {
        auto c = std::make_shared<Connection>(std::move(socket), *api);
        std::erase_if(connections, [](const auto& w) { return w.expired(); });
        connections.push_back(c);
        c->start();
      }
      accept();
    });
  }
};

AdminServer::AdminServer(AdminApi& api, const AdminListen& listen)
    : impl_(std::make_unique<Impl>()) {
  impl_->api = &api;
  beast::error_code ec;
  const auto address = asio::ip::make_address(listen.bind, ec);
  if (ec) throw std::runtime_error("--admin-bind: bad address '" + listen.bind + "'");
  const tcp::endpoint ep(address, listen.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("admin API: cannot listen on " + listen.bind + ":" +
                             std::to_string(listen.port) + ": " + ec.message());
  }
  if (!listen.port_file.empty()) {
    std::ofstream f(listen.port_file);
    f << port() << "\n";
    if (!f) throw std::runtime_error("cannot write --admin-port-file " + listen.port_file);
  }
}

AdminServer::~AdminServer() {
  stop();
}

uint16_t AdminServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void AdminServer::start() {
  impl_->accept();
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    for (auto& w : impl_->connections) {
      if (auto c = w.lock()) c->close();
    }
  });
  thread_.join();
}

}  // namespace parley::admin
