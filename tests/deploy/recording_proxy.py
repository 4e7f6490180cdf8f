#!/usr/bin/env python3
"""A plain-HTTP forwarding proxy that records every request line passing through it.

    python3 recording_proxy.py --upstream http://127.0.0.1:PORT --log FILE

Listens on 127.0.0.1 (a free port), prints `ready http://127.0.0.1:PORT`, and appends one
JSON line per request to FILE: {"method", "target", "user_agent"}. Bytes are forwarded
unchanged in both directions (watch streams included); only request heads are parsed.

deploy_test.py points the agent (and nothing else) at it, so the log holds exactly the
requests the agent made: the API-server stand-in counts requests but not per client.
"""

import argparse
import json
import socket
import sys
import threading
import urllib.parse


def pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Recorder:
    def __init__(self, path: str):
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1)

    def record(self, entry: dict) -> None:
        with self.lock:
            self.file.write(json.dumps(entry) + "\n")


def forward_requests(client: socket.socket, upstream: socket.socket, rec: Recorder) -> None:
    """Client to upstream: parse each request head (and skip its body by Content-Length)."""
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = client.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            rec.record({"method": method, "target": target,
                        "user_agent": headers.get("user-agent", ""),
                        "chunked_body": "chunked" in headers.get("transfer-encoding", "")})
            upstream.sendall(head + b"\r\n\r\n")
            if "chunked" in headers.get("transfer-encoding", ""):
                # Not parsed: forward the rest raw (the test fails on the record above anyway).
                upstream.sendall(buf)
                pipe(client, upstream)
                return
            remaining = int(headers.get("content-length") or 0)
            while remaining > 0:
                if not buf:
                    buf = client.recv(65536)
                    if not buf:
                        return
                part, buf = buf[:remaining], buf[remaining:]
                upstream.sendall(part)
                remaining -= len(part)
    except OSError:
        pass
    finally:
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener: socket.socket, upstream: tuple[str, int], rec: Recorder) -> None:
    while True:
        client, _ = listener.accept()
        try:
            up = socket.create_connection(upstream)
        except OSError:
            client.close()
            continue
        threading.Thread(target=forward_requests, args=(client, up, rec), daemon=True).start()
        threading.Thread(target=pipe, args=(up, client), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    url = urllib.parse.urlsplit(args.upstream)
    if url.scheme != "http" or not url.port:
        sys.exit("recording_proxy: --upstream must be http://HOST:PORT")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"ready http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    serve(listener, (url.hostname, url.port), Recorder(args.log))


if __name__ == "__main__":
    main()
