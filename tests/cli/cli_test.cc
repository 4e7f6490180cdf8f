// policy-dry-run as a user runs it: exit codes, output formats, error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_cli.h"

namespace {

using json = nlohmann::json;
using cli_test::dry_run;
using cli_test::shell_quote;
using cli_test::TempDir;

const std::string kExamples = shell_quote(NFTPOLICY_EXAMPLES_DIR);

constexpr const char* kSmall = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c, ports: [{name: web, containerPort: 80}, {name: dns, containerPort: 53, protocol: UDP}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{from: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: web}]}]
)";

struct Fixture : testing::Test {
  TempDir tmp;
  std::string small = shell_quote(tmp.write("small.yaml", kSmall));
};

TEST(Cli, HelpListsSubcommandsAndExitCodes) {
  const auto r = dry_run("--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* s : {"eval", "matrix", "diff", "validate", "Exit codes"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
  for (const char* sub : {"eval", "matrix", "diff", "validate", "compile"}) {
    const auto h = dry_run(std::string(sub) + " --help");
    EXPECT_EQ(h.rc, 0) << sub;
    EXPECT_NE(h.out.find("--filename"), std::string::npos) << sub;
  }
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(dry_run("").rc, 2);
  EXPECT_EQ(dry_run("frobnicate").rc, 2);
  EXPECT_EQ(dry_run("eval -f " + kExamples + " --from shop/nope --to payments/api-0 --port 80").rc,
            2);
  EXPECT_EQ(dry_run("matrix -f " + kExamples + " --port 0").rc, 2);
  EXPECT_EQ(dry_run("matrix -f " + kExamples + " --port 80 --protocol ICMP").rc, 2);
  EXPECT_EQ(dry_run("matrix -f " + kExamples + " -o xml --port 80").rc, 2);
}

// `compile` prints what a node would get; the kernel's own parser must accept it. Checked
// with `nft -c` inside a throwaway network namespace (root only): nothing is applied.
TEST(Cli, CompileOutputIsAcceptedByNft) {
  for (const char* flags : {"--node node-1", "--node node-2 --judge-node-traffic --no-counters"}) {
    SCOPED_TRACE(flags);
    const auto r = dry_run("compile -f " + kExamples + " " + flags);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("table inet nftpolicy {"), std::string::npos);
    EXPECT_NE(r.out.find("ip daddr vmap @ingress-v4"), std::string::npos);
    if (::geteuid() != 0) continue;
    TempDir tmp;
    const auto file = tmp.write("program.nft", r.out);
    const std::string ns = "npcli-" + std::to_string(::getpid());
    ASSERT_EQ(std::system(("ip netns add " + ns).c_str()), 0);
    const int rc = std::system(("ip netns exec " + ns + " nft -c -f " + shell_quote(file)).c_str());
    (void)std::system(("ip netns del " + ns).c_str());
    EXPECT_EQ(rc, 0) << r.out;
  }
  const auto json = dry_run("compile -f " + kExamples + " --node node-1 -o json");
  ASSERT_EQ(json.rc, 0);
  EXPECT_NE(json.out.find("\"isolated_ingress\": 1"), std::string::npos) << json.out;
  const auto unknown = dry_run("compile -f " + kExamples + " --node nowhere");
  EXPECT_EQ(unknown.rc, 0);
  EXPECT_NE(unknown.err.find("no pod of the input runs on node nowhere"), std::string::npos);
  EXPECT_EQ(dry_run("compile -f " + kExamples).rc, 2);  // --node is required
}

TEST_F(Fixture, EvalExitCodeIsTheVerdict) {
  EXPECT_EQ(dry_run("eval -f " + small + " --from x/b --to x/a --port 80").rc, 0);
  EXPECT_EQ(dry_run("eval -f " + small + " --from x/a --to x/a --port 81").rc, 1);
  const auto denied = dry_run("eval -f " + small + " --from x/b --to x/a --port 81");
  EXPECT_EQ(denied.rc, 1);
  EXPECT_EQ(denied.out.rfind("DENIED: x/b -> x/a TCP/81", 0), 0u) << denied.out;
}

