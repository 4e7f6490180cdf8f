#include "watch/kube_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "policy/yaml_json.h"

extern char** environ;  // NOLINT: POSIX

namespace watch {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Error config_error(const std::string& where, const std::string& message) {
  return make_error(Errc::config, where + ": " + message);
}

// Strict RFC 4648 base64 (kubeconfig *-data fields); nullopt on any invalid character.
std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = value(c);
    if (v < 0 || padding) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if (padding > 2) return std::nullopt;
  return out;
}

// One parsed kubeconfig file.
struct File {
  std::string path;
  json doc;
};

// The entry called `name` in the list `list` ("clusters", "users", "contexts") of the first
// file that has it, with the field path used in messages.
struct Found {
  const File* file = nullptr;
  const json* body = nullptr;  // the "cluster" / "user" / "context" object
  std::string where;           // "/path: users[1].user"
};

Result<Found> find_named(const std::vector<File>& files, const std::string& list,
                         const std::string& inner, const std::string& name) {
  for (const auto& f : files) {
    const auto it = f.doc.find(list);
    if (it == f.doc.end() || it->is_null()) continue;
    if (!it->is_array()) return config_error(f.path + ": " + list, "must be a list");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      const std::string where = f.path + ": " + list + "[" + std::to_string(i) + "]";
      if (!e.is_object()) return config_error(where, "must be an object");
      const auto n = e.find("name");
      if (n == e.end() || !n->is_string() || n->get<std::string>() != name) continue;
      const auto body = e.find(inner);
      if (body == e.end() || !body->is_object()) {
        return config_error(where + "." + inner, "must be an object");
      }
      return Found{&f, &*body, where + "." + inner};
    }
  }
  return config_error(list, "no entry named \"" + name + "\"");
}

// A string field; nullopt when absent, an error when present but not a string.
Result<std::optional<std::string>> string_field(const Found& f, const char* key) {
  const auto it = f.body->find(key);
  if (it == f.body->end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return config_error(f.where + "." + key, "must be a string");
  return std::optional<std::string>{it->get<std::string>()};
}

std::string resolve_path(const File& file, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(file.path).parent_path() / p).string();
}

// `<key>-data` (base64 PEM) or `<key>` (a file path); sets exactly one of pem / file.
Status pem_or_file(const Found& f, const std::string& key, std::string& pem, std::string& file) {
  auto data = string_field(f, (key + "-data").c_str());
  if (!data) return data.error();
  if (data.value()) {
    auto decoded = base64_decode(*data.value());
    if (!decoded) return config_error(f.where + "." + key + "-data", "is not valid base64");
    pem = std::move(*decoded);
    return Status::ok();
  }
  auto path = string_field(f, key.c_str());
  if (!path) return path.error();
  if (path.value()) file = resolve_path(*f.file, *path.value());
  return Status::ok();
}

Status read_cluster(const Found& f, ClientConfig& c) {
  auto server = string_field(f, "server");
  if (!server) return server.error();
  if (!server.value() || server.value()->empty()) {
    return config_error(f.where + ".server", "Required value");
  }
  c.server = *server.value();
  if (auto st = pem_or_file(f, "certificate-authority", c.ca_pem, c.ca_file); !st) return st;
  if (const auto it = f.body->find("insecure-skip-tls-verify"); it != f.body->end()) {
    if (!it->is_boolean()) {
      return config_error(f.where + ".insecure-skip-tls-verify", "must be a boolean");
    }
    c.insecure_skip_tls_verify = it->get<bool>();
  }
  auto name = string_field(f, "tls-server-name");
  if (!name) return name.error();
  c.tls_server_name = name.value().value_or("");
  return Status::ok();
}

Status read_user(const Found& f, ClientConfig& c) {
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (f.body->contains(unsupported)) {
      return config_error(f.where + "." + unsupported,
                          "not supported by nftpolicy-agent (use a token, a token file or a "
                          "client certificate)");
    }
  }
  if (auto st = pem_or_file(f, "client-certificate", c.client_cert_pem, c.client_cert_file); !st) {
    return st;
  }
  if (auto st = pem_or_file(f, "client-key", c.client_key_pem, c.client_key_file); !st) return st;
  const bool has_cert = !c.client_cert_pem.empty() || !c.client_cert_file.empty();
  const bool has_key = !c.client_key_pem.empty() || !c.client_key_file.empty();
  if (has_cert != has_key) {
    return config_error(f.where, "client-certificate and client-key must be given together");
  }
  auto token = string_field(f, "token");
  if (!token) return token.error();
  c.token = token.value().value_or("");
  auto token_file = string_field(f, "tokenFile");
  if (!token_file) return token_file.error();
  if (token_file.value()) c.token_file = resolve_path(*f.file, *token_file.value());
  return Status::ok();
}

