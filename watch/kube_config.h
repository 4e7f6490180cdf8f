// Where the API server is and how to authenticate to it: from a kubeconfig file (as kubectl
// reads it) or from the in-cluster environment of a pod (service-account token, CA bundle,
// KUBERNETES_SERVICE_HOST/_PORT).
//
// Credentials held in files are read again on every request (ApiClient::credentials): the
// kubelet rotates projected service-account tokens about every hour, and a client that read
// its token once stops working when it expires.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "watch/result.h"

namespace watch {

struct ClientConfig {
  std::string server;  // "https://10.96.0.1:443"
  // TLS trust: PEM text, or a file read when the client is created. Both empty: the
  // system's trust store.
  std::string ca_pem;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // verify the server's certificate against this name instead
  // Client certificate authentication: PEM text or files.
  std::string client_cert_pem;
  std::string client_cert_file;
  std::string client_key_pem;
  std::string client_key_file;
  // Bearer token: text, or a file re-read on every request (it wins when both are set).
  std::string token;
  std::string token_file;
  std::string source;  // for logs: "kubeconfig /root/.kube/config, context kind-kind"
};

// The process environment as a map (tests pass their own).
using Environment = std::map<std::string, std::string>;
Environment process_environment();

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the
// token file and CA bundle of the pod's service account (`sa_dir`).
Result<ClientConfig> in_cluster_config(const Environment& env,
                                       const std::string& sa_dir = kServiceAccountDir);

// Reads kubeconfig files (several are merged as kubectl merges $KUBECONFIG: the first file
// that defines a name wins, the first current-context wins) and resolves `context` (empty:
// current-context). Relative file paths are relative to the file that names them. Errors
// name the file and the field (`users[0].user.client-key`).
Result<ClientConfig> load_kubeconfig(const std::vector<std::string>& files,
                                     const std::string& context = "");

// kubectl's precedence: an explicit --kubeconfig; else $KUBECONFIG (':'-separated); else
// in-cluster when KUBERNETES_SERVICE_HOST is set; else ~/.kube/config.
Result<ClientConfig> resolve_config(const std::string& kubeconfig_flag, const std::string& context,
                                    const Environment& env,
                                    const std::string& sa_dir = kServiceAccountDir);

}  // namespace watch
