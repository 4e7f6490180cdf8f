"""What the stand-in serves and how it treats each kind.

The resource table (adding a resource is one line), the errors as kube-apiserver words them,
the discovery and OpenAPI documents kubectl reads, Table rendering for `kubectl get`, and the
little validation and defaulting of the real server that matters to kubectl and to the agent.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass

SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-standin",
                  "gitCommit": "0000000000000000000000000000000000000000",
                  "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
                  "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64"}


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str                        # "" is the core (legacy) group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status: bool = False              # has a status subresource: main writes keep the old status
    categories: tuple[str, ...] = ()
    names: str = "subdomain"          # how metadata.name is validated: label, subdomain, path

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def qualified(self) -> str:
        """The name error messages use: "pods", "networkpolicies.networking.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), status=True, names="label"),
    Resource("pods", "Pod", "", "v1", True, ("po",), status=True, categories=("all",)),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",)),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Resource("events", "Event", "", "v1", True, ("ev",)),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",)),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",), status=True,
             categories=("all",)),
    Resource("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False, names="path"),
    Resource("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False,
             names="path"),
    Resource("roles", "Role", "rbac.authorization.k8s.io", "v1", True, names="path"),
    Resource("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True, names="path"),
    Resource("priorityclasses", "PriorityClass", "scheduling.k8s.io", "v1", False, ("pc",)),
)

BY_PATH = {(r.prefix, r.plural): r for r in RESOURCES}      # ("/api/v1", "pods") -> Resource
BY_PLURAL = {r.plural: r for r in RESOURCES}
NAMESPACES = BY_PLURAL["namespaces"]
PODS = BY_PLURAL["pods"]
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs in table order, each once."""
    out: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in out:
            out.append((r.group, r.version))
    return out


# ---------------------------------------------------------------------------------------------
# Errors: a kube-apiserver Status body for every failure.

class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.headers = details, headers or {}

    def status(self) -> dict:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def _details(res: Resource, name: str) -> dict:
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return d


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                    _details(res, name))


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    _details(res, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (reason, field, message) as field.Error; the message joins them like the real one."""
    text = "; ".join(f"{field}: {msg}" for _, field, msg in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{field}: {msg}" for _, field, msg in causes) + "]"
    details = {"name": name, "kind": res.kind,
               "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]}
    if res.group:
        details["group"] = res.group
    return ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: {text}', details)


# ---------------------------------------------------------------------------------------------
# Discovery. We answer the legacy (unaggregated) documents: kubectl 1.32 asks /api and /apis
# for aggregated discovery (apidiscovery.k8s.io/v2) but falls back to these when the response's
# Content-Type is plain application/json, then fetches /api/v1 and /apis/<g>/<v>.

def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group(name: str) -> dict:
    versions = [{"groupVersion": f"{g}/{v}", "version": v}
                for g, v in group_versions() if g == name]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    groups = [g for g, _ in group_versions() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g) for g in dict.fromkeys(groups)]}


