"""The object store: objects by resource, one global resourceVersion, the event history that
watches and continue tokens replay from, and the open watches.

Like etcd behind kube-apiserver, every write takes the next resourceVersion (one counter for
all resources) and appends an event. The history keeps the last `compaction_window` events;
a watch or a paginated list that needs an older one is answered 410 Expired. A list at an
older resourceVersion (continue tokens, resourceVersionMatch=Exact) is the current state
with the later events rolled back, so every page of a paginated list is the same snapshot.

Stored objects are never mutated: writers build a new dict and commit it.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import re
import threading

from kinds import ApiError, Resource, bad_request, expired

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

Key = tuple[str, str]  # (namespace or "", name)


class Event:
    __slots__ = ("rv", "resource", "type", "key", "obj", "prev", "_json")

    def __init__(self, rv: int, resource: str, etype: str, key: Key, obj, prev):
        self.rv, self.resource, self.type, self.key = rv, resource, etype, key
        self.obj, self.prev = obj, prev  # object after and before; DELETED: obj = last state
        self._json = None

    def obj_json(self) -> bytes:
        """The object encoded once, shared by every watch that sends it."""
        if self._json is None:
            self._json = json.dumps(self.obj, separators=(",", ":")).encode()
        return self._json


# ---------------------------------------------------------------------------------------------
# Selectors

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"


def _split_selector(text: str) -> list[str]:
    """Split on commas that are not inside the parentheses of `in (a,b)`."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str):
    """A predicate over a labels dict for the labelSelector query parameter:
    `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas."""
    reqs = []
    for part in _split_selector(text or ""):
        if m := re.fullmatch(rf"(!?)\s*({_KEY})", part):
            neg, key = m.group(1) == "!", m.group(2)
            reqs.append(lambda l, k=key, n=neg: (k in l) != n)
        elif m := re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)", part):
            key, op, val = m.groups()
            if op == "!=":
                reqs.append(lambda l, k=key, v=val: l.get(k) != v)
            else:
                reqs.append(lambda l, k=key, v=val: l.get(k) == v)
        elif m := re.fullmatch(rf"({_KEY})\s+(in|notin)\s*\(([^)]*)\)", part):
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                reqs.append(lambda l, k=key, vs=vals: l.get(k) in vs)
            else:
                reqs.append(lambda l, k=key, vs=vals: l.get(k) not in vs)
        else:
            raise bad_request(f"unable to parse requirement: {part!r}")
    return lambda labels: all(r(labels) for r in reqs)


# Field selectors the real server supports per resource (metadata.* for every resource).
_POD_FIELDS = {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
               "status.nominatedNodeName"}
_FIELDS = {"pods": _POD_FIELDS, "namespaces": {"status.phase"},
           "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                      "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.fieldPath",
                      "involvedObject.resourceVersion", "reason", "reportingComponent", "source",
                      "type"}}


def _field_value(obj: dict, path: str) -> str:
    cur = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if cur is None:
        return "false" if path == "spec.hostNetwork" else ""
    return str(cur)


