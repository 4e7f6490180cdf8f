#!/usr/bin/env python3
"""Writes a synthetic cluster snapshot (a kubectl-style v1 List, JSON) for benchmarks.

Usage: make_snapshot.py PODS POLICIES [SEED] > snapshot.json

Namespaces of ~50 pods, 5 apps per namespace, 2 nodes' worth of IPs per 250 pods; policies
of the shapes seen in real clusters: default deny, allow from same app, allow from another
namespace on a named port, egress to a CIDR with except, egress DNS.
"""
import json
import random
import sys


def main():
    pods_n, pols_n = int(sys.argv[1]), int(sys.argv[2])
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    ns_n = max(1, pods_n // 50)
    items = []
    for i in range(ns_n):
        items.append({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": f"ns-{i}", "labels": {"team": f"t{i % 7}"}}})
    for p in range(pods_n):
        ns = p % ns_n
        ip = f"10.{(p >> 16) & 255}.{(p >> 8) & 255}.{p & 255}"
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"pod-{p}", "namespace": f"ns-{ns}",
                                   "labels": {"app": f"app-{p % 5}", "tier": rnd.choice(["web", "api", "db"])}},
                      "spec": {"nodeName": f"node-{p // 100}",
                               "containers": [{"name": "c", "ports": [
                                   {"name": "http", "containerPort": 8080},
                                   {"name": "metrics", "containerPort": 9090}]}]},
                      "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
    for k in range(pols_n):
        ns = k % ns_n
        shape = k % 5
        spec = {"podSelector": {"matchLabels": {"app": f"app-{k % 5}"}}}
        if shape == 0:
            spec = {"podSelector": {}, "policyTypes": ["Ingress"]}
        elif shape == 1:
            spec["ingress"] = [{"from": [{"podSelector": {"matchLabels": {"app": f"app-{k % 5}"}}}]}]
        elif shape == 2:
            spec["ingress"] = [{"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{rnd.randrange(7)}"}}}],
                                "ports": [{"port": "http"}]}]
        elif shape == 3:
            spec["egress"] = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}],
                               "ports": [{"protocol": "TCP", "port": 8080, "endPort": 8090}]}]
            spec["policyTypes"] = ["Egress"]
        else:
            spec["egress"] = [{"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "UDP", "port": 53}]}]
            spec["policyTypes"] = ["Egress"]
        items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": f"pol-{k}", "namespace": f"ns-{ns}"}, "spec": spec})
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)


if __name__ == "__main__":
    main()