TEST_F(Fixture, EvalJsonHasTopLevelAllowed) {
  const auto r = dry_run("eval -f " + small + " --from x/b --to x/a --port web -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["allowed"], true);
  EXPECT_EQ(j["port"], 80);
  EXPECT_EQ(j["protocol"], "TCP");
  EXPECT_EQ(j["ingress"]["isolating_policies"], json::array({"x/a-from-b"}));
  EXPECT_EQ(j["ingress"]["rules"][0]["matched"], true);
  EXPECT_EQ(j["ingress"]["rules"][0]["peer"], 0);
  EXPECT_EQ(j["egress"]["isolated"], false);
}

TEST_F(Fixture, NamedPortResolvesOnTheDestination) {
  const auto udp = dry_run("eval -f " + small + " --from x/b --to x/a --port dns -o json");
  ASSERT_EQ(udp.rc, 1) << udp.err;  // dns is UDP/53, which the policy does not admit
  EXPECT_EQ(json::parse(udp.out)["protocol"], "UDP");
  EXPECT_EQ(json::parse(udp.out)["port"], 53);
  const auto missing = dry_run("eval -f " + small + " --from x/a --to x/b --port web");
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("x/b declares no port named web"), std::string::npos) << missing.err;
}

TEST_F(Fixture, EvalAcceptsAddresses) {
  // An IP that belongs to a pod is that pod; another one is outside the cluster.
  const auto pod = dry_run("eval -f " + small + " --from 10.0.0.2 --to x/a --port 80 -o json");
  EXPECT_EQ(json::parse(pod.out)["from"]["pod"], "x/b");
  const auto ext = dry_run("eval -f " + small + " --from 192.0.2.7 --to x/a --port 80 -o json");
  EXPECT_EQ(ext.rc, 1);
  EXPECT_FALSE(json::parse(ext.out)["from"].contains("pod"));
}

TEST(Cli, ExplainOnExamplesSaysWhy) {
  const auto r =
      dry_run("eval -f " + kExamples +
              " --from shop/web-7c9d8-abcde --to payments/ledger-0 --port http --explain");
  EXPECT_EQ(r.rc, 1);
  for (const char* s :
       {"DENIED", "payments/ledger-from-api spec.ingress[0]",
        "a podSelector alone selects pods in namespace payments only",
        "payments/default-deny has no ingress rules", "ingress of payments/ledger-0 does not"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
  const auto ok = dry_run("eval -f " + kExamples +
                          " --from payments/api-0 --to 203.0.113.10 --port 443 --explain");
  EXPECT_EQ(ok.rc, 0);
  EXPECT_NE(ok.out.find("+ payments/api-egress spec.egress[1]: to[0] ipBlock 203.0.113.0/24 except "
                        "203.0.113.128/25 includes 203.0.113.10"),
            std::string::npos)
      << ok.out;
}

TEST_F(Fixture, MatrixJsonShape) {
  const auto r = dry_run("matrix -f " + small + " --port 80 --port 53 --protocol UDP -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json want = json::parse(R"({"matrices":[
    {"port":80,"protocol":"TCP","pods":["x/a","x/b"],"denied":[]},
    {"port":53,"protocol":"UDP","pods":["x/a","x/b"],"denied":[["x/b","x/a"]]}]})");
  EXPECT_EQ(json::parse(r.out), want);
}

TEST_F(Fixture, MatrixPortSlashProtocolAndTextTable) {
  const auto r = dry_run("matrix -f " + small + " --port 53/UDP");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("53/UDP\tx/a\tx/b\nx/a\t-\t.\nx/b\tX\t-\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 of 2 pairs denied"), std::string::npos);
}

TEST_F(Fixture, MatrixMarkdownAndCsv) {
  const auto md = dry_run("matrix -f " + small + " --port 53/UDP -o md");
  EXPECT_NE(md.out.find("| 53/UDP | x/a | x/b |\n| --- | --- | --- |\n| x/a | - | . |"),
            std::string::npos)
      << md.out;
  const auto csv = dry_run("matrix -f " + small + " --port 53/UDP -o csv");
  EXPECT_EQ(csv.out, "53/UDP,x/a,x/b\nx/a,-,.\nx/b,X,-\n");
}

TEST_F(Fixture, MatrixFromStdin) {
  const auto from_file = dry_run("matrix -f " + small + " --port 80 -o json");
  TempDir t2;
  const auto out_file = t2.write("out", "");
  const std::string cmd = "cat " + small + " | " + shell_quote(POLICY_DRY_RUN) +
                          " matrix -f - --port 80 -o json > " + shell_quote(out_file);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out_file);
  const std::string out((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(json::parse(out), json::parse(from_file.out));
}

TEST_F(Fixture, InvalidInputNamesFileDocumentAndField) {
  const auto bad = tmp.write("bad.yaml", std::string(kSmall) + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]
)");
  const auto r = dry_run("matrix -f " + shell_quote(bad) + " --port 80");
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("bad.yaml, document 4: NetworkPolicy x/broken: "
                       "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "
                       "\"11.0.0.0/16\": must be a strict subset of `cidr`"),
            std::string::npos)
      << r.err;
  // --skip-invalid reports and leaves the object out.
  const auto skipped =
      dry_run("matrix -f " + shell_quote(bad) + " --port 80 --skip-invalid -o json");
  EXPECT_EQ(skipped.rc, 0);
  EXPECT_NE(skipped.err.find("x/broken"), std::string::npos);
  const auto v = dry_run("validate -f " + shell_quote(bad));
  EXPECT_EQ(v.rc, 1);
  EXPECT_NE(v.out.find("1 error(s)"), std::string::npos) << v.out;
}

TEST(Cli, MissingFileExitsThree) {
  const auto r = dry_run("matrix -f /nonexistent/nftpolicy.yaml --port 80");
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("/nonexistent/nftpolicy.yaml: no such file or directory"), std::string::npos)
      << r.err;
}

