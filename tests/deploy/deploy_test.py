#!/usr/bin/env python3
"""Tests of deploy/: the manifests through real kubectl, least privilege with the real agent,
and the runtime libraries of the container image.

    python3 deploy_test.py [ManifestTest | RbacTest | ImageTest ...]

- ManifestTest: every file and the kustomization go through `kubectl apply --dry-run=server`
  and `kubectl apply` against the API-server stand-in (e2e/apiserver); the objects read back
  carry the settings the agent depends on.
- RbacTest (root): the real agent runs in a throwaway network namespace against the stand-in,
  through a recording proxy (recording_proxy.py) so that only its own requests are counted,
  while kubectl adds a namespace, a pod and a policy and faults make it re-watch and relist.
  The (group, resource, verb) triples it used must equal those the ClusterRole grants.
- ImageTest: every shared library `ldd` reports for the built agent comes from a Debian
  package that the final stage of deploy/Containerfile installs (or its dependencies, or the
  base image); the COPY set of the build stage configures.

Exit code 77 when every test was skipped (ctest: SKIP_RETURN_CODE 77).
Environment: NFTPOLICY_AGENT (default build/agent/nftpolicy-agent), KUBECTL (default kubectl).
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
STANDIN = os.path.join(REPO, "e2e", "apiserver", "apiserver.py")
PROXY = os.path.join(HERE, "recording_proxy.py")
AGENT = os.environ.get("NFTPOLICY_AGENT") or os.path.join(REPO, "build", "agent", "nftpolicy-agent")
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl") or "kubectl"
NAME = "nftpolicy-agent"
LABEL = "app.kubernetes.io/name"

# Subprocesses get no proxy settings: every server here is on a loopback address.
ENV = {k: v for k, v in os.environ.items()
       if "proxy" not in k.lower() and not k.startswith("KUBERNETES_")}
ENV.pop("KUBECONFIG", None)


def run(argv: list[str], stdin: str | None = None, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=ENV, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


def wait_until(what: str, predicate, timeout: float = 15.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Server:
    """A child process that prints `ready <url>` (the stand-in, the recording proxy)."""

    def __init__(self, argv: list[str], stderr_path: str):
        self.stderr = open(stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env=ENV)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            raise AssertionError(f"{argv[0]} did not start: {line!r}; see {stderr_path}")
        self.url = line.split()[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


class Kubectl:
    def __init__(self, directory: str, kubeconfig: str, prefix: list[str] | None = None):
        self.base = [*(prefix or []), KUBECTL, "--kubeconfig", kubeconfig,
                     "--cache-dir", os.path.join(directory, "cache")]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True):
        return run([*self.base, *args], stdin=stdin, check=check)

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json").stdout)

    def raw_get(self, path: str):
        return json.loads(self("get", "--raw", path).stdout)

    def raw_post(self, path: str, body: dict):
        return self("create", "--raw", path, "-f", "-", stdin=json.dumps(body))


def manifest_files() -> list[str]:
    return sorted(os.path.join(DEPLOY, f) for f in os.listdir(DEPLOY)
                  if f.endswith(".yaml") and f != "kustomization.yaml")


# ---------------------------------------------------------------------------------------------

class ManifestTest(unittest.TestCase):
    """kubectl apply (dry run, then for real) of each file and of the kustomization."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which(KUBECTL):
            raise unittest.SkipTest("kubectl is not installed")
        cls.dir = tempfile.mkdtemp(prefix="nftpolicy-deploy-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        cls.server = Server([sys.executable, STANDIN, "--dir", cls.dir, "--exit-with-parent"],
                            os.path.join(cls.dir, "standin.log"))
        cls.addClassCleanup(cls.server.stop)
        k = cls.k = Kubectl(cls.dir, os.path.join(cls.dir, "kubeconfig"))
        cls.rendered = k("kustomize", DEPLOY).stdout
        cls.dry_runs = [k("apply", "--dry-run=server", "-f", f).stdout for f in manifest_files()]
        cls.dry_runs.append(k("apply", "--dry-run=server", "-k", DEPLOY).stdout)
        cls.after_dry_run = k("get", "-A", "ds,sa,clusterrole,clusterrolebinding", "-l",
                              f"{LABEL}={NAME}", "-o", "name").stdout
        cls.applied = k("apply", "-k", DEPLOY).stdout
        cls.reapplied = k("apply", "-k", DEPLOY).stdout
        cls.ds = k.json("get", "-n", "kube-system", f"daemonset/{NAME}")
        cls.sa = k.json("get", "-n", "kube-system", f"serviceaccount/{NAME}")
        cls.role = k.json("get", f"clusterrole/{NAME}")
        cls.binding = k.json("get", f"clusterrolebinding/{NAME}")
        cls.pod = cls.ds["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]

    def test_dry_runs_accepted_and_created_nothing(self):
        self.assertEqual(len(self.dry_runs), len(manifest_files()) + 1)
        for out in self.dry_runs:
            self.assertIn("(server dry run)", out)
        self.assertEqual(self.after_dry_run.strip(), "")

    def test_kustomization_holds_every_file(self):
        self.assertEqual(len(self.rendered.split("\n---\n")), len(manifest_files()))
        for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"):
            self.assertIn(f"kind: {kind}\n", self.rendered)

    def test_apply_creates_then_is_unchanged(self):
        self.assertEqual(self.applied.count(" created"), 4, self.applied)
        self.assertEqual(self.reapplied.count(" unchanged"), 4, self.reapplied)

    def test_labels_and_namespace(self):
        for obj in (self.ds, self.sa, self.role, self.binding):
            self.assertEqual(obj["metadata"]["labels"][LABEL], NAME, obj["kind"])
        self.assertEqual(self.ds["metadata"]["namespace"], "kube-system")
        self.assertEqual(self.sa["metadata"]["namespace"], "kube-system")
        selector = self.ds["spec"]["selector"]["matchLabels"]
        labels = self.ds["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(selector, {LABEL: NAME})
        self.assertTrue(selector.items() <= labels.items())

    def test_service_account_binding(self):
        self.assertEqual(self.pod["serviceAccountName"], NAME)
        self.assertEqual(self.binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                                   "kind": "ClusterRole", "name": NAME})
        self.assertEqual(self.binding["subjects"],
                         [{"kind": "ServiceAccount", "name": NAME, "namespace": "kube-system"}])

    def test_security_context(self):
        self.assertIs(self.pod["hostNetwork"], True)
        sc = self.container["securityContext"]
        self.assertEqual(sc["capabilities"], {"add": ["NET_ADMIN"], "drop": ["ALL"]})
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertFalse(sc.get("privileged", False))
        self.assertEqual(sc["runAsUser"], 0)
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertNotIn("volumes", self.pod)  # no hostPath, nothing written

    def test_scheduling(self):
        self.assertEqual(self.pod["priorityClassName"], "system-node-critical")
        self.assertEqual(sorted(self.pod["tolerations"], key=lambda t: t["effect"]),
                         [{"effect": "NoExecute", "operator": "Exists"},
                          {"effect": "NoSchedule", "operator": "Exists"}])
        self.assertEqual(self.ds["spec"]["updateStrategy"],
                         {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
        self.assertLessEqual(self.pod["terminationGracePeriodSeconds"], 30)

    def test_node_name_from_downward_api(self):
        env = {e["name"]: e for e in self.container["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"], {"fieldRef": {"fieldPath": "spec.nodeName"}})

    def test_probes_and_port(self):
        self.assertEqual(self.container["ports"],
                         [{"name": "metrics", "containerPort": 9745, "protocol": "TCP"}])
        self.assertIn("--listen-address=:9745", self.container["args"])
        self.assertEqual(self.container["livenessProbe"]["httpGet"],
                         {"path": "/healthz", "port": "metrics"})
        self.assertEqual(self.container["readinessProbe"]["httpGet"],
                         {"path": "/readyz", "port": "metrics"})
        annotations = self.ds["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(annotations["prometheus.io/port"], "9745")

    def test_resources(self):
        self.assertEqual(self.container["resources"],
                         {"requests": {"cpu": "50m", "memory": "64Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}})

    def test_args_are_flags_of_the_agent(self):
        if not os.access(AGENT, os.X_OK):
            self.skipTest(f"{AGENT} is not built")
        help_text = run([AGENT, "--help"]).stdout
        for arg in self.container["args"]:
            flag = arg.split("=", 1)[0]
            self.assertRegex(help_text, rf"(^|[ ,]){re.escape(flag)}\b", f"{flag} is not a flag")
        self.assertIn("NODE_NAME", help_text)


# ---------------------------------------------------------------------------------------------

def route(method: str, target: str) -> tuple[str, str, str]:
    """(api group, resource, verb) of a request, as the API server's authorizer sees it;
    ("", target path, "nonresource") for anything else."""
    url = urllib.parse.urlsplit(target)
    parts = url.path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return ("", url.path, "nonresource")
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]  # a namespaced collection: the resource is what follows the namespace
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    query = urllib.parse.parse_qs(url.query)
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method == "GET":
        verb = "get" if len(rest) > 1 else (
            "watch" if query.get("watch", [""])[-1] in ("1", "true") else "list")
    elif method == "DELETE" and len(rest) == 1:
        verb = "deletecollection"
    else:
        verb = verbs.get(method, method.lower())
    return (group, resource, verb)


def granted(role: dict) -> set[tuple[str, str, str]]:
    out = set()
    for rule in role.get("rules") or []:
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                for v in rule.get("verbs") or []:
                    out.add((g, r, v))
    return out


POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
       "spec": {"nodeName": "n1", "containers": [
           {"name": "web", "image": "registry.invalid/web",
            "ports": [{"name": "http", "containerPort": 8080}]}]}}
POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "web-from-shop", "namespace": "shop"},
          "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                   "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": "http"}]}]}}


class RbacTest(unittest.TestCase):
    """The ClusterRole grants exactly what the real agent uses."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a network namespace, CAP_NET_ADMIN for nftables)")
        for tool in (KUBECTL, "ip", "nft"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed")
        if not os.access(AGENT, os.X_OK):
            self.skipTest(f"{AGENT} is not built")
        self.dir = tempfile.mkdtemp(prefix="nftpolicy-rbac-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.ns = f"nftpolicy-deploy-{os.getpid()}"
        run(["ip", "netns", "add", self.ns])
        self.addCleanup(run, ["ip", "netns", "delete", self.ns], check=False)
        self.exec = ["ip", "netns", "exec", self.ns]
        run([*self.exec, "ip", "link", "set", "lo", "up"])
        # Bookmarks would move the agent's resourceVersions on; without them a compaction is
        # sure to be older than what every informer holds, so each of them has to relist.
        standin = Server([*self.exec, sys.executable, STANDIN, "--dir", self.dir, "--listen",
                          "127.0.0.1:0", "--bookmark-interval", "3600", "--exit-with-parent"],
                         os.path.join(self.dir, "standin.log"))
        self.addCleanup(standin.stop)
        self.requests_log = os.path.join(self.dir, "agent-requests.jsonl")
        proxy = Server([*self.exec, sys.executable, PROXY, "--upstream", standin.url,
                        "--log", self.requests_log], os.path.join(self.dir, "proxy.log"))
        self.addCleanup(proxy.stop)
        with open(os.path.join(self.dir, "kubeconfig")) as f:
            config = f.read()
        self.agent_kubeconfig = os.path.join(self.dir, "kubeconfig-agent")
        with open(self.agent_kubeconfig, "w") as f:
            f.write(config.replace(json.dumps(standin.url), json.dumps(proxy.url)))
        self.k = Kubectl(self.dir, os.path.join(self.dir, "kubeconfig"), self.exec)

    def agent_requests(self) -> list[dict]:
        try:
            with open(self.requests_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def count(self, verb: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.agent_requests():
            g, res, v = route(r["method"], r["target"])
            if v == verb:
                out[res] = out.get(res, 0) + 1
        return out

    def agent_log(self) -> str:
        with open(self.agent_log_path) as f:
            return f.read()

    def wait_log(self, what: str, pattern: str, after: int = 0) -> int:
        """Waits for `pattern` in the agent's log past offset `after`; returns the end offset."""
        def found():
            m = re.search(pattern, self.agent_log()[after:])
            return after + m.end() if m else None
        try:
            return wait_until(what, found)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- agent log ---\n{self.agent_log()}") from None

    def test_cluster_role_equals_what_the_agent_uses(self):
        k = self.k
        k("apply", "-k", DEPLOY)
        self.agent_log_path = os.path.join(self.dir, "agent.log")
        log = open(self.agent_log_path, "w")
        self.addCleanup(log.close)
        agent = subprocess.Popen([*self.exec, AGENT, "--node", "n1", "--kubeconfig",
                                  self.agent_kubeconfig, "--listen-address", ""],
                                 stdout=log, stderr=subprocess.STDOUT, env=ENV)
        self.addCleanup(lambda: agent.poll() is None and (agent.kill(), agent.wait()))
        at = self.wait_log("the first list", r"first list complete")

        # Changes arrive through the watches.
        k("create", "namespace", "shop")
        k("create", "-f", "-", stdin=json.dumps(POD))
        k("patch", "pod", "web-0", "-n", "shop", "--subresource=status", "--type=merge", "-p",
          json.dumps({"status": {"podIP": "10.244.1.10", "podIPs": [{"ip": "10.244.1.10"}],
                                 "phase": "Running"}}))
        k("create", "-f", "-", stdin=json.dumps(POLICY))
        at = self.wait_log("the pod and the policy in a sync",
                           r"cluster_pods=1 policies=1 invalid=0 .*pods=1 isolated_ingress=1 .*"
                           r"result=ok", at)
        table = run([*self.exec, "nft", "list", "table", "inet", "nftpolicy"]).stdout
        self.assertIn("10.244.1.10", table)

        # Watches cut: the informers resume with a new WATCH from their resourceVersion.
        watches = self.count("watch")
        k.raw_post("/_standin/faults", {"drop_watches": True})
        wait_until("new watches", lambda: all(
            self.count("watch").get(r, 0) > watches.get(r, 0) for r in watches))
        # History compacted past every informer's resourceVersion: 410 Gone, relist.
        lists = self.count("list")
        k("create", "configmap", "bump", "-n", "kube-system")
        k.raw_post("/_standin/faults", {"compact": True})
        k.raw_post("/_standin/faults", {"drop_watches": True})
        wait_until("relists", lambda: all(
            self.count("list").get(r, 0) > lists.get(r, 0) for r in lists))
        k("delete", "networkpolicy", "web-from-shop", "-n", "shop")
        self.wait_log("the deletion in a sync", r"cluster_pods=1 policies=0 .*result=ok", at)

        # SIGTERM: a quick exit that leaves the rules in place.
        t0 = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(10), 0, self.agent_log())
        stop_seconds = time.monotonic() - t0
        self.assertLess(stop_seconds, 5, "the agent took too long to stop on SIGTERM")
        run([*self.exec, "nft", "list", "table", "inet", "nftpolicy"])

        requests = self.agent_requests()
        self.assertTrue(requests)
        self.assertEqual({r["user_agent"].split("/")[0] for r in requests}, {NAME})
        self.assertFalse(any(r["chunked_body"] for r in requests))
        used = {route(r["method"], r["target"]) for r in requests}
        role = k.json("get", f"clusterrole/{NAME}")
        self.assertEqual(used, granted(role),
                         "the ClusterRole must grant exactly the agent's requests")

        # Cross-check against the stand-in's own classification (it counts every client).
        stats = k.raw_get("/_standin/stats")
        theirs = {(s["method"], s["resource"], s["verb"]): s["count"] for s in stats["requests"]}
        ours: dict[tuple[str, str, str], int] = {}
        for r in requests:
            key = (r["method"], *route(r["method"], r["target"])[1:])
            ours[key] = ours.get(key, 0) + 1
        for key, n in ours.items():
            self.assertGreaterEqual(theirs.get(key, 0), n, f"the stand-in saw fewer {key}")
        self.assertGreaterEqual(stats["expired_410"], 3)
        counts = {verb: self.count(verb) for verb in ("list", "watch")}
        print(f"\nagent requests: {json.dumps(counts, sort_keys=True)}; "
              f"stand-in expired_410={stats['expired_410']}; "
              f"SIGTERM to exit: {stop_seconds:.2f} s", file=sys.stderr)


# ---------------------------------------------------------------------------------------------

# What debian:12-slim already holds among the agent's libraries: libc6 is Essential, and apt
# (in the image) depends on libstdc++6 and libgcc-s1; dpkg on zlib1g.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def containerfile_stages(text: str) -> list[list[str]]:
    """The instructions of each stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines()
                                            if not l.lstrip().startswith("#")))
    stages: list[list[str]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        if line.split()[0].upper() == "FROM":
            stages.append([])
        stages[-1].append(line.strip())
    return stages


def apt_installed(stage: list[str]) -> set[str]:
    out: set[str] = set()
    for instr in stage:
        for m in re.finditer(r"apt-get install ([^&;|]*)", instr):
            out |= {w for w in m.group(1).split() if not w.startswith("-")}
    return out


def package_of(path: str) -> str | None:
    """The Debian package that ships a library, asking dpkg about each name it may have."""
    real = os.path.realpath(path)
    candidates = [path, real]
    for p in (path, real):  # merged /usr: dpkg knows one of /lib/... and /usr/lib/...
        candidates.append(p[4:] if p.startswith("/usr/lib/") else "/usr" + p)
    for c in candidates:
        p = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":")[0].strip()
    return None


def dependency_closure(packages: set[str]) -> set[str]:
    seen, todo = set(), list(packages)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Pre-Depends}, ${Depends}", pkg],
                           capture_output=True, text=True)
        for dep in re.split(r"[,|]", p.stdout):
            name = dep.strip().split(" ")[0].split(":")[0]
            if name:
                todo.append(name)
    return seen


class ImageTest(unittest.TestCase):
    """deploy/Containerfile: the runtime stage has the agent's libraries; the build stage's
    sources configure."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "Containerfile")) as f:
            cls.text = f.read()
        cls.stages = containerfile_stages(cls.text)

    def test_shape(self):
        self.assertEqual(len(self.stages), 2)
        build, final = self.stages
        self.assertEqual(build[0].split()[1:], ["debian:12", "AS", "build"])
        self.assertEqual(final[0].split()[1:], ["debian:12-slim"])
        self.assertIn("-DNFTPOLICY_TESTS=OFF -DCMAKE_BUILD_TYPE=Release", " ".join(build))
        self.assertIn("--target nftpolicy-agent", " ".join(build))
        self.assertIn("USER 0", final)
        self.assertEqual(final[-1], 'ENTRYPOINT ["/usr/local/bin/nftpolicy-agent"]')
        copies = [i for i in final if i.startswith("COPY")]
        self.assertEqual(copies, ["COPY --from=build /build/agent/nftpolicy-agent "
                                  "/usr/local/bin/nftpolicy-agent"])

    def test_build_packages_come_from_install_deps(self):
        with open(os.path.join(REPO, "scripts", "install-deps.sh")) as f:
            deps = set(re.search(r"packages=\((.*?)\)", f.read(), re.S).group(1).split())
        build = apt_installed(self.stages[0])
        self.assertTrue(build)
        self.assertEqual(build - deps, set())

    def test_runtime_libraries_are_installed(self):
        if not os.access(AGENT, os.X_OK):
            self.skipTest(f"{AGENT} is not built")
        if not shutil.which("ldd") or not shutil.which("dpkg"):
            self.skipTest("needs ldd and dpkg")
        final = apt_installed(self.stages[1])
        for pkg in final:  # real Debian 12 package names
            p = subprocess.run(["dpkg-query", "-W", pkg], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, f"{pkg}: not a package of this Debian")
        provided = dependency_closure(final) | BASE_IMAGE_PACKAGES
        linked = run(["ldd", AGENT]).stdout
        if re.search(r"lib(asan|ubsan|tsan)\.so", linked):
            self.skipTest(f"{AGENT} is a sanitizer build, not what the image builds")
        needed: dict[str, str] = {}
        for line in linked.splitlines():
            m = re.match(r"\s*(\S+) => (/\S+)", line)
            if m:
                pkg = package_of(m.group(2))
                self.assertIsNotNone(pkg, f"no package ships {m.group(2)}")
                needed[m.group(1)] = pkg
        self.assertIn("libnftnl.so.11", needed)
        missing = {lib: pkg for lib, pkg in needed.items() if pkg not in provided}
        self.assertEqual(missing, {}, "libraries of the agent that the image would lack")
        unused = final - set(needed.values())
        if unused:
            print(f"\nnote: installed in the image but not linked today: {sorted(unused)}",
                  file=sys.stderr)

    def test_copied_sources_configure(self):
        if not shutil.which("cmake"):
            self.skipTest("cmake is not installed")
        tmp = tempfile.mkdtemp(prefix="nftpolicy-image-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        for instr in self.stages[0]:
            words = instr.split()
            if words[0] != "COPY":
                continue
            what, dest = words[1:-1], words[-1]
            for w in what:
                target = os.path.join(src, w if dest in ("./", ".") else dest)
                if os.path.isdir(os.path.join(REPO, w)):
                    shutil.copytree(os.path.join(REPO, w), target)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy(os.path.join(REPO, w), target)
        m = re.search(r"cmake -S /src -B /build (.*?) &&", " ".join(self.stages[0]))
        p = run(["cmake", "-S", src, "-B", os.path.join(tmp, "build"), *shlex.split(m.group(1))],
                check=False, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


def main() -> int:
    loader = unittest.TestLoader()
    names = sys.argv[1:]
    suite = (loader.loadTestsFromNames(names, sys.modules[__name__]) if names
             else loader.loadTestsFromModule(sys.modules[__name__]))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    skipped = len(result.skipped)
    if result.testsRun == 0 or skipped == result.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
