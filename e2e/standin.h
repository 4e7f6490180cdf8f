// The kube-apiserver stand-in (e2e/apiserver/apiserver.py) as the cluster's control plane: it
// runs inside node n1's namespace on the underlay address, so both nodes' agents reach it
// like a real API server, and kubectl runs next to it. Its control API (/_standin/...) gives
// the current resourceVersion and injects faults.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sys.h"

namespace e2e {

struct StandInOptions {
  std::string script;  // apiserver.py
  std::string python = "python3";
  std::string kubectl = "kubectl";
  std::string dir;                    // --dir: kubeconfig, token, certificates; kubectl's cache
  std::string state;                  // --state file: objects kept across a restart
  std::string netns;                  // the namespace it runs in (node n1)
  std::string host = "192.168.77.1";  // n1's underlay address
  int port = 6443;
  double bookmark_interval = 0.2;
  bool verbose = false;  // print every kubectl command
};

class StandIn {
 public:
  StandIn(Janitor& janitor, StandInOptions opt);
  ~StandIn();
  StandIn(const StandIn&) = delete;
  StandIn& operator=(const StandIn&) = delete;

  // Starts it and waits for its "ready" line (throws with its log if it does not come).
  void start();
  // SIGTERM (it writes its --state) and wait; no-op when not running.
  void stop();
  bool running() const { return pid_ > 0; }

  // The control API; throws on a transport error or a non-2xx answer.
  nlohmann::json control(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr) const;
  nlohmann::json faults(const nlohmann::json& spec) const {
    return control("POST", "/_standin/faults", spec);
  }
  std::uint64_t resource_version() const;

  // kubectl from inside n1 with the stand-in's kubeconfig and its own cache dir.
  RunResult try_kubectl(const std::vector<std::string>& args) const;
  std::string kubectl(const std::vector<std::string>& args) const;  // throws on failure

  std::string kubeconfig() const { return opt_.dir + "/kubeconfig"; }
  std::string ca_file() const { return opt_.dir + "/ca.crt"; }
  const std::string& log() const { return log_; }
  // Seconds spent in kubectl, and the number of calls (the harness's own overhead).
  double kubectl_seconds() const { return kubectl_seconds_; }
  size_t kubectl_calls() const { return kubectl_calls_; }

 private:
  Janitor& janitor_;
  StandInOptions opt_;
  std::string log_;
  int netns_fd_ = -1;  // for the control API's requests
  pid_t pid_ = -1;
  mutable double kubectl_seconds_ = 0;
  mutable size_t kubectl_calls_ = 0;
};

}  // namespace e2e
