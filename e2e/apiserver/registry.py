"""The verbs: what get, create, update, patch and delete do to the store, with the
semantics of kube-apiserver's generic registry and of the few kind-specific strategies that
matter here (graceful pod deletion, namespace deletion, status subresources)."""

from __future__ import annotations

import copy
import secrets
import threading
import time

import kinds
import patches
from kinds import ApiError, Resource, bad_request
from store import ADDED, DELETED, MODIFIED, Filter, Key, Store


class Cluster:
    """The verbs. Each returns (HTTP code, body) or raises ApiError. All writes happen under
    the store lock, so a verb is atomic with respect to every other request."""

    PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")

    def __init__(self, store: Store, pod_termination_seconds: float):
        self.store = store
        self.pod_termination_seconds = pod_termination_seconds

    def seed(self) -> None:
        for res, obj in kinds.seed_objects():
            self.create(res, None, obj, dry_run=False)

    # -- helpers ---------------------------------------------------------------------------

    def _normalize(self, res: Resource, ns: str | None, body, name: str | None = None) -> dict:
        """A deep copy of the request body with kind, apiVersion, namespace and name checked
        against the URL and filled in."""
        kinds.check_shape(res, body)
        obj = {"kind": res.kind, "apiVersion": res.api_version,
               **{k: copy.deepcopy(v) for k, v in body.items() if k not in ("kind", "apiVersion")}}
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if name is not None:
            if meta.get("name") and meta["name"] != name:
                raise bad_request(f"the name of the object ({meta['name']}) does not match the "
                                  f"name on the URL ({name})")
            meta["name"] = name
        return obj

    def _current(self, res: Resource, ns: str | None, name: str) -> dict:
        obj = self.store.get(res, (ns or "", name))
        if obj is None:
            raise kinds.not_found(res, name)
        return obj

    def _check_namespace(self, res: Resource, ns: str | None) -> None:
        if not res.namespaced:
            return
        namespace = self.store.get(kinds.NAMESPACES, ("", ns))
        if namespace is None:
            raise kinds.not_found(kinds.NAMESPACES, ns)
        if namespace["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden",
                           f"unable to create new content in namespace {ns} because it is being "
                           "terminated", {"name": ns, "kind": "namespaces"})

    def _write(self, res: Resource, etype: str, key: Key, obj: dict, prev) -> dict:
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit(res, etype, key, obj, prev)
        return obj

    # -- verbs -----------------------------------------------------------------------------

    def get(self, res: Resource, ns: str | None, name: str) -> tuple[int, dict]:
        return 200, self._current(res, ns, name)

    def create(self, res: Resource, ns: str | None, body, dry_run: bool) -> tuple[int, dict]:
        obj = self._normalize(res, ns, body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        kinds.validate(res, obj)
        kinds.default_on_create(res, obj)
        with self.store.lock:
            self._check_namespace(res, ns)
            key = (ns or "", meta["name"])
            if self.store.get(res, key) is not None:
                raise kinds.already_exists(res, meta["name"])
            if dry_run:
                return 201, obj
            return 201, self._write(res, ADDED, key, obj, None)

    def _update_to(self, res: Resource, key: Key, new: dict, cur: dict, sub: str,
                   dry_run: bool) -> tuple[int, dict]:
        """Store new in place of cur. Like the real server, an update that changes nothing
        writes nothing: no new resourceVersion, no event."""
        new_rv = (new.get("metadata") or {}).get("resourceVersion")
        if new_rv and new_rv != cur["metadata"].get("resourceVersion"):
            raise kinds.conflict(res, key[1])
        obj = kinds.prepare_update(res, new, cur, sub)
        kinds.validate(res, obj)
        obj["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
        if obj == cur or dry_run:
            return 200, (cur if obj == cur else obj)
        return 200, self._write(res, MODIFIED, key, obj, cur)

    def update(self, res: Resource, ns: str | None, name: str, body, sub: str,
               dry_run: bool) -> tuple[int, dict]:
        new = self._normalize(res, ns, body, name)
        with self.store.lock:
            cur = self._current(res, ns, name)
            return self._update_to(res, (ns or "", name), new, cur, sub, dry_run)

    def patch(self, res: Resource, ns: str | None, name: str, content_type: str, patch,
              sub: str, dry_run: bool, manager: str, force: bool) -> tuple[int, dict]:
        key = (ns or "", name)
        keys = patches.merge_keys(res.kind)
        with self.store.lock:
            cur = self.store.get(res, key)
            if content_type == "application/apply-patch+yaml":
                return self._apply(res, ns, name, patch, sub, dry_run, manager, force, cur)
            if cur is None:
                raise kinds.not_found(res, name)
            try:
                if content_type == "application/merge-patch+json":
                    new = patches.merge_patch(cur, patch)
                elif content_type == "application/strategic-merge-patch+json":
                    if not isinstance(patch, dict):
                        raise patches.PatchError("a strategic merge patch must be a map", 400)
                    new = patches.strategic_merge(cur, patch, keys)
                elif content_type == "application/json-patch+json":
                    new = patches.json_patch(cur, patch)
                else:
                    raise ApiError(415, "UnsupportedMediaType",
                                   f"the body of the request was in an unknown format - "
                                   f"accepted media types include: application/json-patch+json, "
                                   f"application/merge-patch+json, application/apply-patch+yaml, "
                                   f"application/strategic-merge-patch+json")
            except patches.PatchError as e:
                raise e.api_error()
            new = self._normalize(res, ns, new, name)
            return self._update_to(res, key, new, cur, sub, dry_run)

    def _apply(self, res: Resource, ns: str | None, name: str, config, sub: str, dry_run: bool,
               manager: str, force: bool, cur) -> tuple[int, dict]:
        """Server-side apply (caller holds the lock): create if missing, else merge config
        as manager. Appliers are remembered per object and subresource."""
        if not manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be "
                              "set")
        if not isinstance(config, dict) or not config.get("kind") or not config.get("apiVersion"):
            raise bad_request("invalid object: apply configurations need apiVersion and kind")
        config = self._normalize(res, ns, config, name)
        keys = patches.merge_keys(res.kind)
        key = (ns or "", name)
        if cur is None:
            if sub:
                raise kinds.not_found(res, name)
            code, obj = self.create(res, ns, config, dry_run)
            if not dry_run:
                self.store.applied[(res.plural, key)] = {(manager, sub): config}
            return code, obj
        everyone = self.store.applied.get((res.plural, key), {})
        mine = {m: c for (m, s), c in everyone.items() if s == sub}
        new, applied = patches.server_side_apply(cur, config, manager, mine, force, keys)
        code, obj = self._update_to(res, key, self._normalize(res, ns, new, name), cur, sub,
                                    dry_run)
        if not dry_run:
            everyone = {k: v for k, v in everyone.items() if k[1] != sub}
            everyone.update({(m, sub): c for m, c in applied.items()})
            self.store.applied[(res.plural, key)] = everyone
        return code, obj

    def delete(self, res: Resource, ns: str | None, name: str, options: dict,
               dry_run: bool) -> tuple[int, dict]:
        key = (ns or "", name)
        with self.store.lock:
            cur = self._current(res, ns, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != cur["metadata"].get("uid"):
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: "
                               f"{pre['uid']}, UID in object meta: {cur['metadata'].get('uid')}")
            rv = cur["metadata"].get("resourceVersion")
            if pre.get("resourceVersion") and pre["resourceVersion"] != rv:
                raise kinds.conflict(res, name)
            if res is kinds.NAMESPACES:
                return self._delete_namespace(cur, dry_run)
            grace = options.get("gracePeriodSeconds")
            if res is kinds.PODS and grace is None:
                grace = (cur.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            scheduled = bool(kinds.field(cur, "spec", "nodeName"))
            if res is kinds.PODS and scheduled and grace and grace > 0:
                return self._terminate_pod(key, cur, int(grace), dry_run)
            return 200, self._remove(res, key, cur, dry_run)

    def _remove(self, res: Resource, key: Key, cur: dict, dry_run: bool) -> dict:
        """Delete at once. The DELETED event carries the last state with a new resourceVersion."""
        last = copy.deepcopy(cur)
        if dry_run:
            return last
        return self._write(res, DELETED, key, last, cur)

    def _terminate_pod(self, key: Key, cur: dict, grace: int, dry_run: bool) -> tuple[int, dict]:
        """Graceful deletion of a scheduled pod: the API server only marks it (deletionTimestamp,
        a MODIFIED event); the kubelet, played here by a timer, removes it once its containers
        stopped (the DELETED event). Deleting again with grace 0 removes it at once."""
        if cur["metadata"].get("deletionTimestamp"):
            return 200, cur
        new = copy.deepcopy(cur)
        new["metadata"]["deletionTimestamp"] = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + grace))
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return 200, new
        self._write(kinds.PODS, MODIFIED, key, new, cur)
        timer = threading.Timer(self.pod_termination_seconds, self._kubelet_removes,
                                (key, new["metadata"].get("uid")))
        timer.daemon = True
        timer.start()
        return 200, new

    def _kubelet_removes(self, key: Key, uid: str) -> None:
        with self.store.lock:
            cur = self.store.get(kinds.PODS, key)
            if cur is not None and cur["metadata"].get("uid") == uid:
                self._remove(kinds.PODS, key, cur, False)

    def _delete_namespace(self, cur: dict, dry_run: bool) -> tuple[int, dict]:
        """The real server marks the namespace Terminating and its controller deletes the
        content, then the namespace. We do all of it now, in that order, with those events."""
        name = cur["metadata"]["name"]
        if name in self.PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace '
                           "may not be deleted", {"name": name, "kind": "namespaces"})
        terminating = copy.deepcopy(cur)
        terminating["metadata"].setdefault("deletionTimestamp", kinds.now())
        terminating.setdefault("status", {})["phase"] = "Terminating"
        if dry_run:
            return 200, terminating
        if terminating != cur:
            self._write(kinds.NAMESPACES, MODIFIED, ("", name), terminating, cur)
        for res in kinds.RESOURCES:
            if res.namespaced:
                for key in sorted(k for k in self.store.objects[res.plural] if k[0] == name):
                    self._remove(res, key, self.store.objects[res.plural][key], False)
        self._remove(kinds.NAMESPACES, ("", name), terminating, False)
        return 200, terminating

    def delete_collection(self, res: Resource, ns: str | None, flt: Filter, options: dict,
                          dry_run: bool) -> tuple[int, dict]:
        with self.store.lock:
            items, meta = self.store.list(res, flt)
            deleted = []
            for obj in items:
                name = kinds.field(obj, "metadata", "name")
                if name and not (res is kinds.NAMESPACES and name in self.PROTECTED_NAMESPACES):
                    deleted.append(self.delete(res, ns, name, options, dry_run)[1])
        return 200, {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta,
                     "items": deleted}

    def store_raw(self, res: Resource, obj: dict) -> dict:
        """The store_raw fault: keep obj as it is (no validation, no defaulting) under a new
        resourceVersion, and tell the watches."""
        obj = copy.deepcopy(obj)
        meta = obj.get("metadata")
        with self.store.lock:
            if isinstance(meta, dict):
                key = (meta.get("namespace") or "" if res.namespaced else "",
                       str(meta.get("name") or f"raw-{self.store.next_rv()}"))
                meta["resourceVersion"] = str(self.store.next_rv())
            else:
                key = ("", f"raw-{self.store.next_rv()}")
            prev = self.store.get(res, key)
            self.store.commit(res, MODIFIED if prev is not None else ADDED, key, obj, prev)
            return obj