def api_group(name: str) -> dict | None:
    if name not in {g for g, _ in group_versions() if g}:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def api_resource_list(group: str, version: str) -> dict | None:
    resources = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry = {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": VERBS}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        if r.status:
            resources.append({"name": f"{r.plural}/status", "singularName": "",
                              "namespaced": r.namespaced, "kind": r.kind,
                              "verbs": ["get", "patch", "update"]})
    if not resources:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


# ---------------------------------------------------------------------------------------------
# OpenAPI v3, just enough for kubectl's default validation (--validate=strict). kubectl asks
# whether the server does field validation itself: in /openapi/v3/<gv> it looks for the PATCH
# operation tagged with the kind's x-kubernetes-group-version-kind and checks that it takes a
# `fieldValidation` query parameter. If so it sends fieldValidation=Strict and validates nothing
# on the client; if not it would need the full /openapi/v2 schema. The PATCH operations carry
# no requestBody, so `kubectl apply` does not find strategic merge patch metadata here and
# computes its patches from the types compiled into it, exactly as for the real types.

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_gv_doc(group: str, version: str) -> dict | None:
    paths = {}
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        ns = "/namespaces/{namespace}" if r.namespaced else ""
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        op = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk,
              "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}}
                             for p in _QUERY_PARAMS],
              "responses": {"200": {"description": "OK"}}}
        paths[f"{r.prefix}{ns}/{r.plural}/{{name}}"] = {"patch": op}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (nftpolicy stand-in)",
                                         "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def openapi_root() -> dict:
    paths = {}
    for g, v in group_versions():
        doc = json.dumps(openapi_gv_doc(g, v), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:32].upper()
        paths[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={digest}"}
    return {"paths": paths}


# ---------------------------------------------------------------------------------------------
# Tables: `kubectl get` asks for application/json;as=Table;v=v1;g=meta.k8s.io and prints the
# columns the server chose. Priority-1 columns appear only with -o wide.

def field(obj, *path: str):
    """obj[path...] where every step is a map, else None (tables must print anything)."""
    for p in path:
        obj = obj.get(p) if isinstance(obj, dict) else None
    return obj


def _age(obj: dict) -> str:
    ts = field(obj, "metadata", "creationTimestamp")
    try:
        secs = max(0, int(time.time() - calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))))
    except (TypeError, ValueError):
        return "<unknown>"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= 2 * size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _selector_text(sel) -> str:
    if not isinstance(sel, dict) or not sel:
        return "<none>"
    try:
        parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
        for e in sel.get("matchExpressions") or []:
            parts.append(f"{e.get('key')} {str(e.get('operator', '')).lower()} "
                         f"({','.join(map(str, e.get('values') or []))})")
    except (AttributeError, TypeError):   # objects stored raw may be anything
        return "<invalid>"
    return ",".join(parts) or "<none>"


def _pod_status(p: dict) -> str:
    if field(p, "metadata", "deletionTimestamp"):
        return "Terminating"
    return str(field(p, "status", "phase") or "Pending")


def _pod_ready(p: dict) -> str:
    containers = field(p, "spec", "containers")
    statuses = field(p, "status", "containerStatuses")
    ready = sum(1 for c in statuses if field(c, "ready")) if isinstance(statuses, list) else 0
    return f"{ready}/{len(containers) if isinstance(containers, list) else 0}"


def _text(*path: str, none: str = ""):
    return lambda o: str(field(o, *path) or none)


_NAME = ("Name", "string", 0, _text("metadata", "name"))
_AGE = ("Age", "string", 0, _age)
COLUMNS = {
    "namespaces": [_NAME, ("Status", "string", 0, _text("status", "phase")), _AGE],
    "pods": [_NAME, ("Ready", "string", 0, _pod_ready), ("Status", "string", 0, _pod_status),
             ("Restarts", "string", 0, lambda o: "0"), _AGE,
             ("IP", "string", 1, _text("status", "podIP", none="<none>")),
             ("Node", "string", 1, _text("spec", "nodeName", none="<none>"))],
    "networkpolicies": [_NAME, ("Pod-Selector", "string", 0,
                                lambda o: _selector_text(field(o, "spec", "podSelector"))),
                        _AGE],
    "priorityclasses": [_NAME, ("Value", "integer", 0, lambda o: field(o, "value") or 0), _AGE],
}


def table(res: Resource, objs: list[dict], include: str, list_meta: dict) -> dict:
    """A meta.k8s.io/v1 Table; include is the includeObject parameter (None|Metadata|Object)."""
    cols = COLUMNS.get(res.plural, [_NAME, _AGE])
    rows = []
    for o in objs:
        row = {"cells": [fn(o) for *_, fn in cols]}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": field(o, "metadata") or {}}
        rows.append(row)
    defs = [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
             "priority": p} for n, t, p, _ in cols]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": defs, "rows": rows}


