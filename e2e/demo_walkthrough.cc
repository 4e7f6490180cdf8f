#include "demo_walkthrough.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "sys.h"

namespace demo {

namespace {

constexpr size_t kWidth = 96;
constexpr auto kInterval = std::chrono::milliseconds(200);
constexpr auto kWarmUp = std::chrono::milliseconds(1200);  // connections before the change
constexpr auto kWatch = std::chrono::milliseconds(2000);   // and after it
constexpr auto kAfter = std::chrono::milliseconds(1500);   // at least, once in both kernels
constexpr auto kGrace = std::chrono::milliseconds(300);    // answers still in flight

std::string seconds(double s, int decimals = 2) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f s", decimals, s);
  return buf;
}

double secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Walkthrough::Walkthrough(const Term& term, const ExampleCluster& ex, const e2e::Cluster& cluster,
                         ControlPlane& control, const Predictor& predictor,
                         const ExternalOptions& ext, WalkOptions opt)
    : term_(term),
      ex_(ex),
      cluster_(cluster),
      control_(control),
      predictor_(predictor),
      opt_(std::move(opt)),
      groups_(flow_groups(ex, ext)),
      names_(names_of(ex, ext)) {
  for (const auto* p : ex.running()) sources_.push_back(p->key);
  total_steps_ = policy_steps().size() + 1;
}

WalkResult Walkthrough::run() {
  for (const auto& s : policy_steps()) {
    if (e2e::interrupted()) break;
    step(s);
  }
  if (!e2e::interrupted()) cut();
  return result_;
}

void Walkthrough::header(const std::string& title) {
  const size_t n = result_.steps + 1;
  say("\n" +
      term_.bold("━━━ Step " + std::to_string(n) + " of " + std::to_string(total_steps_) + ": " +
                 title + " ━━━") +
      "\n");
}

void Walkthrough::show_command(const std::string& cmd) const {
  say(term_.cyan("  $ " + cmd) + "\n");
}

void Walkthrough::show_output(const std::string& out) const {
  say(term_.dim(indent(out, "    ")));
  if (!out.empty() && out.back() != '\n') say("\n");
}

void Walkthrough::pause() const {
  if (opt_.pace > 0) std::this_thread::sleep_for(std::chrono::duration<double>(opt_.pace));
}

void Walkthrough::apply_file(const std::string& file) {
  say(term_.dim(indent(read_file(file), "    │ ")));
  show_command("kubectl apply -f " + file);
  const e2e::RunResult r = control_.kubectl({"apply", "-f", file});
  show_output(r.out + r.err);
  if (r.rc != 0) throw std::runtime_error("kubectl apply -f " + file + " failed");
}

void Walkthrough::step(const Step& s) {
  header(s.title);
  say(wrap_text(s.text, kWidth, "  "));
  if (s.file.empty()) {
    show_command("kubectl get networkpolicies -A");
    const e2e::RunResult r = control_.kubectl({"get", "networkpolicies", "-A"});
    show_output(r.out + r.err);
  } else {
    apply_file(opt_.examples + "/policies/" + s.file);
  }
  const double converged = control_.converge();
  ++result_.steps;
  if (check(s.shown, s.explained, s.file.empty() ? -1 : converged)) ++result_.agreed;
  pause();
}

void Walkthrough::show_prediction(const std::vector<const FlowGroup*>& shown,
                                  const Verdicts& predicted) {
  if (snapshots_ == 1) {
    say("  " + term_.bold("policy-dry-run predicts") + ", from what the API server holds now:\n");
    show_command("kubectl get ns,pods,netpol -A -o yaml > snapshot.yaml");
    for (const auto& cmd : predictor_.commands("snapshot.yaml", groups_)) show_command(cmd);
  } else {
    say("  " + term_.bold("policy-dry-run predicts") +
        term_.dim(" (the same commands on a new snapshot)") + ":\n");
  }
  say(indent(render(term_, shown, sources_, predicted, names_), "    "));
}

bool Walkthrough::check(const std::vector<std::string>& shown,
                        const std::vector<ExplainedFlow>& explained, double converged) {
  const std::string snapshot = opt_.workdir + "/snapshot-" + std::to_string(++snapshots_) + ".yaml";
  std::ofstream(snapshot) << control_.must_kubectl({"get", "ns,pods,netpol", "-A", "-o", "yaml"});
  std::vector<const FlowGroup*> shown_groups;
  for (const auto& id : shown) shown_groups.push_back(&group(groups_, id));
  const Verdicts predicted = predictor_.predict(snapshot, groups_, sources_);
  show_prediction(shown_groups, predicted);
  for (const auto& e : explained) {
    show_command("policy-dry-run eval -f snapshot.yaml --from " + e.from + " --to " + e.to +
                 " --port " + e.port + " --explain");
    show_output(predictor_.explain(snapshot, e.from, e.to, e.port));
  }
  const std::string rv = std::to_string(control_.resource_version());
  say(term_.dim(converged < 0
                    ? "  the agents on both nodes are in sync with the API server "
                      "(resourceVersion " +
                          rv + ")"
                    : "  the agents on both nodes had the change (resourceVersion " + rv +
                          ") in the kernel " + seconds(converged, 3) + " after kubectl returned") +
      "\n");
  const Verdicts measured = measure(cluster_, groups_, sources_, opt_.measure);
  say("  " + term_.bold("measured with real traffic") + " (" + std::to_string(measured.size()) +
      " connections from inside the pods):\n");
  say(indent(render(term_, shown_groups, sources_, measured, names_), "    "));
  result_.flows += predicted.size();
  const auto diffs = differences(predicted, measured);
  if (diffs.empty()) {
    say("  " + term_.green("they agree ✓") +
        term_.dim(" (all " + std::to_string(predicted.size()) + " flows on " +
                  std::to_string(groups_.size()) + " ports, shown or not)") +
        "\n");
    return true;
  }
  say("  " + term_.red("they differ ✗") + " on " + std::to_string(diffs.size()) + " flows:\n");
  for (const auto& d : diffs) say("    " + d + "\n");
  return false;
}

void Walkthrough::show_conntrack(const std::string& from, const ExamplePod& server) const {
  const auto& node = cluster_.nodes().at(ex_.harness_node(server.node) == "n1" ? 0 : 1);
  const std::vector<std::string> cmd = {"conntrack", "-L",          "-p", "tcp",
                                        "--state",   "ESTABLISHED", "-s", ex_.pod(from).ip,
                                        "-d",        server.ip};
  show_command("ip netns exec " + node.netns + " " + e2e::join(cmd, " "));
  const e2e::RunResult r = e2e::run(e2e::in_netns(node.netns, cmd));
  show_output(r.out + r.err);
}

void Walkthrough::show_sync_lines(const std::vector<size_t>& offsets) const {
  bool any = false;
  for (size_t i = 0; i < offsets.size(); ++i) {
    for (const auto& line : control_.agent_log_since(i, offsets[i])) {
      const std::string deleted = e2e::log_field(line, "conntrack_deleted");
      if (deleted.empty() || deleted == "0") continue;
      const std::string node = e2e::log_field(line, "node");
      say("  the agent on " + node + " logged:\n" + term_.dim(wrap_text(line, kWidth, "    ")));
      if (!any)
        say(
            wrap_text("conntrack_deleted counts every tracked connection the change denies: A, "
                      "and the closed connections of earlier probes from the shop's web pods "
                      "that conntrack still remembers for a while.",
                      kWidth, "  "));
      any = true;
    }
  }
  if (!any) say("  " + term_.yellow("no agent logged a deleted conntrack entry") + "\n");
}

bool Walkthrough::report_cut(const Session& cut, const Session& kept, Clock::time_point t0,
                             Clock::time_point t1, Clock::time_point in_kernels) {
  const auto a = cut.messages(), b = kept.messages();
  const auto stopped = first_unanswered(a);
  const size_t late = answered_since(a, in_kernels + kGrace);
  const bool a_ok = stopped && late == 0 && answered_since(a, Clock::time_point{}) > 0;
  if (a_ok) {
    result_.cut_seconds = secs(*stopped - t0);
    say("  A " + term_.green("was cut ✓") + ": no answer to its lines from " +
        seconds(result_.cut_seconds) + " after `kubectl apply` started (kubectl took " +
        seconds(secs(t1 - t0)) + "; a line every 0.2 s), " +
        std::to_string(sent_since(a, *stopped)) + " lines unanswered since\n");
  } else {
    say("  A " + term_.red("was not cut ✗") + ": " + std::to_string(late) +
        " lines answered after both agents had the change\n");
  }
  const size_t sent = sent_since(b, t0), answered = answered_since(b, t0);
  const bool b_ok = answered >= 5 && answered + 1 >= sent;  // the last one may be in flight
  say("  B " + (b_ok ? term_.green("kept flowing ✓") : term_.red("stopped ✗")) + ": " +
      std::to_string(answered) + " of the " + std::to_string(sent) +
      " lines sent since the change were answered\n");
  return a_ok && b_ok;
}

void Walkthrough::cut() {
  const CutStep& s = cut_step();
  header(s.title);
  say(wrap_text(s.text, kWidth, "  "));
  const ExamplePod& server = ex_.pod(s.server);
  Session a(cluster_.pod(s.cut_from).netns_fd, server.ip, s.port, kInterval);
  Session b(cluster_.pod(s.kept_from).netns_fd, server.ip, s.port, kInterval);
  const std::string to =
      " → " + server.key + " (" + server.node + ") port " + std::to_string(s.port) + "\n";
  say("    A  " + s.cut_from + " (" + ex_.pod(s.cut_from).node + ")" + to);
  say("    B  " + s.kept_from + " (" + ex_.pod(s.kept_from).node + ")" + to);
  a.start(), b.start();
  std::this_thread::sleep_for(kWarmUp);
  const auto before = Clock::now() - kWarmUp;
  say("  after " + seconds(secs(kWarmUp), 1) + ": A got " +
      std::to_string(answered_since(a.messages(), before)) + " answers, B " +
      std::to_string(answered_since(b.messages(), before)) + ". node-1 tracks A like this:\n");
  show_conntrack(s.cut_from, server);
  say(wrap_text(s.change_text, kWidth, "  "));
  say(term_.dim(indent(s.policy_yaml, "    │ ")));
  show_command("kubectl apply -f - <<EOF   # the policy above");
  std::vector<size_t> offsets;
  for (size_t i = 0; i < control_.agents().size(); ++i) offsets.push_back(control_.log_size(i));
  const auto t0 = Clock::now();
  const e2e::RunResult r = control_.kubectl({"apply", "-f", "-"}, s.policy_yaml);
  const auto t1 = Clock::now();
  show_output(r.out + r.err);
  if (r.rc != 0) throw std::runtime_error("kubectl apply of the narrowed policy failed");
  const double converged = control_.converge();
  const auto in_kernels = Clock::now();
  std::this_thread::sleep_until(std::max(t1 + kWatch, in_kernels + kAfter));
  show_sync_lines(offsets);
  result_.cut_ok = report_cut(a, b, t0, t1, in_kernels);
  say("  node-1 no longer tracks A (its packets are now judged, and dropped, before conntrack "
      "would keep a new entry):\n");
  show_conntrack(s.cut_from, server);
  a.stop(), b.stop();
  ++result_.steps;
  if (check(s.shown, {}, converged)) ++result_.agreed;
}

}  // namespace demo
