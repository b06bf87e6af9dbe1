// TlsContext: the server's TLS settings (certificate chain, key, optional client-certificate
// verification) as an OpenSSL context that can be replaced while the broker runs (SIGHUP).
// A new connection takes the current context; connections already open keep the one they
// started with (they hold a shared_ptr to it).
//
// Threading: current() and reload() are safe from any thread.
#pragma once
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

namespace parley::net {

struct TlsOptions {
  std::string cert_file;  // PEM certificate chain, server certificate first
  std::string key_file;   // PEM private key
  std::string ca_file;    // PEM CA certificates for client certificates ("" = none asked)
  bool require_client_cert = false;
  bool cn_as_username = false;  // the verified client certificate's CN is the user name
};

class TlsContext {
 public:
  // Throws std::runtime_error when the files cannot be loaded (start-up).
  explicit TlsContext(TlsOptions options);
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // Re-reads the files; on failure keeps the current context and returns false with `error`.
  bool reload(std::string& error);
  const TlsOptions& options() const { return options_; }

 private:
  std::shared_ptr<boost::asio::ssl::context> build() const;

  TlsOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace parley::net