# ---------------------------------------------------------------------------------------------
# Validation and defaulting: object metadata as the real server checks it, nothing of the specs
# (NetworkPolicy specs are deliberately not validated: the agent must cope with invalid ones).

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_NAME_MSG = {
    "label": "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             f"'123-abc', regex used for validation is '{_LABEL}')",
    "subdomain": "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 f"(e.g. 'example.com', regex used for validation is '{_SUBDOMAIN}')",
}
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


def _name_errors(rule: str, name: str, field: str) -> list[tuple[str, str, str]]:
    if rule == "path":   # rbac objects: any name that is a valid path segment
        bad = name in (".", "..") or "/" in name or "%" in name
        msg = "may not contain '/' or '%' and may not be '.' or '..'"
    elif rule == "label":
        bad = len(name) > 63 or not re.fullmatch(_LABEL, name)
        msg = _NAME_MSG["label"]
    else:
        bad = len(name) > 253 or not re.fullmatch(_SUBDOMAIN, name)
        msg = _NAME_MSG["subdomain"]
    return [("FieldValueInvalid", field, f'Invalid value: "{name}": {msg}')] if bad else []


def _label_errors(labels: dict) -> list[tuple[str, str, str]]:
    errs = []
    for k, v in labels.items():
        prefix, _, name = k.rpartition("/")
        if (not re.fullmatch(_QUALIFIED, name) or len(name) > 63
                or (prefix and (len(prefix) > 253 or not re.fullmatch(_SUBDOMAIN, prefix)))):
            errs.append(("FieldValueInvalid", "metadata.labels",
                         f'Invalid value: "{k}": name part must consist of alphanumeric '
                         "characters, '-', '_' or '.', and must start and end with an "
                         "alphanumeric character"))
        if v and (len(v) > 63 or not re.fullmatch(_QUALIFIED, v)):
            errs.append(("FieldValueInvalid", "metadata.labels",
                         f'Invalid value: "{v}": a valid label must be an empty string or consist '
                         "of alphanumeric characters, '-', '_' or '.', and must start and end "
                         "with an alphanumeric character"))
    return errs


def check_shape(res: Resource, obj) -> None:
    """What decoding into the Go type would refuse: 400 like the real server's decode errors."""
    if not isinstance(obj, dict):
        raise bad_request(f"the body of the request was in an unknown format: expected a "
                          f"{res.kind} object")
    meta = obj.get("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request(f"json: cannot unmarshal {type(meta).__name__} into Go struct field "
                          f"{res.kind}.metadata of type v1.ObjectMeta")
    for key in ("labels", "annotations"):
        m = meta.get(key)
        if m is not None and not (isinstance(m, dict)
                                  and all(isinstance(v, str) for v in m.values())):
            raise bad_request(f"json: cannot unmarshal into Go struct field ObjectMeta.metadata."
                              f"{key} of type map[string]string")
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in (None, "", res.kind):
        raise bad_request(f"the kind in the body ({kind}) does not match the kind of the URL "
                          f"({res.kind})")
    if api_version not in (None, "", res.api_version):
        raise bad_request(f"the API version in the data ({api_version}) does not match the "
                          f"expected API version ({res.api_version})")


def validate(res: Resource, obj: dict) -> None:
    """422 Invalid for a bad name or bad labels. Specs are never looked at."""
    meta = obj["metadata"]
    name = meta.get("name") or ""
    if not name:
        errs = [("FieldValueRequired", "metadata.name",
                 "Required value: name or generateName is required")]
    else:
        errs = _name_errors(res.names, name, "metadata.name")
    errs += _label_errors(meta.get("labels") or {})
    if errs:
        raise invalid(res, name, errs)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def default_on_create(res: Resource, obj: dict) -> None:
    """Fill what kube-apiserver fills on create: identity, timestamps, and the few defaults the
    agent sees (NetworkPolicy policyTypes and port protocols, pod container port protocols,
    the namespace name label, initial statuses)."""
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta["generation"] = 1
    for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(f, None)
    default_always(res, obj)
    if res.plural == "namespaces":
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif res.plural == "pods":
        obj["status"] = {"phase": "Pending"}
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("terminationGracePeriodSeconds", 30)
    elif res.status:
        obj.pop("status", None)


