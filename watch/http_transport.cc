#include "watch/http_transport.h"

#include <cpprest/http_client.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <fstream>
#include <sstream>
#include <vector>

namespace watch {
namespace {

namespace http = web::http;
namespace client = web::http::client;

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// PEM text from the config: inline text wins over the file.
Result<std::string> pem(const std::string& text, const std::string& file, const char* what) {
  if (!text.empty() || file.empty()) return text;
  bool ok = false;
  std::string data = read_file(file, ok);
  if (!ok) return make_error(Errc::config, std::string("cannot read the ") + what + " " + file);
  return data;
}

// Trust exactly the configured CA bundle (like kubectl), not the system's as well.
Status trust_only(boost::asio::ssl::context& ctx, const std::string& ca) {
  X509_STORE* store = X509_STORE_new();
  if (!store) return make_error(Errc::config, "out of memory");
  SSL_CTX_set_cert_store(ctx.native_handle(), store);  // the context owns it now
  boost::system::error_code ec;
  ctx.add_certificate_authority(boost::asio::buffer(ca), ec);
  if (ec) return make_error(Errc::config, "the CA bundle is not usable PEM: " + ec.message());
  return Status::ok();
}

struct Tls {
  std::string ca;
  std::string cert;
  std::string key;
};

Status configure_tls(boost::asio::ssl::context& ctx, const Tls& tls) {
  boost::system::error_code ec;
  if (!tls.ca.empty()) {
    if (auto st = trust_only(ctx, tls.ca); !st) return st;
  }
  if (!tls.cert.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(tls.cert), ec);
    if (ec) return make_error(Errc::config, "client certificate: " + ec.message());
    ctx.use_private_key(boost::asio::buffer(tls.key), boost::asio::ssl::context::pem, ec);
    if (ec) return make_error(Errc::config, "client key: " + ec.message());
  }
  return Status::ok();
}

}  // namespace

struct HttpTransport::Impl {
  ClientConfig config;
  HttpTransportOptions options;
  Tls tls;
  std::unique_ptr<client::http_client> requests;
  std::unique_ptr<client::http_client> streams;
  pplx::cancellation_token_source cancel;
  std::atomic<bool> cancelled{false};
  std::atomic<int> tls_errors{0};

  client::http_client_config client_config(std::chrono::milliseconds timeout) {
    client::http_client_config c;
    c.set_timeout(timeout);
    c.set_validate_certificates(!config.insecure_skip_tls_verify);
    c.set_ssl_context_callback([this](boost::asio::ssl::context& ctx) {
      if (!configure_tls(ctx, tls)) ++tls_errors;  // checked once in create()
    });
    return c;
  }

  Result<http::http_request> request(const std::string& target) {
    http::http_request req(http::methods::GET);
    req.set_request_uri(web::uri(target));
    req.headers().add(http::header_names::accept, "application/json");
    req.headers().add(http::header_names::user_agent, options.user_agent);
    std::string token = config.token;
    if (!config.token_file.empty()) {
      bool ok = false;
      token = read_file(config.token_file, ok);
      if (!ok) return make_error(Errc::config, "cannot read the token file " + config.token_file);
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    }
    if (!token.empty()) req.headers().add(http::header_names::authorization, "Bearer " + token);
    return req;
  }

  Error failure(const std::exception& e) const {
    if (cancelled) return make_error(Errc::cancelled, "cancelled");
    return make_error(Errc::connect, config.server + ": " + e.what());
  }
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() {
  cancel();
}

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(const ClientConfig& config,
                                                             const HttpTransportOptions& options) {
  if (!config.tls_server_name.empty()) {
    return make_error(Errc::config, "tls-server-name is not supported");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = options;
  auto ca = pem(config.ca_pem, config.ca_file, "CA file");
  auto cert = pem(config.client_cert_pem, config.client_cert_file, "client certificate");
  auto key = pem(config.client_key_pem, config.client_key_file, "client key");
  for (const auto* r : {&ca, &cert, &key}) {
    if (!*r) return r->error();
  }
  impl->tls = Tls{ca.value(), cert.value(), key.value()};
  // Check the PEM material now rather than on the first connection.
  boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23_client);
  if (auto st = configure_tls(probe, impl->tls); !st) return st.error();
  try {
    const web::uri base(config.server);
    if (base.scheme() != "https" && base.scheme() != "http") {
      return make_error(Errc::config, "server " + config.server + ": must be an http(s) URL");
    }
    impl->requests =
        std::make_unique<client::http_client>(base, impl->client_config(options.request_timeout));
    impl->streams = std::make_unique<client::http_client>(
        base, impl->client_config(options.stream_idle_timeout));
  } catch (const std::exception& e) {
    return make_error(Errc::config, "server " + config.server + ": " + e.what());
  }
  return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(impl)));
}

Result<HttpResponse> HttpTransport::get(const std::string& target) {
  auto req = impl_->request(target);
  if (!req) return req.error();
  try {
    auto resp = impl_->requests->request(req.value(), impl_->cancel.get_token()).get();
    HttpResponse out{.status = resp.status_code(), .body = resp.extract_utf8string(true).get()};
    return out;
  } catch (const std::exception& e) {
    return impl_->failure(e);
  }
}

void set_http_threads(std::size_t n) {
  crossplat::threadpool::initialize_with_threads(n);
}

Result<HttpResponse> HttpTransport::stream(const std::string& target,
                                           const std::function<bool(std::string_view)>& on_data) {
  auto req = impl_->request(target);
  if (!req) return req.error();
  // Its own cancellation, linked to cancel(): stopping this stream early closes its
  // connection instead of leaving the client reading an endless body in the background.
  auto shared_token = impl_->cancel.get_token();
  auto local = pplx::cancellation_token_source::create_linked_source(shared_token);
  struct CancelOnExit {
    pplx::cancellation_token_source& source;
    ~CancelOnExit() { source.cancel(); }
  } cancel_on_exit{local};
  bool started = false;  // the response began: a failure now is a broken stream
  try {
    auto resp = impl_->streams->request(req.value(), local.get_token()).get();
    started = true;
    if (resp.status_code() != http::status_codes::OK) {
      return HttpResponse{.status = resp.status_code(),
                          .body = resp.extract_utf8string(true).get()};
    }
    // The body is a producer/consumer buffer the client fills chunk by chunk: take what is
    // there in one piece, or wait for the next byte when nothing is.
    auto buf = resp.body().streambuf();
    std::vector<std::uint8_t> chunk(64 * 1024);
    for (;;) {
      const std::size_t avail = buf.in_avail();
      if (avail == 0) {
        const auto c = buf.bumpc().get();
        if (c == concurrency::streams::char_traits<std::uint8_t>::eof()) break;
        const char ch = static_cast<char>(c);
        if (!on_data(std::string_view(&ch, 1))) break;
        continue;
      }
      const std::size_t n = buf.getn(chunk.data(), std::min(avail, chunk.size())).get();
      if (n == 0) break;
      if (!on_data(std::string_view(reinterpret_cast<const char*>(chunk.data()), n))) break;
    }
    if (impl_->cancelled) return make_error(Errc::cancelled, "cancelled");
    return HttpResponse{.status = 200, .body = {}};
  } catch (const std::exception& e) {
    auto error = impl_->failure(e);
    if (started && error.code == Errc::connect)
      error.message = "the stream broke: " + error.message;
    return error;
  }
}

void HttpTransport::cancel() {
  impl_->cancelled = true;
  impl_->cancel.cancel();
}

}  // namespace watch
