"""The four PATCH content types kube-apiserver accepts, and server-side apply.

- application/merge-patch+json: RFC 7386 (kubectl label/annotate, patch --type=merge).
- application/json-patch+json: RFC 6902 (kubectl patch --type=json).
- application/strategic-merge-patch+json: like a merge patch, but lists whose Go field carries
  `patchStrategy:"merge"` merge by their `patchMergeKey`, plus the directives `$patch`,
  `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`
  (client-side `kubectl apply`, kubectl patch's default).
- application/apply-patch+yaml: server-side apply (kubectl apply --server-side). Each field
  manager's last applied configuration is remembered; fields it applied before and no longer
  does are removed unless another applier still applies them; the configuration is merged in;
  a field another applier set to a different value is a conflict unless force=true.

The merge keys are those of the real Go types, for the kinds we serve.
"""

from __future__ import annotations

import copy

from kinds import ApiError

PRIMITIVE = "<primitive>"   # patchStrategy merge on a list of scalars (a set): metadata.finalizers

_POD_SPEC = {
    ("containers",): "name", ("initContainers",): "name", ("ephemeralContainers",): "name",
    ("volumes",): "name", ("imagePullSecrets",): "name", ("hostAliases",): "ip",
}
for _c in ("containers", "initContainers", "ephemeralContainers"):
    _POD_SPEC.update({(_c, "ports"): "containerPort", (_c, "env"): "name",
                      (_c, "volumeMounts"): "mountPath", (_c, "volumeDevices"): "devicePath"})


def _under(prefix: tuple, table: dict) -> dict:
    return {prefix + k: v for k, v in table.items()}


_META = {("metadata", "finalizers"): PRIMITIVE, ("metadata", "ownerReferences"): "uid"}
MERGE_KEYS = {
    "Pod": {**_META, **_under(("spec",), _POD_SPEC), ("status", "conditions"): "type",
            ("status", "podIPs"): "ip", ("status", "hostIPs"): "ip"},
    "DaemonSet": {**_META, **_under(("spec", "template", "spec"), _POD_SPEC),
                  ("spec", "template", "metadata", "finalizers"): PRIMITIVE,
                  ("status", "conditions"): "type"},
    "Namespace": {**_META, ("status", "conditions"): "type"},
}


def merge_keys(kind: str) -> dict:
    return MERGE_KEYS.get(kind, _META)


class PatchError(Exception):
    """A patch that cannot be applied: 422 like the real server (400 for malformed patches)."""

    def __init__(self, message: str, code: int = 422):
        super().__init__(message)
        self.code = code

    def api_error(self) -> ApiError:
        return ApiError(self.code, "Invalid" if self.code == 422 else "BadRequest", str(self))


# ---------------------------------------------------------------------------------------------
# RFC 7386

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------------------------------------
# RFC 6902

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    i = int(token)
    if i > len(container) or (i == len(container) and not for_add):
        raise PatchError(f"array index {i} out of bounds")
    return i


def _parent(doc, tokens: list[str]):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, False)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return cur


def _get(doc, path: str):
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise PatchError(f"doc is missing path: {path}")


def _remove(doc, path: str):
    tokens = _pointer(path)
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise PatchError(f"Unable to remove nonexistent key: {last}: missing value")


def _add(doc, path: str, value):
    tokens = _pointer(path)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, True), value)
    else:
        raise PatchError(f"doc is missing path: {path}")
    return doc


