"""Run docs/server.md's nginx recipe for real: two pyggml servers behind nginx.

    python tools/check_nginx_recipe.py [--model smollm2-135m-q4_1] [--nginx /usr/sbin/nginx]

Takes the nginx block between the nginx-recipe markers of docs/server.md, substitutes free
ports, wraps it in a minimal main config (pid, logs, temp paths in a temporary folder) and
checks through nginx: plain and streamed completions are complete, both servers served some
(their /metrics), and a server whose slot and queue are full (503) is retried on the other.
Needs nginx (Debian: apt-get install nginx-light) and pyggml[server]; prints PASS or raises."""
from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body=None, timeout=300):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def wait_ready(port: int, proc: subprocess.Popen, what: str, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if request(port, "GET", "/health", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer /health on port {port}")


def recipe(doc: Path) -> str:
    m = re.search(r"<!-- nginx-recipe:begin -->\s*```nginx\n(.*?)```\s*<!-- nginx-recipe:end -->", doc.read_text(), re.S)
    if not m:
        raise RuntimeError(f"{doc}: no nginx recipe between the markers")
    return m.group(1)


def completions_served(port: int, status: int = 200) -> float:
    text = request(port, "GET", "/metrics")[1]
    m = re.search(r'pyggml_requests_total\{endpoint="/v1/completions",status="%d"\} (\S+)' % status, text)
    return float(m.group(1)) if m else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-q4_1")
    ap.add_argument("--nginx", default="nginx")
    args = ap.parse_args()
    from pyggml.models import ensure_model

    model = str(ensure_model(args.model))
    ports = [free_port(), free_port()]
    front = free_port()
    conf = recipe(ROOT / "docs" / "server.md")
    conf = conf.replace("127.0.0.1:8081", f"127.0.0.1:{ports[0]}").replace("127.0.0.1:8082", f"127.0.0.1:{ports[1]}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{front};")
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "nginx.conf").write_text(
            f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\nhttp {{\n"
            f"access_log {tmp}/access.log;\nclient_body_temp_path {tmp};\nproxy_temp_path {tmp};\n"
            f"{conf}}}\n")
        try:
            # server A: one slot, a queue of one, so it can be filled; server B: two slots
            for port, extra in zip(ports, (["--parallel", "1", "--max-queue", "1"], ["--parallel", "2"])):
                procs.append(subprocess.Popen([sys.executable, "-m", "pyggml.server", "-m", model, "--port", str(port),
                                               "--n-ctx", "256", "-t", "1", "--log-level", "warning", *extra]))
            for port, p in zip(ports, procs):
                wait_ready(port, p, f"pyggml-server on {port}")
            procs.append(subprocess.Popen([args.nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf", "-g", "daemon off;"]))
            wait_ready(front, procs[-1], "nginx")

            # plain and streamed requests through nginx, concurrently
            results: list[tuple[int, str]] = []

            def one(i: int) -> None:
                body = {"prompt": f"Count: {i},", "max_tokens": 8, "temperature": 0, "stream": i % 2 == 1}
                results.append(request(front, "POST", "/v1/completions", body))

            threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for status, text in results:
                assert status == 200, (status, text)
                if text.startswith("data: "):
                    events = [ln[6:] for ln in text.splitlines() if ln.startswith("data: ")]
                    assert events[-1] == "[DONE]" and json.loads(events[-2])["choices"][0]["finish_reason"]
                else:
                    assert json.loads(text)["choices"][0]["finish_reason"] in ("stop", "length")
            served = [completions_served(p) for p in ports]
            assert all(n > 0 for n in served), f"requests per server {served}: one got none"
            print(f"8 requests through nginx: per server {served}")

            # fill server A (its slot and its queue) directly, then go through nginx: a 503 from A
            # must be retried on B, so every request succeeds
            busy = [threading.Thread(target=request, args=(ports[0], "POST", "/v1/completions",
                                                           {"prompt": "Once upon a time", "max_tokens": 120}))
                    for _ in range(2)]
            for t in busy:
                t.start()
                time.sleep(0.5)
            deadline = time.monotonic() + 60
            while json.loads(request(ports[0], "GET", "/health")[1])["queue_depth"] < 1:
                assert time.monotonic() < deadline, "server A's queue never filled"
                time.sleep(0.1)
            statuses = [request(front, "POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2})[0]
                        for _ in range(4)]
            assert statuses == [200] * 4, statuses
            refused = completions_served(ports[0], 503)
            assert refused > 0, "nginx never tried the full server: the retry was not exercised"
            access = (Path(tmp) / "access.log").read_text()
            print(f"with server A full: statuses through nginx {statuses}; A answered 503 {refused:g} times "
                  f"(retried on B); nginx log lines {len(access.splitlines())}")
            for t in busy:
                t.join()
        finally:
            for p in reversed(procs):
                p.terminate()
                p.wait(60)
    print("PASS: docs/server.md nginx recipe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
