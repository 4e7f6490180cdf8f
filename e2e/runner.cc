#include "runner.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

// The tasks of one probe spec towards one kind of target, all ordered pairs of distinct pods.
struct Group {
  const cases::Probe* probe = nullptr;
  bool via_service = false;
  size_t first = 0;  // index of its first task
  std::vector<cases::Pair> pairs;
};

std::string probe_label(const cases::Probe& p, bool via_service) {
  std::string out = std::to_string(p.port) + "/" + p.protocol;
  if (!p.family.empty()) out += " " + p.family;
  return out + (via_service ? " via ClusterIP" : " via pod IP");
}

ProbeTask make_task(const Cluster& cl, const std::string& from, const std::string& to,
                    const cases::Probe& p, bool via_service) {
  const PodInfo& src = cl.pod(from);
  const PodInfo& dst = cl.pod(to);
  const std::string ip = ip_of_family(dst.spec.ips, p.family);
  if (ip.empty() || ip_of_family(src.spec.ips, p.family).empty())
    throw std::runtime_error("probe " + probe_label(p, via_service) + ": " + from + " -> " + to +
                             ": a pod has no address of that family");
  size_t idx = 0;
  while (dst.spec.ips[idx] != ip) ++idx;
  return {.from_netns_fd = src.netns_fd,
          .dst_ip = via_service ? dst.service_ips[idx] : ip,
          .port = p.port,
          .protocol = p.protocol,
          .expect_reply = p.protocol == "TCP" ? to : ""};
}

// Prints the truth table and the reason of each differing pair; returns whether all agreed.
bool report_group(const std::string& case_name, const std::string& label, const Group& g,
                  const std::vector<std::string>& keys, const std::vector<ProbeOutcome>& out,
                  bool verbose) {
  std::set<cases::Pair> got;
  std::vector<std::string> diffs;
  for (size_t i = 0; i < g.pairs.size(); ++i) {
    const ProbeOutcome& o = out[g.first + i];
    const bool want_blocked = g.probe->deny.count(g.pairs[i]) > 0;
    if (!o.connected) got.insert(g.pairs[i]);
    if (o.connected == want_blocked) {
      diffs.push_back("    " + g.pairs[i].first + " -> " + g.pairs[i].second +
                      (want_blocked ? ": expected blocked, connected"
                                    : ": expected to connect, blocked (" + o.detail + ")"));
    }
  }
  if (diffs.empty() && !verbose) return true;
  std::printf("  %s / %s: %s: %zu of %zu pairs differ\n%s", case_name.c_str(), label.c_str(),
              probe_label(*g.probe, g.via_service).c_str(), diffs.size(), g.pairs.size(),
              cases::truth_table(keys, g.probe->deny, got).c_str());
  for (const auto& d : diffs) std::printf("%s\n", d.c_str());
  return diffs.empty();
}

}  // namespace

std::string file_safe(const std::string& s) {
  std::string out = s;
  for (auto& ch : out) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') ch = '_';
  }
  return out;
}

std::vector<cases::Probe> all_allowed_probes(const cases::Case& c) {
  std::set<std::pair<int, std::string>> ports;
  std::set<std::string> families;
  for (const auto& p : c.pods) {
    for (const auto& port : p.ports) {
      if (port.protocol != "SCTP") ports.emplace(port.port, port.protocol);
    }
    for (const auto& ip : p.ips) families.insert(is_v6(ip) ? "IPv6" : "IPv4");
  }
  std::vector<cases::Probe> out;
  for (const auto& [port, proto] : ports) {
    for (const auto& fam : families) {
      out.push_back({.port = port, .protocol = proto, .family = families.size() > 1 ? fam : ""});
    }
  }
  return out;
}

CheckResult Runner::check(const cases::Case& c, const std::string& label,
                          const std::vector<cases::Probe>& probes) {
  CheckResult res;
  const auto keys = c.pod_keys();
  std::vector<ProbeTask> tasks;
  std::vector<Group> groups;
  for (const auto& p : probes) {
    if (p.protocol == "SCTP") {
      std::printf("  %s / %s: %d/SCTP skipped: no SCTP sockets in this kernel\n", c.name.c_str(),
                  label.c_str(), p.port);
      ++res.skipped;
      continue;
    }
    for (bool via_service : {false, true}) {
      Group g{.probe = &p, .via_service = via_service, .first = tasks.size()};
      for (const auto& from : keys) {
        for (const auto& to : keys) {
          if (from == to) continue;  // self pairs are never judged
          tasks.push_back(make_task(cluster_, from, to, p, via_service));
          g.pairs.emplace_back(from, to);
        }
      }
      groups.push_back(std::move(g));
    }
  }
  const auto out = probe_all(tasks, opt_.prober);
  res.probes = tasks.size();
  for (const auto& g : groups) res.ok &= report_group(c.name, label, g, keys, out, opt_.verbose);
  return res;
}

void Runner::reset_nodes() const {
  for (const auto& n : cluster_.nodes()) {
    run(in_netns(n.netns, {"nft", "delete", "table", "inet", "nftpolicy"}));  // absent: fine
    run(in_netns(n.netns, {"conntrack", "-F"}));
  }
}

std::string Runner::run_agent(const cases::Case& c, size_t step,
                              const nlohmann::json& manifests) const {
  const std::string file =
      opt_.workdir + "/" + file_safe(c.name) + "-step" + std::to_string(step) + ".json";
  std::ofstream(file) << manifests.dump(1) << "\n";
  for (const auto& n : cluster_.nodes()) {
    const RunResult r =
        run(in_netns(n.netns, {opt_.agent, "--once", "--node", n.name, "--manifests", file}),
            {.timeout = opt_.agent_timeout});
    if (opt_.verbose && !(r.out + r.err).empty())
      std::printf("  agent %s: %s%s", n.name.c_str(), r.out.c_str(), r.err.c_str());
    if (r.rc != 0) {
      return "agent on " + n.name +
             (r.timed_out ? " timed out" : " exited " + std::to_string(r.rc)) + " (manifests " +
             file + "): " + r.err + r.out;
    }
  }
  return "";
}

bool Runner::run_step(const cases::Case& c, size_t i, cases::CaseState& state, CaseResult& r) {
  const cases::Step& step = c.steps[i];
  state.apply(step);
  ++r.steps;
  std::vector<cases::Probe> probes = step.probes;
  if (opt_.no_enforcer) {
    probes = all_allowed_probes(c);  // the step's policies are dropped, nothing may be blocked
  } else if (auto err = run_agent(c, i, state.manifests(step.policies)); !err.empty()) {
    r.error = "step " + step.name + ": " + err;
    return false;
  }
  if (!step.external_probes.empty()) {
    std::printf("  %s / %s: %zu external probes skipped: this harness has no external hosts\n",
                c.name.c_str(), step.name.c_str(), step.external_probes.size());
    r.skipped += step.external_probes.size();
  }
  const CheckResult chk = check(c, step.name, probes);
  r.probes += chk.probes;
  r.skipped += chk.skipped;
  return chk.ok;
}

CaseResult Runner::run_case(const cases::Case& c) {
  CaseResult r{.name = c.name};
  const auto t0 = Clock::now();
  try {
    if (!cluster_.matches(c)) cluster_.create(c);
    reset_nodes();
    cases::CaseState state(c);
    bool ok = true;
    for (size_t i = 0; i < c.steps.size() && r.error.empty() && !interrupted(); ++i)
      ok &= run_step(c, i, state, r);
    r.passed = ok && r.error.empty() && !interrupted();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace e2e