def json_patch(doc, ops) -> object:
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise PatchError(f"invalid json patch operation: {op!r}", 400)
        kind, path = op.get("op"), op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            if kind == "move":
                value = _remove(doc, op["from"])
            else:
                value = copy.deepcopy(_get(doc, op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}", 400)
    return doc


# ---------------------------------------------------------------------------------------------
# Strategic merge patch

_DELETE = object()   # a map whose patch says {"$patch": "delete"}
_ORDER, _DELETE_FROM = "$setElementOrder/", "$deleteFromPrimitiveList/"


def clean(value, keys: dict | None = None, path: tuple = ()):
    """A patch value inserted where nothing was: directives applied against empty."""
    if isinstance(value, dict):
        out = strategic_merge(None, value, keys or {}, path)
        return {} if out is _DELETE else out
    if isinstance(value, list):
        return [clean(v, keys, path) for v in value]
    return value


def strategic_merge(original, patch, keys: dict, path: tuple = ()):
    """Apply a strategic merge patch map to original; keys maps field paths (list indices
    skipped) to the merge key of the list there."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return clean({k: v for k, v in patch.items() if k != "$patch"}, keys, path)
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive!r}", 400)
    out = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("invalid patch: $retainKeys must be a list", 400)
        out = {k: v for k, v in out.items() if k in retain}
    for k, v in patch.items():   # deletions from sets first, additions below
        if k.startswith(_DELETE_FROM) and isinstance(out.get(k[len(_DELETE_FROM):]), list):
            field = k[len(_DELETE_FROM):]
            out[field] = [x for x in out[field] if x not in (v or [])]
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        sub = path + (k,)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and keys.get(sub):
            out[k] = _merge_list(out.get(k), v, keys[sub], keys, sub)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, keys, sub)
            if merged is _DELETE:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = clean(v, keys, sub)
    for k, order in patch.items():
        if k.startswith(_ORDER) and isinstance(out.get(k[len(_ORDER):]), list):
            field = k[len(_ORDER):]
            out[field] = _reorder(out[field], order or [], keys.get(path + (field,)))
    return out


def _item_key(item, key: str):
    return item.get(key) if isinstance(item, dict) else item


def _merge_list(original, patch: list, key: str, keys: dict, path: tuple) -> list:
    out = list(original) if isinstance(original, list) else []
    if key == PRIMITIVE:
        return out + [clean(x) for x in patch if x not in out]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [clean(i, keys, path) for i in patch
                if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"invalid patch: list {path[-1]} holds a non-map item", 400)
        k = item.get(key)
        found = next((i for i, o in enumerate(out) if _item_key(o, key) == k), None)
        if item.get("$patch") == "delete":
            out = [o for o in out if _item_key(o, key) != k]
        elif found is None:
            out.append(clean(item, keys, path))
        else:
            out[found] = strategic_merge(out[found], item, keys, path)
    return out


def _reorder(items: list, order: list, key: str | None) -> list:
    """$setElementOrder: the listed elements in that order, the others after them."""
    wanted = [_item_key(o, key) if key and key != PRIMITIVE else o for o in order]
    pos = {repr(w): i for i, w in enumerate(wanted)}

    def rank(item):
        k = _item_key(item, key) if key and key != PRIMITIVE else item
        return pos.get(repr(k), len(wanted))
    return sorted(items, key=rank)


# ---------------------------------------------------------------------------------------------
# Server-side apply

def _is_keyed(keys: dict, path: tuple) -> bool:
    return keys.get(path) not in (None, PRIMITIVE)


def _find(items, key: str, k):
    for item in items if isinstance(items, list) else []:
        if _item_key(item, key) == k:
            return item
    return None


def _prune(current, previous, applied, others, keys: dict, path: tuple):
    """Remove from current what previous (this manager's last apply) set and applied (its
    new one) no longer does, unless others (the other appliers' configs) still set it."""
    if isinstance(previous, list) and _is_keyed(keys, path) and isinstance(current, list):
        key = keys[path]
        out = []
        for item in current:
            k = _item_key(item, key)
            prev, new, other = (_find(previous, key, k), _find(applied, key, k),
                                _find(others, key, k))
            if prev is None:
                out.append(item)
            elif new is None and other is None:
                continue
            else:
                out.append(_prune(item, prev, new or {}, other, keys, path))
        return out
    if not (isinstance(current, dict) and isinstance(previous, dict)):
        return current
    out = dict(current)
    applied = applied if isinstance(applied, dict) else {}
    others = others if isinstance(others, dict) else {}
    for k, prev in previous.items():
        if k not in out:
            continue
        if k not in applied and k not in others:
            del out[k]
        elif isinstance(prev, (dict, list)):
            out[k] = _prune(out[k], prev, applied.get(k), others.get(k), keys, path + (k,))
    return out


def _lookup(config, steps: tuple):
    """The value at steps (from _walk) in another configuration, or None."""
    cur = config
    for kind, value in steps:
        if kind == "field":
            cur = cur.get(value) if isinstance(cur, dict) else None
        else:
            cur = _find(cur, value[0], value[1])
        if cur is None:
            return None
    return cur


def _walk(config, keys: dict, path: tuple = (), steps: tuple = (), shown: str = ""):
    """(steps, display, value) of every field config sets; steps find the same field in
    another configuration, display is the field as conflict messages write it."""
    if isinstance(config, dict) and config:
        for k, v in config.items():
            yield from _walk(v, keys, path + (k,), steps + (("field", k),), f"{shown}.{k}")
    elif isinstance(config, list) and _is_keyed(keys, path):
        key = keys[path]
        for item in config:
            k = _item_key(item, key)
            yield from _walk(item, keys, path, steps + (("item", (key, k)),),
                             f'{shown}[{key}="{k}"]')
    else:
        yield steps, shown, config


def _drop(config, steps: tuple):
    """config without the field at steps (a forced apply takes it from its owner)."""
    if not steps:
        return None
    kind, value = steps[0]
    if kind == "field" and isinstance(config, dict) and value in config:
        out = dict(config)
        rest = _drop(config[value], steps[1:])
        if rest is None or rest == {}:
            del out[value]
        else:
            out[value] = rest
        return out
    if kind == "item" and isinstance(config, list):
        key, k = value
        out = []
        for item in config:
            if _item_key(item, key) == k:
                rest = _drop(item, steps[1:])
                if rest and rest != {key: k}:
                    out.append(rest)
            else:
                out.append(item)
        return out
    return config


_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def server_side_apply(current: dict, config: dict, manager: str, applied: dict, force: bool,
                      keys: dict) -> tuple[dict, dict]:
    """Apply config as manager. applied maps manager -> its last applied config; returns the
    new object and the new applied map. Raises 409 Conflict listing the fields another applier
    set to a different value, unless force."""
    applied = dict(applied)
    conflicts: dict[str, list[str]] = {}
    for other, other_config in list(applied.items()):
        if other == manager:
            continue
        for steps, shown, value in _walk(config, keys):
            if tuple(s[1] for s in steps if s[0] == "field") in _IDENTITY:
                continue
            theirs = _lookup(other_config, steps)
            if theirs is not None and theirs != value:
                if force:
                    applied[other] = _drop(applied[other], steps)
                else:
                    conflicts.setdefault(other, []).append(shown)
    if conflicts:
        raise _conflict_error(conflicts)
    others: dict = {}
    for other, other_config in applied.items():
        if other != manager:
            others = strategic_merge(others, other_config, keys)
    pruned = _prune(current, applied.get(manager, {}), config, others, keys, ())
    result = strategic_merge(pruned, config, keys)
    applied[manager] = config
    return result, applied


def _conflict_error(conflicts: dict[str, list[str]]) -> ApiError:
    n = sum(len(v) for v in conflicts.values())
    parts, causes = [], []
    for mgr, fields in conflicts.items():
        if len(fields) == 1:
            parts.append(f'conflict with "{mgr}": {fields[0]}')
        else:
            parts.append(f'conflicts with "{mgr}":\n' + "\n".join(f"- {f}" for f in fields))
        causes += [{"reason": "FieldManagerConflict", "message": f'conflict with "{mgr}"',
                    "field": f} for f in fields]
    return ApiError(409, "Conflict",
                    f"Apply failed with {n} conflict{'s' if n > 1 else ''}: " + "\n".join(parts),
                    {"causes": causes})
