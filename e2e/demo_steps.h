// The demo's script: one step per policy file of examples/policies, in plain words for someone
// who has never written a NetworkPolicy, the ports each step shows, and the flows it explains.
#pragma once

#include <string>
#include <vector>

namespace demo {

struct ExplainedFlow {
  std::string from, to, port;  // as `policy-dry-run eval --from --to --port` takes them
};

struct Step {
  std::string title;
  std::string file;                // under examples/policies; empty: the step before any policy
  std::string text;                // what the policy says and why
  std::vector<std::string> shown;  // flow group ids printed ("8080/TCP", "443/TCP external")
  std::vector<ExplainedFlow> explained;  // `policy-dry-run eval --explain` after the prediction
};

const std::vector<Step>& policy_steps();

// The last step: two connections to the payments API, then the policy narrowed so that one of
// them is denied.
struct CutStep {
  std::string title;
  std::string text;
  std::string server;       // the pod both connect to: "payments/api-0"
  int port = 8080;          // served by the demo's line server in that pod
  std::string cut_from;     // its connection is denied by the change
  std::string kept_from;    // its connection stays allowed
  std::string change_text;  // what the change is
  std::string policy_yaml;  // applied with `kubectl apply -f -`
  std::vector<std::string> shown;
};

const CutStep& cut_step();

extern const char* const kIntro;
extern const char* const kLegend;

}  // namespace demo