TEST(Cli, ValidateExamplesIsClean) {
  const auto r = dry_run("validate -f " + kExamples + " --warnings-as-errors -o json");
  EXPECT_EQ(r.rc, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["errors"].size(), 0u);
  EXPECT_EQ(j["warnings"].size(), 0u) << j["warnings"].dump(2);
}

TEST_F(Fixture, ValidateWarnsAndWarningsAsErrors) {
  const auto path = tmp.write("lint.yaml", std::string(kSmall) + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: nobody, namespace: x}
spec:
  podSelector: {matchLabels: {app: ghost}}
)");
  const auto r = dry_run("validate -f " + shell_quote(path));
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("warning: NetworkPolicy x/nobody: spec.podSelector: selects no pod"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(dry_run("validate -f " + shell_quote(path) + " --warnings-as-errors").rc, 1);
}

TEST_F(Fixture, DiffListsChangedFlows) {
  EXPECT_EQ(dry_run("diff -f " + small + " --with " + small).rc, 0);
  const auto opened = tmp.write(
      "open.yaml",
      std::string(kSmall).substr(0, std::string(kSmall).find("---\napiVersion: networking")));
  const auto r = dry_run("diff -f " + small + " --with " + shell_quote(opened) + " -o json");
  EXPECT_EQ(r.rc, 1) << r.err;
  const json j = json::parse(r.out);
  // Without the policy x/a is no longer isolated: only b->a on 53/UDP (not admitted before)
  // changes; b->a on 80/TCP (named port web) was already allowed.
  ASSERT_EQ(j["changes"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["changes"][0]["from"], "x/b");
  EXPECT_EQ(j["changes"][0]["to"], "x/a");
  EXPECT_EQ(j["changes"][0]["port"], 53);
  EXPECT_EQ(j["changes"][0]["before"], "denied");
  EXPECT_EQ(j["changes"][0]["after"], "allowed");
  const auto text = dry_run("diff -f " + small + " --with " + shell_quote(opened));
  EXPECT_NE(text.out.find("x/b\tx/a\t53/UDP\tdenied\tallowed"), std::string::npos) << text.out;
}

}  // namespace
