"""Tests of the kube-apiserver stand-in: the real kubectl for what kubectl does, raw HTTP for
watches, pagination, 410s and faults. Every test starts its own server in a temp dir.

    cd e2e/apiserver && python3 -m unittest -v test_apiserver
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
KUBECTL = shutil.which("kubectl")
OPENSSL = shutil.which("openssl")


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


class Server:
    """One stand-in process, stopped by the test's cleanups."""

    def __init__(self, test: unittest.TestCase, *args: str, tls: bool = False,
                 tmp: str | None = None):
        """tmp: the temp dir of an earlier server, to start again in its --dir."""
        if tmp is None:
            tmp = tempfile.mkdtemp(prefix="standin-test-")
            test.addCleanup(shutil.rmtree, tmp, True)
        self.tmp = tmp
        self.dir = os.path.join(self.tmp, "d")
        cmd = [sys.executable, os.path.join(HERE, "apiserver.py"), "--dir", self.dir,
               "--exit-with-parent", *args, *(["--tls"] if tls else [])]
        self.stderr = open(os.path.join(self.tmp, "stderr"), "a")
        test.addCleanup(self.stderr.close)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        test.addCleanup(self.stop)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        test.assertTrue(line.startswith("ready "), f"server did not start: {line!r}")
        self.url = line.split()[1]
        test.assertEqual(read(os.path.join(self.dir, "url")).strip(), self.url)
        parsed = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.tls = parsed.hostname, parsed.port, tls
        self.token = read(os.path.join(self.dir, "token")).strip()
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.test = test

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdout.close()

    def cpu_seconds(self) -> float:
        fields = read(f"/proc/{self.proc.pid}/stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def socket(self, cert: bool = False, rcvbuf: int = 0) -> socket.socket:
        sock = socket.socket(socket.AF_INET)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect((self.host, self.port))
        if not self.tls:
            return sock
        ctx = self.ctx
        if cert:
            ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
            ctx.load_cert_chain(os.path.join(self.dir, "client.crt"),
                                os.path.join(self.dir, "client.key"))
        return ctx.wrap_socket(sock, server_hostname=self.host)

    def request(self, method: str, path: str, body=None, token: str | None = "",
                content_type: str = "application/json", cert: bool = False,
                headers: dict | None = None) -> tuple[int, dict]:
        """One HTTP/1.1 request; token "" means the server's token, None no credentials."""
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        head = {"Host": f"{self.host}:{self.port}", "Content-Length": str(len(data)),
                "Connection": "close", **(headers or {})}
        if body is not None:
            head["Content-Type"] = content_type
        if token is not None:
            head["Authorization"] = f"Bearer {token or self.token}"
        sock = self.socket(cert)
        reader = HttpReader(sock)
        sock.sendall(f"{method} {path} HTTP/1.1\r\n".encode()
                     + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() + b"\r\n" + data)
        status, headers_in = reader.head()
        payload = reader.body(headers_in)
        sock.close()
        return status, json.loads(payload) if payload.startswith((b"{", b"[")) else payload

    def ok(self, method: str, path: str, body=None, **kw) -> dict:
        status, obj = self.request(method, path, body, **kw)
        self.test.assertLess(status, 300, f"{method} {path}: {status} {obj}")
        return obj

    def faults(self, spec: dict) -> dict:
        return self.ok("POST", "/_standin/faults", spec, token=None)

    def stats(self) -> dict:
        return self.ok("GET", "/_standin/stats", token=None)

    def rv(self) -> int:
        return int(self.stats()["resource_version"])

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                kubeconfig: str = "kubeconfig") -> subprocess.CompletedProcess:
        cmd = [KUBECTL, "--kubeconfig", os.path.join(self.dir, kubeconfig),
               "--cache-dir", os.path.join(self.tmp, "kubectl-cache"), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if check:
            self.test.assertEqual(proc.returncode, 0, f"kubectl {' '.join(args)}:\n{proc.stderr}")
        return proc

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def watch(self, path: str, **kw) -> "Watch":
        w = Watch(self, path, **kw)
        self.test.addCleanup(w.close)
        return w


class HttpReader:
    """HTTP/1.1 responses read straight off a socket, so that chunk boundaries are visible."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def head(self) -> tuple[int, dict]:
        status = int(self.line().split()[1])
        headers = {}
        while line := self.line():
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def chunk(self) -> bytes | None:
        """The next chunk; b"" is the terminating chunk, None an abrupt end of the stream."""
        try:
            size = self.line()
        except (ConnectionResetError, ssl.SSLError):
            return None
        if size is None:
            return None
        data = self.exactly(int(size, 16))
        self.line()
        return data

    def body(self, headers: dict) -> bytes:
        if headers.get("transfer-encoding") == "chunked":
            out = b""
            while chunk := self.chunk():
                out += chunk
            return out
        return self.exactly(int(headers.get("content-length", 0))) or b""


class Watch:
    """A watch stream: one event per chunk, one JSON object per line."""

    def __init__(self, server: Server, path: str, token: str | None = "", rcvbuf: int = 0):
        self.sock = server.socket(rcvbuf=rcvbuf)
        self.reader = HttpReader(self.sock)
        auth = f"Authorization: Bearer {token or server.token}\r\n" if token is not None else ""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        self.status, self.headers = self.reader.head()
        self.ended = None   # "clean" | "abrupt"

    def raw(self, timeout: float = 5) -> bytes | None:
        self.sock.settimeout(timeout)
        chunk = self.reader.chunk()
        if chunk is None:
            self.ended = "abrupt"
        elif chunk == b"":
            self.ended = "clean"
        return chunk or None

    def next(self, timeout: float = 5) -> dict | None:
        data = self.raw(timeout)
        if data is None:
            return None
        assert data.endswith(b"\n") and data.count(b"\n") == 1, f"not one event per chunk: {data!r}"
        return json.loads(data)

    def events(self, n: int, timeout: float = 5, skip_bookmarks: bool = True) -> list[tuple]:
        out = []
        while len(out) < n:
            ev = self.next(timeout)
            if ev is None:
                break
            if skip_bookmarks and ev["type"] == "BOOKMARK":
                continue
            out.append((ev["type"], ev["object"]["metadata"].get("name"),
                        int(ev["object"]["metadata"]["resourceVersion"])))
        return out

    def quiet(self, seconds: float) -> bool:
        """Nothing but bookmarks arrives for that long."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                ev = self.next(left)
            except (TimeoutError, socket.timeout):
                return True
            if ev is None or ev["type"] != "BOOKMARK":
                return False
        return True

    def close(self) -> None:
        self.sock.close()


def ns(name: str, **labels) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(namespace: str, name: str, node: str = "", **labels) -> dict:
    spec = {"containers": [{"name": "c", "image": "busybox",
                            "ports": [{"name": "http", "containerPort": 80}]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}


def netpol(namespace: str, name: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                     "ingress": [{"from": [{"podSelector": {}}],
                                  "ports": [{"port": 5432, "protocol": "TCP"}]}]}}


PODS = "/api/v1/namespaces/{}/pods"
NETPOLS = "/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies"


def yaml_docs(*objs: dict) -> str:
    """JSON is YAML (flow style): a multi-document manifest. The comment keeps kubectl from
    sniffing the file as a JSON stream, in which `---` is not allowed."""
    return "\n---\n".join("# manifest\n" + json.dumps(o) for o in objs)


def names(items: list[dict]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


# ---------------------------------------------------------------------------------------------

@unittest.skipUnless(KUBECTL, "kubectl is not installed")
class KubectlTest(unittest.TestCase):
    """What kubectl does against the stand-in, with kubectl's own output as the judge."""

    def setUp(self):
        self.s = Server(self)
        self.files = self.s.tmp

    def manifest(self, name: str, *objs: dict) -> str:
        path = os.path.join(self.files, name)
        with open(path, "w") as f:
            f.write(yaml_docs(*objs))
        return path

    def test_create_get_delete(self):
        s = self.s
        f = self.manifest("all.yaml", ns("shop", team="web"), pod("shop", "web-1", "node-1", app="web"),
                          netpol("shop", "db"))
        out = s.kubectl("create", "-f", f).stdout
        self.assertIn("namespace/shop created", out)
        self.assertIn("pod/web-1 created", out)
        self.assertIn("networkpolicy.networking.k8s.io/db created", out)
        got = s.get("pod", "web-1", "-n", "shop")
        meta = got["metadata"]
        self.assertTrue(meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]))
        self.assertEqual(got["spec"]["nodeName"], "node-1")
        self.assertEqual(got["status"]["phase"], "Pending")
        namespace = s.get("ns", "shop")
        self.assertEqual(namespace["metadata"]["labels"],
                         {"team": "web", "kubernetes.io/metadata.name": "shop"})
        self.assertEqual(s.get("netpol", "db", "-n", "shop")["spec"]["policyTypes"], ["Ingress"])
        # the Table kubectl prints
        table = s.kubectl("get", "pods", "-n", "shop", "-o", "wide").stdout.split("\n")
        self.assertEqual(table[0].split(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"])
        self.assertEqual(table[1].split()[:3], ["web-1", "0/1", "Pending"])
        self.assertEqual(table[1].split()[-1], "node-1")
        # errors as kubectl words them
        again = s.kubectl("create", "-f", f, check=False)
        self.assertIn('namespaces "shop" already exists', again.stderr)
        self.assertIn('pods "web-1" already exists', again.stderr)
        missing = s.kubectl("create", "-f", self.manifest("m.yaml", pod("nowhere", "p")), check=False)
        self.assertIn('namespaces "nowhere" not found', missing.stderr)
        bad = s.kubectl("create", "-f", self.manifest("b.yaml", pod("shop", "Bad_Name")), check=False)
        self.assertIn('Pod "Bad_Name" is invalid: metadata.name', bad.stderr)
        # delete waits for the graceful deletion of a scheduled pod to finish
        t0 = time.monotonic()
        self.assertIn('pod "web-1" deleted', s.kubectl("delete", "pod", "web-1", "-n", "shop").stdout)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertIn("NotFound", s.kubectl("get", "pod", "web-1", "-n", "shop", check=False).stderr)
        s.kubectl("delete", "-f", self.manifest("np.yaml", netpol("shop", "db")))
        self.assertEqual(s.get("netpol", "-A")["items"], [])

    def test_apply_client_side(self):
        s = self.s
        objs = [ns("shop"), pod("shop", "web-1", "node-1", app="web", tier="front"), netpol("shop", "db")]
        f = self.manifest("app.yaml", *objs)
        self.assertEqual(s.kubectl("apply", "-f", f).stdout.count(" created"), 3)
        rv = s.rv()
        out = s.kubectl("apply", "-f", f).stdout
        self.assertEqual(out.count(" unchanged"), 3, out)
        self.assertEqual(s.rv(), rv, "an unchanged apply wrote something")
        # change the image and a label, drop another label: a three-way strategic merge patch
        objs[1]["metadata"]["labels"] = {"app": "web2"}
        objs[1]["spec"]["containers"][0]["image"] = "busybox:2"
        self.assertIn("pod/web-1 configured", s.kubectl("apply", "-f", self.manifest("app.yaml", *objs)).stdout)
        got = s.get("pod", "web-1", "-n", "shop")
        self.assertEqual(got["metadata"]["labels"], {"app": "web2"})
        self.assertEqual(got["spec"]["containers"][0]["image"], "busybox:2")
        self.assertEqual(got["spec"]["containers"][0]["ports"][0]["name"], "http")
        last = json.loads(got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        self.assertEqual(last["metadata"]["labels"], {"app": "web2"})
        # apply -k: kustomize runs in kubectl
        kdir = os.path.join(self.files, "k")
        os.mkdir(kdir)
        self.manifest("k/np.yaml", netpol("shop", "from-k"))
        with open(os.path.join(kdir, "kustomization.yaml"), "w") as fh:
            fh.write("resources: [np.yaml]\nlabels:\n- pairs: {owner: kustomize}\n")
        self.assertIn("created", s.kubectl("apply", "-k", kdir).stdout)
        self.assertIn("unchanged", s.kubectl("apply", "-k", kdir).stdout)
        self.assertEqual(s.get("netpol", "from-k", "-n", "shop")["metadata"]["labels"], {"owner": "kustomize"})

    def test_apply_server_side(self):
        s = self.s
        policy = netpol("default", "ssa")
        policy["metadata"]["labels"] = {"a": "1", "b": "2"}
        f = self.manifest("np.yaml", policy)
        self.assertIn("serverside-applied", s.kubectl("apply", "--server-side", "-f", f).stdout)
        rv = s.rv()
        s.kubectl("apply", "--server-side", "-f", f)
        self.assertEqual(s.rv(), rv, "re-applying the same configuration wrote something")
        # a field this manager no longer applies goes away; one set by another manager stays
        s.kubectl("label", "netpol", "ssa", "c=3")
        del policy["metadata"]["labels"]["b"]
        s.kubectl("apply", "--server-side", "-f", self.manifest("np.yaml", policy))
        self.assertEqual(s.get("netpol", "ssa")["metadata"]["labels"], {"a": "1", "c": "3"})
        # another applier that sets a field differently conflicts, unless it forces
        policy["metadata"]["labels"]["a"] = "9"
        f = self.manifest("np.yaml", policy)
        conflict = s.kubectl("apply", "--server-side", "--field-manager=other", "-f", f, check=False)
        self.assertNotEqual(conflict.returncode, 0)
        self.assertIn('conflict with "kubectl": .metadata.labels.a', conflict.stderr)
        s.kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", f)
        self.assertEqual(s.get("netpol", "ssa")["metadata"]["labels"]["a"], "9")
        # server-side apply creates, and dry runs persist nothing
        rv = s.rv()
        out = s.kubectl("apply", "--server-side", "--dry-run=server", "-f",
                        self.manifest("p.yaml", pod("default", "dry"))).stdout
        self.assertIn("pod/dry serverside-applied (server dry run)", out)
        self.assertEqual(s.rv(), rv)
        self.assertIn("NotFound", s.kubectl("get", "pod", "dry", check=False).stderr)

    def test_replace_label_annotate_patch(self):
        s = self.s
        s.kubectl("create", "-f", self.manifest("p.yaml", pod("default", "p", app="web")))
        # label: add, change, remove
        s.kubectl("label", "pod", "p", "tier=front")
        self.assertNotEqual(s.kubectl("label", "pod", "p", "tier=back", check=False).returncode, 0)
        s.kubectl("label", "pod", "p", "tier=back", "--overwrite")
        self.assertEqual(s.get("pod", "p")["metadata"]["labels"], {"app": "web", "tier": "back"})
        s.kubectl("label", "pod", "p", "tier-")
        s.kubectl("annotate", "pod", "p", "note=hello")
        got = s.get("pod", "p")
        self.assertEqual(got["metadata"]["labels"], {"app": "web"})
        self.assertEqual(got["metadata"]["annotations"], {"note": "hello"})
        # patch: strategic (containers merge by name), merge, json
        s.kubectl("patch", "pod", "p", "-p", '{"spec":{"containers":[{"name":"c","image":"busybox:9"}]}}')
        got = s.get("pod", "p")
        self.assertEqual(got["spec"]["containers"][0]["image"], "busybox:9")
        self.assertEqual(got["spec"]["containers"][0]["ports"][0]["containerPort"], 80)
        s.kubectl("patch", "pod", "p", "--type=merge", "-p", '{"metadata":{"labels":{"app":null,"x":"1"}}}')
        s.kubectl("patch", "pod", "p", "--type=json",
                  "-p", '[{"op":"add","path":"/metadata/labels/y","value":"2"},'
                        '{"op":"test","path":"/metadata/labels/x","value":"1"}]')
        self.assertEqual(s.get("pod", "p")["metadata"]["labels"], {"x": "1", "y": "2"})
        failed = s.kubectl("patch", "pod", "p", "--type=json",
                           "-p", '[{"op":"test","path":"/metadata/labels/x","value":"0"}]',
                           check=False)
        self.assertIn("test failed", failed.stderr)
        # a pod's spec is immutable apart from images and a few fields, as in the real server
        moved = s.kubectl("patch", "pod", "p", "-p", '{"spec":{"nodeName":"elsewhere"}}', check=False)
        self.assertIn("pod updates may not change fields", moved.stderr)
        # replace: PUT of the whole object; a stale resourceVersion is a conflict
        policy = netpol("default", "np")
        s.kubectl("create", "-f", self.manifest("np.yaml", policy))
        stale = s.get("netpol", "np")
        policy["spec"]["podSelector"] = {}
        self.assertIn("replaced", s.kubectl("replace", "-f", self.manifest("np.yaml", policy)).stdout)
        got = s.get("netpol", "np")
        self.assertEqual(got["spec"]["podSelector"], {})
        self.assertEqual(got["metadata"]["generation"], 2)
        conflict = s.kubectl("replace", "-f", self.manifest("stale.yaml", stale), check=False)
        self.assertIn("the object has been modified", conflict.stderr)

    def test_pod_status_subresource(self):
        s = self.s
        p = pod("default", "p", "node-1")
        p["status"] = {"phase": "Running", "podIP": "10.0.0.9"}   # ignored on create
        s.kubectl("create", "-f", self.manifest("p.yaml", p))
        self.assertEqual(s.get("pod", "p")["status"], {"phase": "Pending"})
        s.kubectl("patch", "pod", "p", "--subresource=status", "--type=merge", "-p", json.dumps(
            {"status": {"phase": "Running", "podIP": "10.244.1.5",
                        "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}]}}))
        status = s.get("pod", "p")["status"]
        self.assertEqual(status["phase"], "Running")
        self.assertEqual(status["podIPs"], [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}])
        self.assertIn("10.244.1.5", s.kubectl("get", "pod", "p", "-o", "wide").stdout)
        # server-side apply of the status subresource
        st = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
              "status": {"phase": "Succeeded"}}
        s.kubectl("apply", "--server-side", "--subresource=status", "-f", self.manifest("st.yaml", st))
        self.assertEqual(s.get("pod", "p")["status"]["phase"], "Succeeded")
        # and the main resource cannot change the status
        s.kubectl("patch", "pod", "p", "--type=merge", "-p", '{"status":{"phase":"Failed"}}')
        self.assertEqual(s.get("pod", "p")["status"]["phase"], "Succeeded")

    def test_other_kinds(self):
        s = self.s
        sa = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "agent", "namespace": "kube-system"}}
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "nftpolicy"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "nftpolicy"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "nftpolicy"},
                   "subjects": [{"kind": "ServiceAccount", "name": "agent",
                                 "namespace": "kube-system"}]}
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
              "metadata": {"name": "agent", "namespace": "kube-system"},
              "spec": {"selector": {"matchLabels": {"app": "agent"}},
                       "template": {"metadata": {"labels": {"app": "agent"}},
                                    "spec": {"priorityClassName": "system-node-critical",
                                             "containers": [{"name": "agent", "image": "a:1",
                                                             "env": [{"name": "A", "value": "1"}]}]}}}}
        f = self.manifest("deploy.yaml", sa, role, binding, ds)
        self.assertEqual(s.kubectl("apply", "-f", f).stdout.count(" created"), 4)
        self.assertEqual(s.kubectl("apply", "-f", f).stdout.count(" unchanged"), 4)
        ds["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
        self.assertIn("daemonset.apps/agent configured",
                      s.kubectl("apply", "-f", self.manifest("deploy.yaml", sa, role, binding, ds)).stdout)
        got = s.get("ds", "agent", "-n", "kube-system")
        self.assertEqual(got["spec"]["template"]["spec"]["containers"][0]["env"],
                         [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        self.assertEqual(got["metadata"]["generation"], 2)
        self.assertEqual(names(s.get("priorityclass")["items"]),
                         ["system-cluster-critical", "system-node-critical"])
        # kubectl's imperative commands send protobuf
        s.kubectl("create", "namespace", "imperative")
        s.kubectl("create", "serviceaccount", "sa2", "-n", "imperative")
        s.kubectl("create", "clusterrole", "reader", "--verb=get", "--resource=pods")
        s.kubectl("create", "clusterrolebinding", "reader", "--clusterrole=reader",
                  "--serviceaccount=imperative:sa2")
        s.kubectl("run", "runner", "-n", "imperative", "--image=busybox", "--labels=app=r", "--port=8080")
        got = s.get("pod", "runner", "-n", "imperative")
        self.assertEqual(got["metadata"]["labels"], {"app": "r"})
        self.assertEqual(got["spec"]["containers"][0]["ports"], [{"containerPort": 8080, "protocol": "TCP"}])
        self.assertEqual(s.get("clusterrolebinding", "reader")["subjects"][0]["name"], "sa2")
        out = s.kubectl("delete", "-f", f).stdout
        self.assertEqual(out.count(" deleted"), 4)

    def test_get_snapshot_list(self):
        s = self.s
        s.kubectl("apply", "-f", self.manifest("a.yaml", ns("x"), pod("x", "a", "n1", app="a"),
                                               netpol("x", "np")))
        snapshot = s.get("ns,pods,netpol", "-A")
        self.assertEqual((snapshot["apiVersion"], snapshot["kind"]), ("v1", "List"))
        kinds = [(i["kind"], i["metadata"]["name"]) for i in snapshot["items"]]
        self.assertEqual(kinds, [("Namespace", "default"), ("Namespace", "kube-public"),
                                 ("Namespace", "kube-system"), ("Namespace", "x"),
                                 ("Pod", "a"), ("NetworkPolicy", "np")])
        text = s.kubectl("get", "ns,pods,netpol", "-A", "-o", "yaml").stdout
        self.assertTrue(text.startswith("apiVersion: v1\nitems:\n"))
        self.assertIn("\nkind: List\n", text)

    def test_delete_namespace_cascades_and_selectors(self):
        s = self.s
        s.kubectl("apply", "-f", self.manifest("a.yaml", ns("x"), pod("x", "a", "n1", app="a"),
                                               pod("x", "b", app="b"), pod("x", "c", app="b"),
                                               netpol("x", "np")))
        self.assertIn('pod "b" deleted', s.kubectl("delete", "pods", "-n", "x", "-l", "app=b").stdout)
        self.assertEqual(names(s.get("pods", "-n", "x")["items"]), ["a"])
        rv = s.rv()
        pods = s.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}")
        namespaces = s.watch(f"/api/v1/namespaces?watch=1&resourceVersion={rv}")
        self.assertIn('namespace "x" deleted', s.kubectl("delete", "ns", "x").stdout)
        # Terminating first, then the content, then the namespace
        ns_events = namespaces.events(2)
        self.assertEqual([e[:2] for e in ns_events], [("MODIFIED", "x"), ("DELETED", "x")])
        [(etype, name, pod_rv)] = pods.events(1)
        self.assertEqual((etype, name), ("DELETED", "a"))
        self.assertLess(ns_events[0][2], pod_rv)
        self.assertLess(pod_rv, ns_events[1][2])
        self.assertEqual(s.get("pods,netpol", "-A")["items"], [])
        self.assertIn("NotFound", s.kubectl("get", "ns", "x", check=False).stderr)
        self.assertIn("may not be deleted", s.kubectl("delete", "ns", "default", check=False).stderr)
        s.kubectl("apply", "-f", self.manifest("b.yaml", pod("default", "p1"), pod("default", "p2")))
        self.assertEqual(s.kubectl("delete", "pods", "--all").stdout.count("deleted"), 2)
        s.kubectl("create", "--dry-run=server", "-f", self.manifest("c.yaml", pod("default", "dry")))
        self.assertEqual(s.get("pods")["items"], [])


class ApiTest(unittest.TestCase):
    """The API as the agent uses it, over raw HTTP."""

    ARGS: tuple[str, ...] = ()

    def setUp(self):
        self.s = Server(self, *self.ARGS)

    def create(self, path: str, obj: dict) -> dict:
        return self.s.ok("POST", path, obj)

    def test_resource_versions_and_errors(self):
        s = self.s
        rv0 = s.rv()
        a = self.create(PODS.format("default"), pod("default", "a"))
        self.assertEqual(int(a["metadata"]["resourceVersion"]), rv0 + 1)
        self.assertEqual(a["metadata"]["namespace"], "default")
        np = self.create(NETPOLS.format("default"), netpol("default", "np"))
        self.assertEqual(int(np["metadata"]["resourceVersion"]), rv0 + 2)   # one counter for all
        # PUT: a stale resourceVersion conflicts, an empty one is unconditional
        stale = dict(a, metadata=dict(a["metadata"], labels={"x": "1"}))
        self.assertEqual(s.ok("PUT", PODS.format("default") + "/a", stale)["metadata"]["labels"], {"x": "1"})
        code, status = s.request("PUT", PODS.format("default") + "/a", stale)
        self.assertEqual((code, status["kind"], status["reason"]), (409, "Status", "Conflict"))
        self.assertEqual(status["details"], {"name": "a", "kind": "pods"})
        uncond = dict(a, metadata=dict(a["metadata"], resourceVersion="", labels={"y": "2"}))
        self.assertEqual(s.ok("PUT", PODS.format("default") + "/a", uncond)["metadata"]["labels"], {"y": "2"})
        # an update that changes nothing writes nothing
        current = s.ok("GET", PODS.format("default") + "/a")
        self.assertEqual(s.ok("PUT", PODS.format("default") + "/a", current), current)
        for path, body, code, reason in [
                (PODS.format("default"), pod("default", "a"), 409, "AlreadyExists"),
                (PODS.format("nowhere"), pod("nowhere", "a"), 404, "NotFound"),
                (PODS.format("default"), pod("default", "UPPER"), 422, "Invalid"),
                (PODS.format("default"), pod("other", "a"), 400, "BadRequest"),
                (PODS.format("default"), netpol("default", "a"), 400, "BadRequest"),
                (PODS.format("default") + "/missing", None, 404, "NotFound"),
                ("/api/v1/nothing", None, 404, "NotFound")]:
            method = "GET" if body is None else "POST"
            got_code, got = s.request(method, path, body)
            self.assertEqual((got_code, got["kind"], got["reason"], got["code"]),
                             (code, "Status", reason, code), f"{method} {path}: {got}")
        self.assertEqual(s.request("GET", PODS.format("default") + "/missing")[1]["message"],
                         'pods "missing" not found')
        self.assertEqual(s.request("GET", NETPOLS.format("default") + "/x")[1]["message"],
                         'networkpolicies.networking.k8s.io "x" not found')
        # dryRun=All answers and persists nothing
        rv = s.rv()
        dry = s.ok("POST", PODS.format("default") + "?dryRun=All", pod("default", "dry"))
        self.assertEqual(dry["metadata"]["name"], "dry")
        s.ok("DELETE", PODS.format("default") + "/a?dryRun=All")
        self.assertEqual(s.rv(), rv)
        self.assertEqual(s.request("GET", PODS.format("default") + "/dry")[0], 404)

    def test_list_selectors_and_pagination(self):
        s = self.s
        for name, node, app in [("e", "n2", "db"), ("a", "n1", "web"), ("c", "n1", "db"),
                                ("d", "", "web"), ("b", "n2", "web")]:
            self.create(PODS.format("default"), pod("default", name, node, app=app))
        self.create("/api/v1/namespaces", ns("other"))
        self.create(PODS.format("other"), pod("other", "a", "n1", app="web"))
        lst = s.ok("GET", "/api/v1/pods")
        self.assertEqual((lst["kind"], lst["apiVersion"]), ("PodList", "v1"))
        self.assertEqual([(i["metadata"]["namespace"], i["metadata"]["name"]) for i in lst["items"]],
                         [("default", n) for n in "abcde"] + [("other", "a")])
        self.assertEqual(lst["metadata"]["resourceVersion"], str(s.rv()))
        q = urllib.parse.quote
        self.assertEqual(names(s.ok("GET", PODS.format("default") + "?labelSelector=" + q("app in (db)"))["items"]),
                         ["c", "e"])
        self.assertEqual(names(s.ok("GET", "/api/v1/pods?labelSelector=" + q("app!=db,app"))["items"]),
                         ["a", "b", "d", "a"])
        self.assertEqual(names(s.ok("GET", "/api/v1/pods?fieldSelector=" + q("spec.nodeName=n1"))["items"]),
                         ["a", "c", "a"])
        self.assertEqual(names(s.ok("GET", "/api/v1/pods?fieldSelector=" +
                                    q("metadata.namespace=default,spec.nodeName="))["items"]), ["d"])
        self.assertEqual(s.request("GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1")[0], 400)
        # pages are one snapshot, whatever happens between them
        page1 = s.ok("GET", PODS.format("default") + "?limit=2")
        self.assertEqual(names(page1["items"]), ["a", "b"])
        self.assertEqual(page1["metadata"]["remainingItemCount"], 3)
        snapshot_rv = page1["metadata"]["resourceVersion"]
        self.create(PODS.format("default"), pod("default", "bb"))
        s.ok("DELETE", PODS.format("default") + "/d")
        s.ok("PATCH", PODS.format("default") + "/c", {"metadata": {"labels": {"app": "changed"}}},
             content_type="application/merge-patch+json")
        page2 = s.ok("GET", PODS.format("default") + "?limit=2&continue=" + page1["metadata"]["continue"])
        page3 = s.ok("GET", PODS.format("default") + "?limit=2&continue=" + page2["metadata"]["continue"])
        self.assertEqual(names(page2["items"]) + names(page3["items"]), ["c", "d", "e"])
        self.assertEqual(page2["items"][0]["metadata"]["labels"], {"app": "db"})
        self.assertEqual({page2["metadata"]["resourceVersion"], page3["metadata"]["resourceVersion"]},
                         {snapshot_rv})
        self.assertNotIn("continue", page3["metadata"])
        self.assertEqual(names(s.ok("GET", PODS.format("default"))["items"]), ["a", "b", "bb", "c", "e"])
        # an exact resourceVersion lists that past state
        old = s.ok("GET", f"/api/v1/pods?resourceVersion={snapshot_rv}&resourceVersionMatch=Exact")
        self.assertEqual(names(old["items"]), list("abcde") + ["a"])
        self.assertEqual(old["items"][2]["metadata"]["labels"], {"app": "db"})

    def test_expired_continue(self):
        s = self.s
        for name in "abc":
            self.create(PODS.format("default"), pod("default", name))
        page1 = s.ok("GET", "/api/v1/pods?limit=1")
        self.create(PODS.format("default"), pod("default", "d"))
        s.faults({"compact": True})
        code, status = s.request("GET", "/api/v1/pods?limit=1&continue=" + page1["metadata"]["continue"])
        self.assertEqual((code, status["reason"], status["code"]), (410, "Expired", 410))
        self.assertIn("too old", status["message"])
        self.assertEqual(s.stats()["expired_410"], 1)
        self.assertEqual(s.request("GET", "/api/v1/pods?limit=1&continue=garbage")[0], 400)

    def test_watch_from_resource_version(self):
        s = self.s
        start = s.rv()
        self.create(PODS.format("default"), pod("default", "a"))
        self.create(NETPOLS.format("default"), netpol("default", "np"))   # another resource
        self.create(PODS.format("default"), pod("default", "b"))
        s.ok("PATCH", PODS.format("default") + "/a", {"metadata": {"labels": {"v": "2"}}},
             content_type="application/merge-patch+json")
        s.ok("DELETE", PODS.format("default") + "/b")
        w = s.watch(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={start}")
        self.assertEqual(w.status, 200)
        self.assertEqual(w.headers["transfer-encoding"], "chunked")
        self.assertEqual(w.headers["content-type"], "application/json")
        r = start
        self.assertEqual(w.events(4), [("ADDED", "a", r + 1), ("ADDED", "b", r + 3),
                                       ("MODIFIED", "a", r + 4), ("DELETED", "b", r + 5)])
        self.assertTrue(w.quiet(0.3))
        self.create(PODS.format("default"), pod("default", "c"))
        self.assertEqual(w.events(1), [("ADDED", "c", r + 6)])
        self.assertEqual(s.stats()["watches_open"], {"pods": 1})

    def test_watch_without_resource_version(self):
        s = self.s
        for name in ("b", "a"):
            self.create(PODS.format("default"), pod("default", name))
        rv = s.rv()
        for query in ("watch=1", "watch=true&resourceVersion=", "watch=1&resourceVersion=0"):
            w = s.watch("/api/v1/pods?" + query)
            # synthetic ADDED events for the current objects, sorted, with their own versions
            self.assertEqual(w.events(2), [("ADDED", "a", rv), ("ADDED", "b", rv - 1)])
            self.assertTrue(w.quiet(0.2))
            w.close()
        # the watch-list protocol: initial events, then a bookmark marks their end
        w = s.watch("/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                    "&allowWatchBookmarks=true")
        self.assertEqual([e[:2] for e in w.events(2)], [("ADDED", "a"), ("ADDED", "b")])
        mark = w.next()
        self.assertEqual(mark["type"], "BOOKMARK")
        self.assertEqual(mark["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})

    def test_watch_selectors(self):
        s = self.s
        self.create(PODS.format("default"), pod("default", "a", "n1", app="web"))
        w = s.watch("/api/v1/pods?watch=1&labelSelector=app%3Dweb")
        f = s.watch("/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dn2")
        self.assertEqual([e[:2] for e in w.events(1)], [("ADDED", "a")])
        patch = lambda labels: s.ok("PATCH", PODS.format("default") + "/a", {"metadata": {"labels": labels}},
                                    content_type="application/merge-patch+json")
        patch({"app": "db"})     # leaves the selector: DELETED for this watch
        patch({"app": "web"})    # back in: ADDED
        patch({"x": "1"})        # still in: MODIFIED
        self.assertEqual([e[:2] for e in w.events(3)], [("DELETED", "a"), ("ADDED", "a"), ("MODIFIED", "a")])
        self.create(PODS.format("default"), pod("default", "b", "n2"))
        self.assertEqual([e[:2] for e in f.events(1)], [("ADDED", "b")])

    def test_graceful_pod_deletion(self):
        s = self.s
        self.create(PODS.format("default"), pod("default", "scheduled", "n1"))
        self.create(PODS.format("default"), pod("default", "pending"))
        self.create(PODS.format("default"), pod("default", "forced", "n1"))
        w = s.watch(f"/api/v1/pods?watch=1&resourceVersion={s.rv()}")
        t0 = time.monotonic()
        gone = s.ok("DELETE", PODS.format("default") + "/scheduled", {"kind": "DeleteOptions"})
        self.assertEqual(gone["metadata"]["deletionGracePeriodSeconds"], 30)
        self.assertIn("deletionTimestamp", gone["metadata"])
        s.ok("DELETE", PODS.format("default") + "/pending")
        s.ok("DELETE", PODS.format("default") + "/forced?gracePeriodSeconds=0")
        events = w.events(4)
        self.assertEqual([e[:2] for e in events], [("MODIFIED", "scheduled"), ("DELETED", "pending"),
                                                   ("DELETED", "forced"), ("DELETED", "scheduled")])
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertEqual(s.ok("GET", "/api/v1/pods")["items"], [])

    def test_bookmarks_and_timeout(self):
        s = self.s = Server(self, "--bookmark-interval", "0.2")
        self.create(PODS.format("default"), pod("default", "a"))
        w = s.watch(f"/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={s.rv()}")
        mark = w.next(2)
        self.assertEqual(mark, {"type": "BOOKMARK", "object": {
            "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(s.rv())}}})
        quiet = s.watch("/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1")
        t0, cpu0 = time.monotonic(), s.cpu_seconds()
        self.assertEqual([e[:2] for e in quiet.events(1)], [("ADDED", "a")])
        self.assertIsNone(quiet.next(3))          # no bookmarks unless asked, then a clean end
        self.assertEqual(quiet.ended, "clean")
        self.assertAlmostEqual(time.monotonic() - t0, 1.0, delta=0.5)
        self.assertLess(s.cpu_seconds() - cpu0, 0.3, "idle watches must not spin")

    def test_slow_watcher_never_blocks_writers(self):
        s = self.s = Server(self, "--watch-queue-limit", "5")
        slow = s.watch("/api/v1/pods?watch=1", rcvbuf=4096)   # and never read until the end
        fast = s.watch("/api/v1/pods?watch=1")
        big = "x" * 100_000
        for i in range(40):   # 4 MB: more than the socket buffers hold
            p = pod("default", f"p{i}")
            p["metadata"]["annotations"] = {"big": big}
            self.create(PODS.format("default"), p)
        self.assertEqual(len(fast.events(40)), 40)
        self.assertEqual(s.stats()["watches_dropped"], 1)
        got = 0
        while slow.next() is not None:
            got += 1
        self.assertLess(got, 40)
        self.assertEqual(slow.ended, "clean")   # closed like the cacher closes a stuck watcher

    def test_watch_too_old_resource_version(self):
        s = self.s = Server(self, "--compaction-window", "3")
        for name in "abcde":
            self.create(PODS.format("default"), pod("default", name))
        rv = s.rv()
        self.assertEqual(s.stats()["events_compacted"], rv - 3)
        w = s.watch(f"/api/v1/pods?watch=1&resourceVersion={rv - 4}")
        self.assertEqual(w.status, 200)   # the real server answers 200, then an ERROR event
        ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual(ev["object"], {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Failure", "reason": "Expired", "code": 410,
                                        "message": f"too old resource version: {rv - 4} ({rv - 3})"})
        self.assertIsNone(w.next())
        self.assertEqual(w.ended, "clean")
        ok = s.watch(f"/api/v1/pods?watch=1&resourceVersion={rv - 3}")
        self.assertEqual([e[:2] for e in ok.events(3)], [("ADDED", "c"), ("ADDED", "d"), ("ADDED", "e")])
        # the compact fault forgets everything
        s.faults({"compact": True})
        gone = s.watch(f"/api/v1/pods?watch=1&resourceVersion={rv - 1}")
        self.assertEqual(gone.next()["object"]["code"], 410)
        current = s.watch(f"/api/v1/pods?watch=1&resourceVersion={rv}")
        self.assertTrue(current.quiet(0.2))
        self.assertEqual(s.stats()["expired_410"], 2)

    def test_stats(self):
        s = self.s
        s.ok("GET", "/api/v1/pods")
        s.ok("GET", "/api/v1/namespaces/default/pods")
        self.create(PODS.format("default"), pod("default", "a"))
        w = s.watch("/apis/networking.k8s.io/v1/networkpolicies?watch=1")
        self.assertTrue(w.quiet(0.1))
        stats = s.stats()
        self.assertIn({"method": "GET", "resource": "pods", "verb": "list", "count": 2}, stats["requests"])
        self.assertIn({"method": "POST", "resource": "pods", "verb": "create", "count": 1}, stats["requests"])
        self.assertEqual(stats["verbs"]["networkpolicies"], {"watch": 1})
        self.assertEqual(stats["watches_open"], {"networkpolicies": 1})
        self.assertEqual(stats["resource_version"], str(s.rv()))
        w.close()
        deadline = time.monotonic() + 3
        while s.stats()["watches_open"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(s.stats()["watches_open"], {})


class FaultTest(unittest.TestCase):
    """POST /_standin/faults, one fault at a time."""

    def setUp(self):
        self.s = Server(self)
        self.s.ok("POST", PODS.format("default"), pod("default", "a", "n1"))

    def test_drop_watches(self):
        s = self.s
        w = s.watch("/api/v1/pods?watch=1")
        self.assertEqual([e[:2] for e in w.events(1)], [("ADDED", "a")])
        self.assertEqual(s.faults({"drop_watches": True})["dropped"], 1)
        self.assertIsNone(w.next())
        self.assertEqual(w.ended, "abrupt")   # no terminating chunk: cut mid-stream
        self.assertEqual(s.stats()["watches_dropped"], 1)

    def test_fail_then_succeed(self):
        s = self.s
        s.faults({"fail": {"status": 500, "count": 2, "path_prefix": "/api/v1/pods", "method": "GET"}})
        for _ in range(2):
            code, status = s.request("GET", "/api/v1/pods")
            self.assertEqual((code, status["kind"], status["reason"]), (500, "Status", "InternalError"))
        self.assertEqual(s.request("GET", "/api/v1/pods")[0], 200)
        s.faults({"fail": {"status": 503, "count": 1}})
        self.assertEqual(s.request("POST", "/api/v1/namespaces", ns("x"))[0], 503)
        self.assertEqual(s.request("POST", "/api/v1/namespaces", ns("x"))[0], 201)
        s.faults({"fail": {"status": 410, "count": 5, "method": "PUT"}})
        self.assertEqual(s.request("GET", "/api/v1/namespaces/x")[0], 200)
        # by verb: watches fail, lists and gets of the same path go through
        s.faults({"fail": {"status": 503, "count": 1, "verb": "watch",
                           "path_prefix": "/api/v1/namespaces"}})
        self.assertEqual(s.request("GET", "/api/v1/namespaces")[0], 200)
        self.assertEqual(s.request("GET", "/api/v1/namespaces/x")[0], 200)
        self.assertEqual(s.request("GET", "/api/v1/namespaces?watch=1&timeoutSeconds=1")[0], 503)
        self.assertEqual(s.watch("/api/v1/namespaces?watch=1").next()["type"], "ADDED")
        s.ok("POST", "/_standin/reset", {}, token=None)
        self.assertEqual(s.ok("GET", "/_standin/faults", token=None)["fail"], [])

    def test_delay(self):
        s = self.s
        s.faults({"delay_ms": 400, "path_prefix": "/api/v1/namespaces"})
        t0 = time.monotonic()
        s.ok("GET", "/api/v1/namespaces")
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        t0 = time.monotonic()
        s.ok("GET", "/api/v1/pods")
        self.assertLess(time.monotonic() - t0, 0.3)
        s.faults({"delay_ms": 0, "path_prefix": "/api/v1/namespaces"})
        t0 = time.monotonic()
        s.ok("GET", "/api/v1/namespaces")
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_malformed_events(self):
        s = self.s
        w = s.watch("/api/v1/pods?watch=1")
        netpols = s.watch("/apis/networking.k8s.io/v1/networkpolicies?watch=1")
        w.events(1)
        self.assertEqual(s.faults({"malformed_event": {"resource": "pods", "kind": "json"}})["watches"], 1)
        line = w.raw()
        with self.assertRaises(ValueError):
            json.loads(line)
        s.faults({"malformed_event": {"resource": "pods", "kind": "object"}})
        ev = w.next()
        self.assertEqual(ev["type"], "ADDED")
        self.assertIsInstance(ev["object"]["metadata"], str)
        self.assertIsInstance(ev["object"]["status"]["podIPs"], int)
        weird = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "w"}, "status": {"podIPs": "x"}}
        s.faults({"malformed_event": {"resource": "pods", "kind": "object", "object": weird}})
        self.assertEqual(w.next(), {"type": "ADDED", "object": weird})
        # the stream goes on, and other resources saw nothing
        s.ok("POST", PODS.format("default"), pod("default", "b"))
        self.assertEqual([e[:2] for e in w.events(1)], [("ADDED", "b")])
        self.assertTrue(netpols.quiet(0.2))

    def test_token_rotation(self):
        s = self.s
        self.assertEqual(s.request("GET", "/api/v1/pods", token="wrong")[0], 401)
        s.faults({"tokens": ["new-1", "new-2"]})
        code, status = s.request("GET", "/api/v1/pods")
        self.assertEqual((code, status["reason"]), (401, "Unauthorized"))
        self.assertEqual(s.request("GET", "/api/v1/pods", token="new-2")[0], 200)
        s.ok("POST", "/_standin/reset", {}, token=None)
        self.assertEqual(s.request("GET", "/api/v1/pods")[0], 200)
        self.assertEqual(s.stats()["unauthorized_401"], 2)

    def test_store_raw(self):
        s = self.s
        w = s.watch("/apis/networking.k8s.io/v1/networkpolicies?watch=1")
        rv = s.rv()
        bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "Not_A_Name", "namespace": "missing"},
               "spec": {"podSelector": "everything", "ingress": [{"ports": [{"port": -1}]}]}}
        s.faults({"store_raw": {"resource": "networkpolicies", "object": bad}})
        ev = w.next()
        self.assertEqual(ev["type"], "ADDED")
        self.assertEqual(ev["object"]["spec"], bad["spec"])
        self.assertEqual(ev["object"]["metadata"]["resourceVersion"], str(rv + 1))
        self.assertEqual(names(s.ok("GET", "/apis/networking.k8s.io/v1/networkpolicies")["items"]),
                         ["Not_A_Name"])


@unittest.skipUnless(OPENSSL, "openssl is not installed")
class TlsTest(unittest.TestCase):
    def test_tls_credentials(self):
        s = Server(self, "--san", "10.1.2.3", "--san", "apiserver.test", tls=True)
        self.assertTrue(s.url.startswith("https://127.0.0.1:"))
        # token, client certificate, nothing, a wrong token
        self.assertEqual(s.request("GET", "/api/v1/namespaces")[0], 200)
        self.assertEqual(s.request("GET", "/api/v1/namespaces", token=None, cert=True)[0], 200)
        self.assertEqual(s.request("GET", "/api/v1/namespaces", token=None)[0], 401)
        self.assertEqual(s.request("GET", "/api/v1/namespaces", token="wrong")[0], 401)
        sock = s.socket()
        sans = sock.getpeercert()["subjectAltName"]
        sock.close()
        for san in (("IP Address", "127.0.0.1"), ("DNS", "localhost"), ("IP Address", "10.1.2.3"),
                    ("DNS", "apiserver.test")):
            self.assertIn(san, sans)
        # the kubeconfigs, with kubectl
        if KUBECTL:
            for kubeconfig in ("kubeconfig", "kubeconfig-cert", "kubeconfig-files"):
                out = s.kubectl("get", "ns", "default", "-o", "name", kubeconfig=kubeconfig).stdout
                self.assertEqual(out, "namespace/default\n")
            config = read(os.path.join(s.dir, "kubeconfig-files"))
            self.assertIn(os.path.join(s.dir, "client.key"), config)
            s.faults({"tokens": []})
            self.assertIn("Unauthorized", s.kubectl("get", "ns", check=False).stderr)
            s.kubectl("get", "ns", kubeconfig="kubeconfig-cert")
        cert = base64.b64decode(read(os.path.join(s.dir, "kubeconfig-cert"))
                                .split("client-certificate-data: ")[1].split("\n")[0].strip('"'))
        self.assertEqual(cert.decode(), read(os.path.join(s.dir, "client.crt")))
        subject = subprocess.run([OPENSSL, "x509", "-noout", "-subject", "-in",
                                  os.path.join(s.dir, "client.crt")], capture_output=True, text=True)
        self.assertIn("CN = nftpolicy-agent", subject.stdout)

    def test_plain_http_auth(self):
        open_server = Server(self)   # kubectl sends no credentials over http: let anonymous in
        self.assertEqual(open_server.request("GET", "/api/v1/pods", token=None)[0], 200)
        strict = Server(self, "--require-auth")
        self.assertEqual(strict.request("GET", "/api/v1/pods", token=None)[0], 401)
        self.assertEqual(strict.request("GET", "/api/v1/pods")[0], 200)
        self.assertEqual(strict.request("GET", "/version", token=None)[0], 200)


class PatchTest(unittest.TestCase):
    """The patch algorithms on their own (no server)."""

    def setUp(self):
        sys.path.insert(0, HERE)
        import patches
        self.p = patches
        self.keys = patches.merge_keys("Pod")

    def test_strategic_merge_directives(self):
        smp = lambda orig, patch: self.p.strategic_merge(orig, patch, self.keys)
        orig = {"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
                "spec": {"containers": [{"name": "c1", "image": "i1", "ports": [{"containerPort": 80}]},
                                        {"name": "c2", "image": "i2"}],
                         "tolerations": [{"key": "t1"}],
                         "strategy": {"type": "A", "rollingUpdate": {"max": 1}}}}
        got = smp(orig, {
            "metadata": {"labels": {"a": None, "c": "3"}, "finalizers": ["z"],
                         "$deleteFromPrimitiveList/finalizers": ["x"]},
            "spec": {"$setElementOrder/containers": [{"name": "c3"}, {"name": "c2"}, {"name": "c1"}],
                     "containers": [{"name": "c1", "$patch": "delete"},
                                    {"name": "c2", "image": "i2b"},
                                    {"name": "c3", "image": "i3"}],
                     "tolerations": [{"key": "t2"}],
                     "strategy": {"$retainKeys": ["type"], "type": "B"}}})
        self.assertEqual(got["metadata"], {"labels": {"b": "2", "c": "3"}, "finalizers": ["y", "z"]})
        self.assertEqual(got["spec"]["containers"], [{"name": "c3", "image": "i3"},
                                                     {"name": "c2", "image": "i2b"}])
        self.assertEqual(got["spec"]["tolerations"], [{"key": "t2"}])    # no merge key: replaced
        self.assertEqual(got["spec"]["strategy"], {"type": "B"})
        replaced = smp(orig, {"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}})
        self.assertEqual(replaced["spec"]["containers"], [{"name": "only"}])
        self.assertEqual(smp(orig, {"spec": {"$patch": "replace", "x": 1}})["spec"], {"x": 1})
        self.assertNotIn("spec", smp(orig, {"spec": {"$patch": "delete"}}))

    def test_merge_and_json_patch(self):
        self.assertEqual(self.p.merge_patch({"a": {"b": 1, "c": [1]}, "d": 1},
                                            {"a": {"b": None, "c": [2]}, "e": {"f": None}}),
                         {"a": {"c": [2]}, "d": 1, "e": {}})
        doc = {"a": [1, 2], "b": {"c~/d": 1}}
        ops = [{"op": "add", "path": "/a/-", "value": 3}, {"op": "remove", "path": "/a/0"},
               {"op": "replace", "path": "/b/c~0~1d", "value": 2},
               {"op": "copy", "from": "/a", "path": "/e"}, {"op": "move", "from": "/e", "path": "/f"},
               {"op": "test", "path": "/f/1", "value": 3}]
        self.assertEqual(self.p.json_patch(doc, ops), {"a": [2, 3], "b": {"c~/d": 2}, "f": [2, 3]})
        self.assertEqual(doc, {"a": [1, 2], "b": {"c~/d": 1}})   # the original is left alone
        with self.assertRaises(self.p.PatchError):
            self.p.json_patch(doc, [{"op": "test", "path": "/a/0", "value": 9}])
        with self.assertRaises(self.p.PatchError):
            self.p.json_patch(doc, [{"op": "remove", "path": "/nope"}])

    def test_server_side_apply(self):
        ssa = lambda cur, cfg, mgr, applied, force=False: self.p.server_side_apply(
            cur, cfg, mgr, applied, force, self.keys)
        cfg1 = {"metadata": {"labels": {"a": "1", "b": "1"}},
                "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "image": "j"}]}}
        obj, applied = ssa({"metadata": {"name": "p", "labels": {"x": "0"}}}, cfg1, "m1", {})
        self.assertEqual(obj["metadata"]["labels"], {"x": "0", "a": "1", "b": "1"})
        cfg2 = {"metadata": {"labels": {"b": "1", "c": "2"}}, "spec": {"containers": [{"name": "d", "image": "j"}]}}
        obj, applied = ssa(obj, cfg2, "m2", applied)      # co-owns b, adds c and container d
        cfg1b = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        obj, applied = ssa(obj, cfg1b, "m1", applied)     # m1 drops b and d: m2 keeps them
        self.assertEqual(obj["metadata"]["labels"], {"x": "0", "a": "1", "b": "1", "c": "2"})
        self.assertEqual([c["name"] for c in obj["spec"]["containers"]], ["c", "d"])
        obj, applied = ssa(obj, {"metadata": {"labels": {"a": "1"}}}, "m1", applied)
        self.assertEqual([c["name"] for c in obj["spec"]["containers"]], ["d"])
        with self.assertRaises(Exception) as err:
            ssa(obj, {"metadata": {"labels": {"c": "9"}}}, "m1", applied)
        self.assertEqual(err.exception.code, 409)
        self.assertIn('conflict with "m2": .metadata.labels.c', err.exception.message)
        obj, applied = ssa(obj, {"metadata": {"labels": {"c": "9"}}}, "m1", applied, force=True)
        self.assertEqual(obj["metadata"]["labels"]["c"], "9")
        self.assertNotIn("c", applied["m2"]["metadata"]["labels"])


if __name__ == "__main__":
    unittest.main()


class StateTest(unittest.TestCase):
    """--state: the same objects, token and CA after a restart; older watches get 410."""

    def test_restart_keeps_objects(self):
        tmp = tempfile.mkdtemp(prefix="standin-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state.json")
        s = Server(self, "--state", state, tls=bool(OPENSSL), tmp=tmp)
        s.ok("POST", "/api/v1/namespaces", ns("x", team="a"))
        s.ok("POST", PODS.format("x"), pod("x", "a", "n1", app="web"))
        s.ok("POST", NETPOLS.format("x"), netpol("x", "db"))
        s.ok("PATCH", NETPOLS.format("x") + "/db?fieldManager=t", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "db", "namespace": "x", "labels": {"by": "t"}}},
             content_type="application/apply-patch+yaml")
        self.assertFalse(os.path.exists(state))
        self.assertEqual(s.ok("POST", "/_standin/save", {}, token=None)["state"], state)
        self.assertTrue(os.path.exists(state))
        s.ok("POST", "/api/v1/namespaces", ns("late"))   # after the save: SIGTERM writes it
        w = s.watch("/api/v1/pods?watch=1&resourceVersion=" + str(s.rv()))
        old_rv, token = s.rv(), s.token
        ca = read(os.path.join(s.dir, "ca.crt")) if OPENSSL else ""
        netpol_before = s.ok("GET", NETPOLS.format("x") + "/db")
        s.stop()   # SIGTERM writes the state again
        self.assertIsNone(w.next())
        again = Server(self, "--state", state, tls=bool(OPENSSL), tmp=s.tmp)
        self.assertEqual((again.token, again.rv()), (token, old_rv))
        if OPENSSL:
            self.assertEqual(read(os.path.join(again.dir, "ca.crt")), ca)
        self.assertEqual(again.ok("GET", NETPOLS.format("x") + "/db"), netpol_before)
        self.assertEqual(names(again.ok("GET", "/api/v1/namespaces")["items"]),
                         ["default", "kube-public", "kube-system", "late", "x"])
        # the history is empty: older resourceVersions are 410, the current one watches on
        status = again.watch(f"/api/v1/pods?watch=1&resourceVersion={old_rv - 1}").next()
        self.assertEqual((status["type"], status["object"]["code"]), ("ERROR", 410))
        live = again.watch(f"/api/v1/pods?watch=1&resourceVersion={old_rv}")
        created = again.ok("POST", PODS.format("x"), pod("x", "b", "n2"))
        self.assertEqual(created["metadata"]["resourceVersion"], str(old_rv + 1))
        self.assertEqual([e[:2] for e in live.events(1)], [("ADDED", "b")])
        # the applier's configuration survived: applying without the label removes it
        applied = again.ok("PATCH", NETPOLS.format("x") + "/db?fieldManager=t", {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "db", "namespace": "x"}},
            content_type="application/apply-patch+yaml")
        self.assertNotIn("by", applied["metadata"].get("labels", {}))

    def test_save_without_state_is_400(self):
        s = Server(self)
        self.assertEqual(s.request("POST", "/_standin/save", {}, token=None)[0], 400)
