#!/usr/bin/env python3
"""A stand-in for kube-apiserver, for nftpolicy's tests and benchmarks (see README.md).

    python3 apiserver.py --dir DIR [--listen HOST:PORT] [--tls] [--san IP_OR_DNS ...]
        [--compaction-window N] [--bookmark-interval SECONDS] [--pod-termination-seconds S]

Writes DIR/kubeconfig, DIR/token (and certificates with --tls), then DIR/url, prints
`ready <url>` and serves until killed. Python 3 standard library only.

This file: the HTTP layer (routing, auth, watch streams), the control API with fault
injection and statistics, certificates, kubeconfigs and main. The verbs are in registry.py,
objects, history and watches in store.py, the kinds in kinds.py.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kinds  # noqa: E402
import protobuf  # noqa: E402
from kinds import ApiError, Resource, bad_request  # noqa: E402
from registry import Cluster  # noqa: E402
from store import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, Filter, Store  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Faults and statistics

class Faults:
    """What tests inject through POST /_standin/faults (see README.md)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fails: list[dict] = []          # {status, count, path_prefix, method, verb}
        self.delays: dict[str, float] = {}   # path prefix -> seconds

    def reset(self) -> None:
        with self.lock:
            self.fails, self.delays = [], {}

    def add_fail(self, spec: dict) -> None:
        rule = {"status": int(spec.get("status", 500)), "count": int(spec.get("count", 1)),
                "path_prefix": spec.get("path_prefix", ""), "method": spec.get("method", ""),
                "verb": spec.get("verb", "")}
        with self.lock:
            self.fails.append(rule)

    def set_delay(self, ms: float, prefix: str) -> None:
        with self.lock:
            if ms > 0:
                self.delays[prefix] = ms / 1000.0
            else:
                self.delays.pop(prefix, None)

    def before(self, method: str, path: str, verb: str) -> None:
        """Delay, then fail, a request the faults match."""
        with self.lock:
            delay = max((s for p, s in self.delays.items() if path.startswith(p)), default=0)
        if delay:
            time.sleep(delay)
        with self.lock:
            for rule in self.fails:
                if (rule["count"] > 0 and path.startswith(rule["path_prefix"])
                        and rule["method"] in ("", method) and rule["verb"] in ("", verb)):
                    rule["count"] -= 1
                    code = rule["status"]
                    reason = kinds.REASONS.get(code, "Unknown")
                    raise ApiError(code, reason, f"injected fault: {reason} ({code})",
                                   headers={"Retry-After": "1"} if code == 429 else None)

    def describe(self) -> dict:
        with self.lock:
            return {"fail": [dict(r) for r in self.fails if r["count"] > 0],
                    "delays_ms": {p: s * 1000 for p, s in self.delays.items()}}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.counters = {"watches_started": 0, "expired_410": 0, "unauthorized_401": 0}

    def count(self, method: str, resource: str, verb: str) -> None:
        with self.lock:
            k = (method, resource, verb)
            self.requests[k] = self.requests.get(k, 0) + 1

    def bump(self, counter: str) -> None:
        with self.lock:
            self.counters[counter] += 1

    def snapshot(self, store: Store) -> dict:
        with self.lock:
            reqs = [{"method": m, "resource": r, "verb": v, "count": n}
                    for (m, r, v), n in sorted(self.requests.items())]
            verbs: dict[str, dict[str, int]] = {}
            for (m, r, v), n in self.requests.items():
                per_verb = verbs.setdefault(r, {})
                per_verb[v] = per_verb.get(v, 0) + n
            counters = dict(self.counters)
        with store.lock:
            return {"requests": reqs, "verbs": verbs, "watches_open": store.open_watches(),
                    "resource_version": str(store.rv), "compacted_rv": str(store.compacted_rv),
                    "events_compacted": store.events_compacted,
                    "watches_dropped": store.watches_dropped, **counters}


class App:
    """Everything a request handler needs."""

    def __init__(self, args, store: Store, token: str):
        self.args, self.store = args, store
        self.cluster = Cluster(store, args.pod_termination_seconds)
        self.faults, self.stats = Faults(), Stats()
        self.initial_tokens = {token}
        self.tokens = {token}
        self.server_address = ""

    def save_state(self) -> str:
        """--state: the objects, the resourceVersion counter and the startup token, written
        atomically (POST /_standin/save, SIGTERM, SIGINT)."""
        path = self.args.state
        if not path:
            raise bad_request("save: the stand-in runs without --state")
        state = {**self.store.dump_state(), "token": next(iter(self.initial_tokens))}
        write_file(path, json.dumps(state, separators=(",", ":")) + "\n", 0o600)
        return path