Result<std::vector<File>> parse_files(const std::vector<std::string>& paths) {
  std::vector<File> files;
  for (const auto& path : paths) {
    auto text = read_file(path);
    if (!text) return config_error(path, "cannot read the kubeconfig file");
    auto docs = policy::yaml_to_json(*text);
    if (!docs.error.empty()) return config_error(path, docs.error);
    if (docs.docs.size() != 1 || !docs.docs[0].is_object()) {
      return config_error(path, "must hold one YAML object");
    }
    files.push_back({path, std::move(docs.docs[0])});
  }
  return files;
}

Result<std::string> context_name(const std::vector<File>& files, const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  for (const auto& f : files) {
    const auto it = f.doc.find("current-context");
    if (it == f.doc.end() || it->is_null()) continue;
    if (!it->is_string()) return config_error(f.path + ": current-context", "must be a string");
    if (!it->get<std::string>().empty()) return it->get<std::string>();
  }
  return make_error(Errc::config, "no current-context in the kubeconfig (and no --context given)");
}

std::string host_port(const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

Result<ClientConfig> in_cluster_config(const Environment& env, const std::string& sa_dir) {
  const auto host = env.find("KUBERNETES_SERVICE_HOST");
  const auto port = env.find("KUBERNETES_SERVICE_PORT");
  if (host == env.end() || host->second.empty() || port == env.end() || port->second.empty()) {
    return make_error(
        Errc::config,
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  ClientConfig c;
  c.server = "https://" + host_port(host->second, port->second);
  c.token_file = sa_dir + "/token";
  c.ca_file = sa_dir + "/ca.crt";
  if (!fs::exists(c.token_file)) {
    return make_error(Errc::config, "in-cluster: " + c.token_file +
                                        " is missing (is a service account token mounted?)");
  }
  if (!fs::exists(c.ca_file)) c.ca_file.clear();
  c.source = "in-cluster (" + c.server + ")";
  return c;
}

Result<ClientConfig> load_kubeconfig(const std::vector<std::string>& paths,
                                     const std::string& context) {
  auto files = parse_files(paths);
  if (!files) return files.error();
  auto name = context_name(files.value(), context);
  if (!name) return name.error();
  auto ctx = find_named(files.value(), "contexts", "context", name.value());
  if (!ctx) return ctx.error();
  auto cluster_name = string_field(ctx.value(), "cluster");
  if (!cluster_name) return cluster_name.error();
  auto user_name = string_field(ctx.value(), "user");
  if (!user_name) return user_name.error();
  if (!cluster_name.value()) return config_error(ctx.value().where + ".cluster", "Required value");

  ClientConfig c;
  auto cluster = find_named(files.value(), "clusters", "cluster", *cluster_name.value());
  if (!cluster) return cluster.error();
  if (auto st = read_cluster(cluster.value(), c); !st) return st.error();
  if (user_name.value() && !user_name.value()->empty()) {
    auto user = find_named(files.value(), "users", "user", *user_name.value());
    if (!user) return user.error();
    if (auto st = read_user(user.value(), c); !st) return st.error();
  }
  std::string joined;
  for (const auto& p : paths) joined += (joined.empty() ? "" : ":") + p;
  c.source = "kubeconfig " + joined + ", context " + name.value();
  return c;
}

Result<ClientConfig> resolve_config(const std::string& kubeconfig_flag, const std::string& context,
                                    const Environment& env, const std::string& sa_dir) {
  if (!kubeconfig_flag.empty()) return load_kubeconfig({kubeconfig_flag}, context);
  if (const auto it = env.find("KUBECONFIG"); it != env.end() && !it->second.empty()) {
    std::vector<std::string> files;
    std::stringstream s(it->second);
    for (std::string part; std::getline(s, part, ':');) {
      if (!part.empty() && fs::exists(part)) files.push_back(part);
    }
    if (files.empty()) return make_error(Errc::config, "no file of $KUBECONFIG exists");
    return load_kubeconfig(files, context);
  }
  if (env.count("KUBERNETES_SERVICE_HOST")) return in_cluster_config(env, sa_dir);
  if (const auto home = env.find("HOME"); home != env.end()) {
    const std::string path = home->second + "/.kube/config";
    if (fs::exists(path)) return load_kubeconfig({path}, context);
  }
  return make_error(Errc::config,
                    "no API server configuration: give --kubeconfig, set KUBECONFIG, run in a pod "
                    "(KUBERNETES_SERVICE_HOST), or use --manifests for static mode");
}

const char* to_string(Errc code) {
  switch (code) {
    case Errc::config:
      return "config";
    case Errc::connect:
      return "connect";
    case Errc::http:
      return "http";
    case Errc::expired:
      return "expired";
    case Errc::unauthorized:
      return "unauthorized";
    case Errc::forbidden:
      return "forbidden";
    case Errc::decode:
      return "decode";
    case Errc::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out = watch::to_string(code);
  if (http_status) out += " (HTTP " + std::to_string(http_status) + ")";
  return out + ": " + message;
}

}  // namespace watch
