"""Decoding the protobuf request bodies of kubectl's imperative commands.

kubectl's typed clients (`kubectl create namespace|serviceaccount|configmap|clusterrole|role|
rolebinding|clusterrolebinding|priorityclass`, `kubectl run`) send
`application/vnd.kubernetes.protobuf` bodies, and accept JSON answers. Everything else kubectl
does (create -f, apply, replace, patch, label, delete, get) is JSON. This decodes those bodies
to the JSON form with a table of the field numbers of the Go types' generated.proto (only the
fields those commands set; unknown fields are skipped). We always answer in JSON.

The envelope: the bytes "k8s\\0", then a runtime.Unknown {1: typeMeta {1: apiVersion,
2: kind}, 2: raw (the object's message), 3: contentEncoding, 4: contentType}.
"""

from __future__ import annotations

import base64

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# message -> {field number: "jsonName[:type]"}; types: s string (default), i integer, b bool,
# m map<string,string>, y bytes, M map<string,bytes>, a message name; a leading * = repeated.
_OBJECT = {1: "metadata:ObjectMeta"}
SCHEMA: dict[str, dict[int, str]] = {
    "Unknown": {1: "typeMeta:TypeMeta", 2: "raw:y", 3: "contentEncoding", 4: "contentType"},
    "TypeMeta": {1: "apiVersion", 2: "kind"},
    "ObjectMeta": {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion",
                   7: "generation:i", 11: "labels:m", 12: "annotations:m",
                   13: "ownerReferences:*OwnerReference", 14: "finalizers:*s"},
    "OwnerReference": {1: "kind", 3: "name", 4: "uid", 5: "apiVersion", 6: "controller:b",
                       7: "blockOwnerDeletion:b"},
    "Namespace": {**_OBJECT, 2: "spec:NamespaceSpec"},
    "NamespaceSpec": {1: "finalizers:*s"},
    "ServiceAccount": {**_OBJECT, 2: "secrets:*ObjectReference",
                       3: "imagePullSecrets:*LocalObjectReference",
                       4: "automountServiceAccountToken:b"},
    "ObjectReference": {1: "kind", 2: "namespace", 3: "name", 4: "uid", 5: "apiVersion",
                        6: "resourceVersion", 7: "fieldPath"},
    "LocalObjectReference": {1: "name"},
    "ConfigMap": {**_OBJECT, 2: "data:m", 3: "binaryData:M", 4: "immutable:b"},
    "Pod": {**_OBJECT, 2: "spec:PodSpec"},
    "PodSpec": {2: "containers:*Container", 3: "restartPolicy",
                4: "terminationGracePeriodSeconds:i", 6: "dnsPolicy", 7: "nodeSelector:m",
                8: "serviceAccountName", 10: "nodeName", 11: "hostNetwork:b",
                15: "imagePullSecrets:*LocalObjectReference", 20: "initContainers:*Container",
                24: "priorityClassName", 25: "priority:i"},
    "Container": {1: "name", 2: "image", 3: "command:*s", 4: "args:*s", 5: "workingDir",
                  6: "ports:*ContainerPort", 7: "env:*EnvVar", 8: "resources:Empty",
                  14: "imagePullPolicy", 16: "stdin:b", 17: "stdinOnce:b", 18: "tty:b"},
    "ContainerPort": {1: "name", 2: "hostPort:i", 3: "containerPort:i", 4: "protocol",
                      5: "hostIP"},
    "EnvVar": {1: "name", 2: "value"},
    "Empty": {},
    "ClusterRole": {**_OBJECT, 2: "rules:*PolicyRule"},
    "Role": {**_OBJECT, 2: "rules:*PolicyRule"},
    "PolicyRule": {1: "verbs:*s", 2: "apiGroups:*s", 3: "resources:*s", 4: "resourceNames:*s",
                   5: "nonResourceURLs:*s"},
    "ClusterRoleBinding": {**_OBJECT, 2: "subjects:*Subject", 3: "roleRef:RoleRef"},
    "RoleBinding": {**_OBJECT, 2: "subjects:*Subject", 3: "roleRef:RoleRef"},
    "Subject": {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"},
    "RoleRef": {1: "apiGroup", 2: "kind", 3: "name"},
    "PriorityClass": {**_OBJECT, 2: "value:i", 3: "globalDefault:b", 4: "description",
                      5: "preemptionPolicy"},
}


_KEEP_ZERO = {"value", "containerPort"}   # zero values of fields that are not omitempty


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of a message; value is int or bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            n, pos = _varint(data, pos)
            value, pos = data[pos:pos + n], pos + n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield number, wire, value


def _scalar(kind: str, value):
    if kind == "i":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "b":
        return bool(value)
    if kind == "y":
        return value
    return value.decode("utf-8")


def decode_message(message: str, data: bytes) -> dict:
    schema, out = SCHEMA[message], {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, _, kind = schema[number].partition(":")
        kind = kind or "s"
        repeated = kind.startswith("*")
        kind = kind.lstrip("*")
        if kind in ("m", "M"):
            entry = {n: v for n, _, v in _fields(value)}
            v = entry.get(2, b"")
            out.setdefault(name, {})[entry.get(1, b"").decode()] = (
                base64.b64encode(v).decode() if kind == "M" else v.decode())
            continue
        item = decode_message(kind, value) if kind in SCHEMA else _scalar(kind, value)
        if not repeated and item in ("", 0, False) and name not in _KEEP_ZERO:
            continue   # gogo protobuf writes empty fields; JSON (omitempty) leaves them out
        if repeated:
            out.setdefault(name, []).append(item)
        else:
            out[name] = item
    return out


def decode(body: bytes) -> dict:
    """A k8s protobuf body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic number")
    unknown = decode_message("Unknown", body[len(MAGIC):])
    type_meta = unknown.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in SCHEMA or kind in ("Unknown", "TypeMeta"):
        raise ProtobufError(f"this stand-in cannot decode protobuf {kind or 'objects'}: "
                            "send JSON (kubectl create -f / apply -f)")
    obj = decode_message(kind, unknown.get("raw", b""))
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