# ---------------------------------------------------------------------------------------------
# HTTP

class Route:
    def __init__(self, res: Resource, ns: str | None, name: str | None, sub: str):
        self.res, self.ns, self.name, self.sub = res, ns, name, sub

    @property
    def resource(self) -> str:
        return f"{self.res.plural}/{self.sub}" if self.sub else self.res.plural


def parse_route(path: str) -> Route | None:
    """/api/v1[/namespaces/NS]/RES[/NAME[/SUB]] and /apis/G/V[/namespaces/NS]/RES[/NAME[/SUB]]."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        prefix, rest = f"/api/{parts[1]}", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        prefix, rest = f"/apis/{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces" and (prefix, rest[2]) in kinds.BY_PATH:
        ns, rest = rest[1], rest[2:]
    res = kinds.BY_PATH.get((prefix, rest[0]))
    if res is None or len(rest) > 3 or (ns is not None and not res.namespaced):
        return None
    name = urllib.parse.unquote(rest[1]) if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub and not (sub == "status" and res.status):
        return None
    return Route(res, ns, name, sub)


def verb_of(method: str, route: Route, query: dict) -> str:
    if method == "GET":
        if route.name:
            return "get"
        return "watch" if query.get("watch") in ("1", "true") else "list"
    if method == "DELETE" and not route.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method,
                                                                                        method)


NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource", {})
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # else headers and body wait for a delayed ACK (40 ms)
    app: App

    def version_string(self) -> str:
        return "nftpolicy-apiserver-standin"

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        if self.app.args.verbose:
            sys.stderr.write(f"standin: {self.address_string()} {fmt % args}\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self.handle_request()

    # -- responses -------------------------------------------------------------------------

    def send_body(self, code: int, data: bytes, content_type: str = "application/json",
                  headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, code: int, obj, headers: dict | None = None) -> None:
        self.send_body(code, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def json_body(self, raw: bytes, required: bool = True):
        """The request body as JSON; kubectl's typed clients send protobuf (see protobuf.py)."""
        if not raw.strip():
            if required:
                raise bad_request("the body of the request was empty")
            return {}
        if self.headers.get("Content-Type", "").startswith(protobuf.CONTENT_TYPE):
            try:
                return protobuf.decode(raw)
            except (protobuf.ProtobufError, KeyError, UnicodeDecodeError) as e:
                raise ApiError(415, "UnsupportedMediaType", str(e))
        try:
            return json.loads(raw)
        except ValueError as e:
            raise bad_request(f"the body of the request was in an unknown format - only JSON "
                              f"bodies are accepted by this stand-in ({e})")

    # -- dispatch --------------------------------------------------------------------------

    def handle_request(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in
                 urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        self.query, self.streaming = query, False
        try:
            body = self.read_body()
            if path.startswith("/_standin/"):
                return self.control(path, body)
            route = parse_route(path)
            verb = verb_of(self.command, route, query) if route is not None else "nonresource"
            self.app.stats.count(self.command, route.resource if route is not None else "", verb)
            if not self.authenticated() and not (path in PUBLIC_PATHS and
                                                  "Authorization" not in self.headers):
                self.app.stats.bump("unauthorized_401")
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self.app.faults.before(self.command, path, verb)
            if route is None:
                return self.nonresource(path)
            return self.resource(route, query, body)
        except ApiError as e:
            if e.code == 410:
                self.app.stats.bump("expired_410")
            self.send_json(e.code, e.status(), e.headers)
        except OSError:   # the client went away
            self.close_connection = True
        except Exception as e:  # a bug here: answer 500 like the real server's panic handler
            traceback.print_exc()
            self.close_connection = True
            if not self.streaming:
                self.send_json(500, kinds.status_body(500, "InternalError",
                                                      f"Internal error occurred: {e!r}"))

    def authenticated(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[len("Bearer "):].strip() in self.app.tokens:
            return True
        if isinstance(self.connection, ssl.SSLSocket):
            # Client certificates: the TLS layer verified the chain against our CA.
            return bool(self.connection.getpeercert())
        # Plain http: kubectl (client-go) never sends the kubeconfig's credentials over http,
        # so anonymous requests are let in unless --require-auth; a wrong token is still 401.
        return not auth and not self.app.args.require_auth

    def nonresource(self, path: str) -> None:
        if self.command != "GET":
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on "
                           f"the requested resource")
        p = path.rstrip("/") or "/"
        parts = p.strip("/").split("/")
        doc = None
        if p in ("/healthz", "/livez", "/readyz"):
            return self.send_body(200, b"ok", "text/plain; charset=utf-8")
        if p == "/version":
            doc = kinds.SERVER_VERSION
        elif p == "/api":
            doc = kinds.api_versions(self.app.server_address)
        elif p == "/apis":
            doc = kinds.api_group_list()
        elif parts[0] == "api" and len(parts) == 2:
            doc = kinds.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = kinds.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = kinds.api_resource_list(parts[1], parts[2])
        elif p == "/openapi/v3":
            doc = kinds.openapi_root()
        elif p.startswith("/openapi/v3/api/") and len(parts) == 4:
            doc = kinds.openapi_gv_doc("", parts[3])
        elif p.startswith("/openapi/v3/apis/") and len(parts) == 5:
            doc = kinds.openapi_gv_doc(parts[3], parts[4])
        if doc is None:
            raise NOT_FOUND
        self.send_json(200, doc)

    def resource(self, route: Route, query: dict, raw: bytes) -> None:
        cl, res, method = self.app.cluster, route.res, self.command
        dry_run = query.get("dryRun", "")
        if dry_run not in ("", "All"):
            raise bad_request(f'Invalid dry run value "{dry_run}": valid values are "All"')
        dry = dry_run == "All"
        if route.name is None:
            flt_args = (query.get("labelSelector", ""), query.get("fieldSelector", ""))
            if method == "GET" and query.get("watch") in ("1", "true"):
                return self.watch(route, query, Filter(res, route.ns, *flt_args))
            if method == "GET":
                return self.list(route, query, Filter(res, route.ns, *flt_args))
            if res.namespaced and route.ns is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method "
                               "on the requested resource")
            if method == "POST":
                return self.reply(route, *cl.create(res, route.ns, self.json_body(raw), dry))
            if method == "DELETE":
                opts = self.delete_options(query, raw)
                return self.reply(route, *cl.delete_collection(res, route.ns,
                                                               Filter(res, route.ns, *flt_args),
                                                               opts, dry))
        elif method == "GET":
            return self.reply(route, *cl.get(res, route.ns, route.name))
        elif method == "PUT":
            return self.reply(route, *cl.update(res, route.ns, route.name, self.json_body(raw),
                                                route.sub, dry))
        elif method == "PATCH":
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            return self.reply(route, *cl.patch(res, route.ns, route.name, ctype,
                                               self.json_body(raw), route.sub, dry,
                                               query.get("fieldManager", ""),
                                               query.get("force") == "true"))
        elif method == "DELETE" and not route.sub:
            return self.reply(route, *cl.delete(res, route.ns, route.name,
                                                self.delete_options(query, raw), dry))
        raise ApiError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource")

    def delete_options(self, query: dict, raw: bytes) -> dict:
        opts = self.json_body(raw, required=False)
        if not isinstance(opts, dict):
            raise bad_request("DeleteOptions must be an object")
        if "gracePeriodSeconds" in query:
            try:
                opts["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError:
                raise bad_request("gracePeriodSeconds must be an integer")
        return opts

    def wants_table(self) -> bool:
        return "as=Table" in self.headers.get("Accept", "")

    def reply(self, route: Route, code: int, obj: dict) -> None:
        if self.wants_table() and self.command == "GET" and not route.sub:
            meta = {"resourceVersion": kinds.field(obj, "metadata", "resourceVersion")}
            obj = kinds.table(route.res, [obj], self.include_object(), meta)
        self.send_json(code, obj)

    def include_object(self) -> str:
        return self.query.get("includeObject", "Metadata")

    def list(self, route: Route, query: dict, flt: Filter) -> None:
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise bad_request("limit must be an integer")
        items, meta = self.app.store.list(route.res, flt, limit, query.get("continue", ""),
                                          query.get("resourceVersion", ""),
                                          query.get("resourceVersionMatch", ""))
        if self.wants_table():
            return self.send_json(200, kinds.table(route.res, items, self.include_object(), meta))
        self.send_json(200, {"kind": f"{route.res.kind}List", "apiVersion": route.res.api_version,
                             "metadata": meta, "items": items})

    # -- watch -----------------------------------------------------------------------------

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def write_event(self, etype: str, obj=None, obj_json: bytes | None = None,
                    route: Route | None = None) -> None:
        if route is not None and self.wants_table() and etype in (ADDED, MODIFIED, DELETED):
            obj = kinds.table(route.res, [obj], self.include_object(),
                              {"resourceVersion": kinds.field(obj, "metadata", "resourceVersion")})
            obj_json = None
        if obj_json is None:
            obj_json = json.dumps(obj, separators=(",", ":")).encode()
        self.write_chunk(b'{"type":"%s","object":%s}\n' % (etype.encode(), obj_json))

    def client_gone(self) -> bool:
        """Has the client closed the connection? (it sends nothing else on a watch)"""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            self.connection.settimeout(0.05)
            try:
                return self.connection.recv(1) == b""
            finally:
                self.connection.settimeout(None)
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True

    def watch(self, route: Route, query: dict, flt: Filter) -> None:
        """A chunked stream of one JSON event per line, as the real server writes it."""
        store, res = self.app.store, route.res
        try:
            timeout = float(query.get("timeoutSeconds") or 0)
        except ValueError:
            raise bad_request("timeoutSeconds must be a number")
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        initial = query.get("sendInitialEvents") == "true"
        watcher, error = None, None
        try:
            watcher = store.watch(res, flt, query.get("resourceVersion", ""), initial)
        except ApiError as e:
            if e.code != 410:
                raise
            error = e   # a too-old resourceVersion is an ERROR event in a 200 stream, not a 410
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = self.streaming = True
        if error is not None:
            self.app.stats.bump("expired_410")
            self.write_event(ERROR, error.status())
            self.write_chunk(b"")
            return
        self.app.stats.bump("watches_started")
        try:
            if self.stream(route, watcher, timeout, bookmarks):
                self.write_chunk(b"")   # a clean end of the stream
        except OSError:   # the client went away
            pass
        finally:
            store.unwatch(watcher)

    def stream(self, route: Route, watcher, timeout: float, bookmarks: bool) -> bool:
        """Send events until the timeout (True: end cleanly) or a drop (False: cut)."""
        res, store = route.res, self.app.store
        interval = self.app.args.bookmark_interval
        deadline = time.monotonic() + timeout if timeout > 0 else None
        next_bookmark = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return True
            # wake at least twice a second to notice clients that went away
            waits = [0.5] + ([next_bookmark - now] if bookmarks else []) + \
                ([deadline - now] if deadline else [])
            item = watcher.pop(max(0.0, min(waits)))
            if item is None:
                if self.client_gone():
                    return False
                if bookmarks and time.monotonic() >= next_bookmark:
                    rv = store.bookmark_rv(watcher)
                    if rv is not None:
                        self.write_event(BOOKMARK, {"kind": res.kind, "apiVersion": res.api_version,
                                                    "metadata": {"resourceVersion": str(rv)}})
                        next_bookmark = time.monotonic() + interval
                continue
            kind = item[0]
            if kind == "closed":
                if item[1] == "drop":   # the drop_watches fault: cut the connection mid-stream
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return False
                return True             # overflow: end cleanly, the client re-watches
            if kind == "event":
                _, etype, ev, obj = item
                if ev is not None:
                    obj = ev.obj
                    if not self.wants_table():
                        self.write_event(etype, obj_json=ev.obj_json())
                        continue
                self.write_event(etype, obj, route=route)
            elif kind == "initial_end":
                self.write_event(BOOKMARK, {
                    "kind": res.kind, "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(item[1]),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
            elif kind == "raw":
                self.write_chunk(item[1])

    # -- control API (tests only, no auth) -------------------------------------------------

    def control(self, path: str, raw: bytes) -> None:
        app = self.app
        if path == "/_standin/stats" and self.command == "GET":
            return self.send_json(200, app.stats.snapshot(app.store))
        if path == "/_standin/faults" and self.command == "GET":
            return self.send_json(200, {**app.faults.describe(), "tokens": sorted(app.tokens)})
        if path == "/_standin/save" and self.command == "POST":
            return self.send_json(200, {"ok": True, "state": app.save_state(),
                                        "resource_version": str(app.store.rv)})
        if path == "/_standin/reset" and self.command == "POST":
            app.faults.reset()
            app.tokens = set(app.initial_tokens)
            return self.send_json(200, {"ok": True})
        if path == "/_standin/faults" and self.command == "POST":
            spec = self.json_body(raw)
            if not isinstance(spec, dict):
                raise bad_request("faults: expected a JSON object")
            try:
                return self.send_json(200, {"ok": True, **self.apply_faults(spec)})
            except (AttributeError, TypeError, ValueError) as e:
                raise bad_request(f"faults: {e}")
        raise NOT_FOUND

    def apply_faults(self, spec: dict) -> dict:
        app, out = self.app, {}
        known = {"drop_watches", "fail", "delay_ms", "path_prefix", "malformed_event", "compact",
                 "tokens", "store_raw"}
        if set(spec) - known:
            raise bad_request(f"faults: unknown keys {sorted(set(spec) - known)}")
        if "tokens" in spec:
            if not isinstance(spec["tokens"], list):
                raise bad_request("faults: tokens must be a list of strings")
            app.tokens = {str(t) for t in spec["tokens"]}
        if spec.get("compact"):
            app.store.compact()
        if "store_raw" in spec:
            raw = spec["store_raw"]
            res = kinds.BY_PLURAL.get(raw.get("resource", ""))
            if res is None:
                raise bad_request(f"store_raw: unknown resource {raw.get('resource')!r}")
            out["object"] = app.cluster.store_raw(res, raw.get("object"))
        if "fail" in spec:
            app.faults.add_fail(spec["fail"])
        if "delay_ms" in spec:
            app.faults.set_delay(float(spec["delay_ms"]), spec.get("path_prefix", ""))
        if "malformed_event" in spec:
            out["watches"] = self.malformed(spec["malformed_event"])
        if spec.get("drop_watches"):
            out["dropped"] = app.store.drop_watches()
        return out

    def malformed(self, spec: dict) -> int:
        res = kinds.BY_PLURAL.get(spec.get("resource", ""))
        if res is None:
            raise bad_request(f"malformed_event: unknown resource {spec.get('resource')!r}")
        if spec.get("kind", "json") == "json":
            line = b'{"type":"ADDED","object":{"kind":"' + res.kind.encode() + b'","metadata":\n'
        else:
            obj = spec.get("object")
            if obj is None:   # syntactically fine, wrong for the kind
                obj = {"kind": res.kind, "apiVersion": res.api_version, "metadata": "malformed"}
                if res is kinds.PODS:
                    obj["status"] = {"podIPs": 42}
            line = json.dumps({"type": ADDED, "object": obj}).encode() + b"\n"
        with self.app.store.lock:
            watchers = [w for w in self.app.store.watchers if w.res is res]
        for w in watchers:
            w.push(("raw", line))
        return len(watchers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return   # clients that go away or fail the TLS handshake
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs

def make_certs(d: str, sans: list[str]) -> None:
    """A CA, a server certificate for 127.0.0.1, ::1, localhost and every --san, and a client
    certificate (CN nftpolicy-agent), all ECDSA P-256, with the openssl CLI."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = lambda name: os.path.join(d, name)  # noqa: E731
    openssl("req", "-x509", *key, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "3650",
            "-subj", "/CN=nftpolicy-standin-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    alt = []
    for s in ["127.0.0.1", "::1", "localhost", *sans]:
        try:
            alt.append(f"IP:{ipaddress.ip_address(s)}")
        except ValueError:
            alt.append(f"DNS:{s}")
    for name, cn, usage in (("server", "nftpolicy-standin-apiserver", "serverAuth"),
                            ("client", "nftpolicy-agent", "clientAuth")):
        openssl("req", "-new", *key, "-keyout", p(f"{name}.key"), "-out", p(f"{name}.csr"),
                "-subj", f"/CN={cn}")
        with open(p(f"{name}.ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage={usage}\n")
            if name == "server":
                f.write(f"subjectAltName={','.join(alt)}\n")
        openssl("x509", "-req", "-in", p(f"{name}.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                "-set_serial", str(secrets.randbits(63)), "-days", "3650", "-out", p(f"{name}.crt"),
                "-extfile", p(f"{name}.ext"))
        os.remove(p(f"{name}.csr"))
        os.remove(p(f"{name}.ext"))
    for k in ("ca.key", "server.key", "client.key"):
        os.chmod(p(k), 0o600)


def kubeconfig(url: str, cluster: dict, user: dict) -> str:
    """A kubeconfig in block YAML (strings quoted): one cluster, user and context `standin`."""
    def block(d: dict) -> str:
        return "".join(f"    {k}: {json.dumps(v)}\n" for k, v in d.items())
    return ("apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: standin\n  cluster:\n"
            f"    server: {json.dumps(url)}\n{block(cluster)}"
            f"users:\n- name: standin\n  user:\n{block(user)}"
            "contexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n"
            "    namespace: default\n"
            "current-context: standin\npreferences: {}\n")


def write_file(path: str, text: str, mode: int = 0o644) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_client_files(d: str, url: str, token: str, tls: bool) -> None:
    write_file(os.path.join(d, "token"), token + "\n", 0o600)
    if not tls:
        write_file(os.path.join(d, "kubeconfig"), kubeconfig(url, {}, {"token": token}), 0o600)
        return
    b64 = lambda name: base64.b64encode(open(os.path.join(d, name), "rb").read()).decode()  # noqa
    ca = {"certificate-authority-data": b64("ca.crt")}
    write_file(os.path.join(d, "kubeconfig"), kubeconfig(url, ca, {"token": token}), 0o600)
    write_file(os.path.join(d, "kubeconfig-cert"), kubeconfig(url, ca, {
        "client-certificate-data": b64("client.crt"), "client-key-data": b64("client.key")}), 0o600)
    write_file(os.path.join(d, "kubeconfig-files"), kubeconfig(
        url, {"certificate-authority": os.path.join(d, "ca.crt")},
        {"client-certificate": os.path.join(d, "client.crt"),
         "client-key": os.path.join(d, "client.key")}), 0o600)


# ---------------------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="A kube-apiserver stand-in for nftpolicy's tests.")
    ap.add_argument("--dir", required=True, help="where kubeconfig, token, url (and certs) go")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 picks a free one")
    ap.add_argument("--tls", action="store_true", help="serve https, accept client certificates")
    ap.add_argument("--san", action="append", default=[], help="extra server certificate SAN")
    ap.add_argument("--compaction-window", type=int, default=10000,
                    help="events kept for watches and continue tokens")
    ap.add_argument("--bookmark-interval", type=float, default=1.0,
                    help="seconds between BOOKMARK events on watches that allow them")
    ap.add_argument("--pod-termination-seconds", type=float, default=0.2,
                    help="how long a gracefully deleted scheduled pod takes to go away")
    ap.add_argument("--watch-queue-limit", type=int, default=100000,
                    help="events a watch may have queued before it is closed")
    ap.add_argument("--require-auth", action="store_true",
                    help="plain http: refuse requests without credentials too (kubectl cannot "
                         "send any over http)")
    ap.add_argument("--state", default="",
                    help="keep the objects across restarts: load FILE at start if it exists "
                         "(reusing its token, and DIR's certificates), write it on SIGTERM, "
                         "SIGINT and POST /_standin/save")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the parent process dies")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    return ap.parse_args(argv)


CERT_FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key")


def load_state(path: str, store: Store) -> dict:
    """--state: the file of an earlier run into the store; {} when there is none yet."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        state = json.load(f)
    store.load_state(state)
    return state


def split_host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def main(argv=None) -> None:
    args = parse_args(argv)
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    for name in ("url", "kubeconfig", "kubeconfig-cert", "kubeconfig-files"):
        if os.path.exists(os.path.join(d, name)):
            os.remove(os.path.join(d, name))   # nobody may read the last run's files as ready

    host, port = split_host_port(args.listen)
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = Server((host, port), Handler)
    store = Store(kinds.RESOURCES, args.compaction_window, args.watch_queue_limit)
    state = load_state(args.state, store)
    token = state.get("token") or secrets.token_hex(24)
    app = App(args, store, token)
    if not state:
        app.cluster.seed()
    Handler.app = app

    if args.tls:
        # A restart with --state keeps the CA: the clients' kubeconfigs stay valid.
        if not (state and all(os.path.exists(os.path.join(d, f)) for f in CERT_FILES)):
            make_certs(d, args.san)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        ctx.load_verify_locations(os.path.join(d, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        # The handshake happens in the request's thread (Handler.setup), not in accept().
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

    port = server.server_address[1]
    client_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{client_host}]" if ":" in client_host else client_host
    url = f"{'https' if args.tls else 'http'}://{shown}:{port}"
    app.server_address = f"{shown}:{port}"
    write_client_files(d, url, token, args.tls)
    write_file(os.path.join(d, "url"), url + "\n")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=watch_parent, daemon=True).start()

    print(f"ready {url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:   # SIGTERM ends serve_forever with SystemExit, SIGINT with KeyboardInterrupt
        if args.state:
            app.save_state()


if __name__ == "__main__":
    main()