def parse_field_selector(text: str, resource: str):
    """A predicate over an object for `a=b`, `a==b`, `a!=b` joined by commas."""
    reqs = []
    allowed = {"metadata.name", "metadata.namespace"} | _FIELDS.get(resource, set())
    for part in _split_selector(text or ""):
        m = re.fullmatch(r"([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, val = m.groups()
        if field not in allowed:
            raise bad_request(f'field label not supported: {field}')
        if op == "!=":
            reqs.append(lambda o, f=field, v=val: _field_value(o, f) != v)
        else:
            reqs.append(lambda o, f=field, v=val: _field_value(o, f) == v)
    return lambda obj: all(r(obj) for r in reqs)


class Filter:
    """Which objects a list or watch wants: its namespace and its selectors."""

    def __init__(self, res: Resource, namespace: str | None, label_selector: str = "",
                 field_selector: str = ""):
        self.namespace = namespace
        self.labels = parse_label_selector(label_selector)
        self.fields = parse_field_selector(field_selector, res.plural)
        self.has_selectors = bool(label_selector or field_selector)

    def key_ok(self, key: Key) -> bool:
        return self.namespace is None or key[0] == self.namespace

    def __call__(self, key: Key, obj) -> bool:
        if obj is None or not self.key_ok(key):
            return False
        if not self.has_selectors:
            return True
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        labels = (meta.get("labels") if isinstance(meta, dict) else None) or {}
        return isinstance(labels, dict) and self.labels(labels) and self.fields(obj)


# ---------------------------------------------------------------------------------------------
# Watches

class Watcher:
    """One open watch: a queue the writers fill without ever blocking, and the handler thread
    drains. Items: ("event", type, Event-or-None, object) | ("initial_end", rv) |
    ("raw", bytes) | ("drop",)."""

    def __init__(self, res: Resource, flt: Filter, limit: int):
        self.res, self.filter, self.limit = res, flt, limit
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.closed: str | None = None   # why the server ends this watch: "overflow" | "drop"

    def push(self, item, live: bool = True) -> None:
        with self.cond:
            if self.closed:
                return
            if live and len(self.items) >= self.limit:
                # Like the cacher's "Forcing watcher close due to unresponsiveness": a client
                # that does not read must not hold memory or block writers.
                self.closed = "overflow"
                self.items.clear()
            elif item[0] == "drop":
                self.closed = "drop"
                self.items.clear()
            else:
                self.items.append(item)
            self.cond.notify()

    def pop(self, timeout: float):
        with self.cond:
            if not self.items and not self.closed:
                self.cond.wait(timeout)
            if self.items:
                return self.items.popleft()
            return ("closed", self.closed) if self.closed else None

    def empty(self) -> bool:
        with self.cond:
            return not self.items

    def offer(self, ev: Event, live: bool = True) -> None:
        """Queue ev as this watch sees it. With selectors, an object that stops matching is
        DELETED for this watch and one that starts matching is ADDED (as the watch cache does)."""
        was = self.filter(ev.key, ev.prev) if ev.type != ADDED else False
        now = self.filter(ev.key, ev.obj) if ev.type != DELETED else False
        if ev.type == DELETED:
            etype = DELETED if was else None
        elif was and now:
            etype = MODIFIED
        elif now:
            etype = ADDED
        elif was:
            etype = DELETED
        else:
            etype = None
        if etype:
            self.push(("event", etype, ev, None), live)


# ---------------------------------------------------------------------------------------------

class Store:
    def __init__(self, resources, compaction_window: int, watch_queue_limit: int):
        self.lock = threading.RLock()
        self.rv = 0
        self.objects: dict[str, dict[Key, dict]] = {r.plural: {} for r in resources}
        self.history: collections.deque[Event] = collections.deque()
        self.window = compaction_window
        self.compacted_rv = 0            # events up to here are forgotten
        self.events_compacted = 0
        self.watchers: set[Watcher] = set()
        self.watch_queue_limit = watch_queue_limit
        self.watches_dropped = 0         # by the drop_watches fault or for overflowing
        # Server-side apply: the last configuration each field manager applied, per object.
        self.applied: dict[tuple[str, Key], dict[tuple[str, str], dict]] = {}

    # -- reads ---------------------------------------------------------------------------

    def get(self, res: Resource, key: Key):
        with self.lock:
            return self.objects[res.plural].get(key)

    def _not_future(self, rv: int) -> int:
        """The real server waits up to 3 s for a resourceVersion it has not reached, then
        answers 504; we answer at once (it happens when a client outlives a restart of ours)."""
        if rv > self.rv:
            raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self.rv}",
                           {"causes": [{"reason": "ResourceVersionTooLarge",
                                        "message": "Too large resource version"}],
                            "retryAfterSeconds": 1})
        return rv

    def _state_at(self, res: Resource, rv: int) -> dict[Key, dict]:
        """The objects of res as they were at rv: the current ones, later events undone."""
        if rv < self.compacted_rv:
            raise expired(f"too old resource version: {rv} ({self.compacted_rv})")
        objs = dict(self.objects[res.plural])
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.resource != res.plural:
                continue
            if ev.type == ADDED:
                objs.pop(ev.key, None)
            else:
                objs[ev.key] = ev.prev
        return objs

    def list(self, res: Resource, flt: Filter, limit: int = 0, cont: str = "",
             rv: str = "", rv_match: str = "") -> tuple[list[dict], dict]:
        """Items sorted by namespace/name and the list metadata (resourceVersion, continue,
        remainingItemCount)."""
        with self.lock:
            start = None
            if cont:
                at, start = decode_continue(cont)
                if at < self.compacted_rv:
                    raise expired(_CONTINUE_EXPIRED)
            elif rv_match == "Exact" and rv not in ("", "0"):
                at = self._not_future(_int_rv(rv))
            else:
                # resourceVersion "", "0" or N with NotOlderThan: the current state is not
                # older than anything the caller can have seen.
                at = self.rv
            objs = self.objects[res.plural] if at == self.rv else self._state_at(res, at)
            keys = sorted(k for k in objs if flt.key_ok(k) and (start is None or k > start))
            items, meta, last = [], {"resourceVersion": str(at)}, None
            for i, k in enumerate(keys):
                if not flt(k, objs[k]):
                    continue
                if limit and len(items) == limit:
                    meta["continue"] = encode_continue(at, last)
                    if not flt.has_selectors:
                        meta["remainingItemCount"] = len(keys) - i
                    break
                items.append(objs[k])
                last = k
            return items, meta

    # -- writes (callers hold self.lock) ---------------------------------------------------

    def next_rv(self) -> int:
        return self.rv + 1

    def commit(self, res: Resource, etype: str, key: Key, obj, prev) -> Event:
        """Record a write whose object already carries resourceVersion next_rv()."""
        self.rv += 1
        table = self.objects[res.plural]
        if etype == DELETED:
            table.pop(key, None)
            self.applied.pop((res.plural, key), None)
        else:
            table[key] = obj
        ev = Event(self.rv, res.plural, etype, key, obj, prev)
        self.history.append(ev)
        while len(self.history) > self.window:
            self.compacted_rv = self.history.popleft().rv
            self.events_compacted += 1
        for w in list(self.watchers):
            if w.res.plural == res.plural:
                w.offer(ev)
                if w.closed:   # overflowed: it gets nothing more
                    self.watchers.discard(w)
                    self.watches_dropped += 1
        return ev

    def drop_watches(self) -> int:
        """The drop_watches fault: every open watch is cut."""
        with self.lock:
            watchers, self.watchers = self.watchers, set()
            self.watches_dropped += len(watchers)
        for w in watchers:
            w.push(("drop",))
        return len(watchers)

    def compact(self) -> None:
        """Forget the whole history (the `compact` fault)."""
        with self.lock:
            self.events_compacted += len(self.history)
            self.history.clear()
            self.compacted_rv = self.rv

    # -- state across restarts (--state) ---------------------------------------------------

    def dump_state(self) -> dict:
        """Objects, the resourceVersion counter and the appliers' configurations, as JSON."""
        with self.lock:
            objects = {plural: [{"key": list(k), "object": table[k]} for k in sorted(table)]
                       for plural, table in self.objects.items()}
            applied = [{"resource": r, "key": list(k), "manager": m, "subresource": sub,
                        "config": cfg}
                       for (r, k), per in sorted(self.applied.items())
                       for (m, sub), cfg in sorted(per.items())]
            return {"resource_version": self.rv, "objects": objects, "applied": applied}

    def load_state(self, state: dict) -> None:
        """The objects of an earlier run. The counter continues after the highest stored
        resourceVersion and the history starts empty, as after a restart of the real server
        on a compacted etcd: a watch from an older resourceVersion gets 410."""
        with self.lock:
            rv = int(state.get("resource_version", 0))
            for plural, items in state.get("objects", {}).items():
                if plural not in self.objects:
                    raise ValueError(f"state: unknown resource {plural!r}")
                for item in items:
                    key, obj = (str(item["key"][0]), str(item["key"][1])), item["object"]
                    self.objects[plural][key] = obj
                    meta = obj.get("metadata") if isinstance(obj, dict) else None
                    if isinstance(meta, dict) and str(meta.get("resourceVersion", "")).isdigit():
                        rv = max(rv, int(meta["resourceVersion"]))
            for a in state.get("applied", []):
                per = self.applied.setdefault((a["resource"], (a["key"][0], a["key"][1])), {})
                per[(a["manager"], a["subresource"])] = a["config"]
            self.rv = self.compacted_rv = rv
            self.history.clear()

    # -- watches ---------------------------------------------------------------------------

    def watch(self, res: Resource, flt: Filter, rv: str, send_initial: bool) -> Watcher:
        """Open a watch. rv "" or "0" (or sendInitialEvents): synthetic ADDED events for the
        current objects first; rv N: every event after N. Raises 410 for a compacted N."""
        with self.lock:
            w = Watcher(res, flt, self.watch_queue_limit)
            if rv in ("", "0") or send_initial:
                objs = self.objects[res.plural]
                for k in sorted(objs):
                    if flt(k, objs[k]):
                        w.push(("event", ADDED, None, objs[k]), live=False)
                if send_initial:   # the watch-list protocol: a bookmark marks the end
                    w.push(("initial_end", self.rv), live=False)
            else:
                n = self._not_future(_int_rv(rv))
                if n < self.compacted_rv:
                    raise expired(f"too old resource version: {n} ({self.compacted_rv})")
                for ev in self.history:
                    if ev.rv > n and ev.resource == res.plural:
                        w.offer(ev, live=False)
            self.watchers.add(w)
            return w

    def unwatch(self, w: Watcher) -> None:
        with self.lock:
            self.watchers.discard(w)

    def bookmark_rv(self, w: Watcher) -> int | None:
        """The resourceVersion a bookmark may announce now: the current one, but only when
        the watch has nothing queued (else the client would skip the queued events)."""
        with self.lock:
            return self.rv if w.empty() else None

    def open_watches(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for w in self.watchers:
                counts[w.res.plural] = counts.get(w.res.plural, 0) + 1
            return counts


_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter.")


def _int_rv(rv: str) -> int:
    try:
        n = int(rv)
        if n < 0:
            raise ValueError
        return n
    except ValueError:
        raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be a non-negative integer')


def encode_continue(rv: int, key: Key) -> str:
    """Like the real server's token: base64 JSON with the snapshot's resourceVersion and the
    key after which the next page starts."""
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\u0000"}
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, name = data["start"].rstrip("\u0000").split("/", 1)
        return int(data["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                          "(version meta.k8s.io/v1)")
