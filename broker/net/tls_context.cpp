#include "tls_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace parley::net {

namespace ssl = boost::asio::ssl;

TlsContext::TlsContext(TlsOptions options) : options_(std::move(options)) {
  if (options_.cert_file.empty() || options_.key_file.empty())
    throw std::runtime_error("TLS needs --tls-cert and --tls-key");
  if (options_.require_client_cert && options_.ca_file.empty())
    throw std::runtime_error("--tls-require-client-cert needs --tls-ca");
  if (options_.cn_as_username && options_.ca_file.empty())
    throw std::runtime_error("--tls-cn-as-username needs --tls-ca");
  ctx_ = build();
}

std::shared_ptr<ssl::context> TlsContext::build() const {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  try {
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->use_certificate_chain_file(options_.cert_file);
    ctx->use_private_key_file(options_.key_file, ssl::context::pem);
    if (!options_.ca_file.empty()) {
      ctx->load_verify_file(options_.ca_file);
      ssl::verify_mode mode = ssl::verify_peer;
      if (options_.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
      ctx->set_verify_mode(mode);
      // Session resumption with client certificates needs an id context.
      static const unsigned char kId[] = "parleyd";
      SSL_CTX_set_session_id_context(ctx->native_handle(), kId, sizeof kId - 1);
    } else {
      ctx->set_verify_mode(ssl::verify_none);
    }
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("TLS set-up (" + options_.cert_file + ", " + options_.key_file +
                             (options_.ca_file.empty() ? "" : ", " + options_.ca_file) +
                             "): " + e.what());
  }
  return ctx;
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

bool TlsContext::reload(std::string& error) {
  try {
    auto fresh = build();
    std::lock_guard lock(mu_);
    ctx_ = std::move(fresh);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

}  // namespace parley::net