def default_always(res: Resource, obj: dict) -> None:
    """Defaults applied on create and on every update, as the real defaulting functions are."""
    meta = obj["metadata"]
    if res.plural == "namespaces":
        # Since 1.21 the API server sets this label on every namespace and keeps it set.
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if res.plural == "networkpolicies":
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
    elif res.plural == "pods":
        for group in ("initContainers", "containers"):
            for c in spec.get(group) or []:
                for port in (c.get("ports") or []) if isinstance(c, dict) else []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")


def _without(obj: dict, *fields: str) -> dict:
    return {k: v for k, v in obj.items() if k not in fields}


def _keep(out: dict, old: dict, field: str) -> None:
    if field in old:
        out[field] = old[field]
    else:
        out.pop(field, None)


def prepare_update(res: Resource, new: dict, old: dict, subresource: str) -> dict:
    """The object an update stores: identity and system fields from the old object. For kinds
    with a status subresource, the main resource keeps the old status, and the status
    subresource keeps the old spec (metadata changes go through, as with the real status
    strategies; pods also keep their ownerReferences)."""
    out = new
    meta, old_meta = out["metadata"], old["metadata"]
    for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "generation", "namespace", "resourceVersion"):
        _keep(meta, old_meta, f)
    if subresource == "status":
        _keep(out, old, "spec")
        if res.plural == "pods":
            _keep(meta, old_meta, "ownerReferences")
        default_always(res, out)
        return out
    if res.status:
        _keep(out, old, "status")
    if res.plural == "namespaces":
        _keep(out, old, "spec")   # namespace spec.finalizers change only through /finalize
    default_always(res, out)
    if res.plural == "pods":
        _check_pod_update(out, old)
    # generation counts changes of everything but metadata and status
    if _without(out, "metadata", "status") != _without(old, "metadata", "status"):
        meta["generation"] = int(old_meta.get("generation") or 0) + 1
    return out


def _pod_spec_mutable_stripped(spec) -> object:
    """A pod's spec minus what an update may change (images, activeDeadlineSeconds,
    tolerations, terminationGracePeriodSeconds)."""
    if not isinstance(spec, dict):
        return spec
    s = copy.deepcopy(spec)
    for f in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        s.pop(f, None)
    for group in ("containers", "initContainers"):
        for c in s.get(group) or []:
            if isinstance(c, dict):
                c.pop("image", None)
    return s


def _check_pod_update(new: dict, old: dict) -> None:
    if _pod_spec_mutable_stripped(new.get("spec")) != _pod_spec_mutable_stripped(old.get("spec")):
        name = old["metadata"]["name"]
        raise invalid(PODS, name, [(
            "FieldValueForbidden", "spec",
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
            "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)")])


def seed_objects() -> list[tuple[Resource, dict]]:
    """What a fresh cluster has and the agent's manifests rely on."""
    out = [(NAMESPACES, {"metadata": {"name": n}})
           for n in ("default", "kube-system", "kube-public")]
    pc = BY_PLURAL["priorityclasses"]
    for name, value in (("system-node-critical", 2000001000),
                        ("system-cluster-critical", 2000000000)):
        out.append((pc, {"metadata": {"name": name}, "value": value,
                         "description": "Used for system critical pods that must not be moved "
                                        "from their current node." if "node" in name else
                                        "Used for system critical pods that must run in the "
                                        "cluster, but can be moved to another node if necessary.",
                         "preemptionPolicy": "PreemptLowerPriority"}))
    return out
