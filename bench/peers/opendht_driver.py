#!/usr/bin/env python3
"""The child process of `npm run bench:peers` for OpenDHT (Debian's python3-opendht).

Hosts N OpenDHT nodes (DhtRunner) on 127.0.0.1, each bootstrapping from the
first, and answers the runner's requests as JSON lines over stdio: the same
protocol and the same workload as bench/peers/child.ts. OpenDHT calls back from
its own threads; every callback only queues its result, and the main thread
issues all operations.

OpenDHT waits on its sockets with select(), which aborts once a descriptor
passes FD_SETSIZE (1024): one process holds about 450 nodes at most. Above
PER_PROCESS nodes this process hosts the first PER_PROCESS and starts helper
processes (this script with --host COUNT PORT) for the rest, each joining
through node 0. Client operations then go through this process's nodes (a
random sample of the ring); stopNodes stops the same fraction in every
process. The runner measures RSS and CPU over the whole process tree.
"""

import json
import os
import queue
import random
import re
import subprocess
import sys
import time
from importlib import metadata

import opendht

FORM_TIMEOUT_S = 120
PER_PROCESS = int(os.environ.get("OPENDHT_PER_PROCESS", "300"))
OP_TIMEOUT_S = 30
PROBE_VALUE_BYTES = 100


def now_ms():
    return time.monotonic() * 1000


class Workload:
    def __init__(self):
        self.nodes = []
        self.stopped = set()
        self.handles = []
        self.t0 = 0.0
        self.done = queue.Queue()
        self.token = 0
        self.helpers = []

    def random_live(self):
        while True:
            i = random.randrange(len(self.nodes))
            if i not in self.stopped:
                return i

    # --- one asynchronous operation; its result arrives on self.done ---

    def issue(self, kind, node, handle, data):
        self.token += 1
        token = self.token
        key = opendht.InfoHash.get(handle)
        runner = self.nodes[node]
        if kind == "put":
            runner.put(key, opendht.Value(data), done_cb=lambda ok, _nodes: self.done.put((token, ok)))
        else:
            found = [False]

            def on_value(v):
                found[0] = True
                return False  # stop the search: the first value is the answer

            runner.get(key, get_cb=on_value, done_cb=lambda _ok, _nodes: self.done.put((token, found[0])))
        return token

    def run_pool(self, next_op, depth, on_result):
        """Keeps `depth` operations in flight while next_op() returns one (kind, node, handle, data)."""
        started = {}
        while True:
            while len(started) < depth:
                op = next_op()
                if op is None:
                    break
                started[self.issue(*op)] = (time.monotonic(), op)
            if not started:
                return
            try:
                token, ok = self.done.get(timeout=OP_TIMEOUT_S)
            except queue.Empty:
                for _t, op in started.values():
                    on_result(op, False, OP_TIMEOUT_S)
                started.clear()
                continue
            entry = started.pop(token, None)
            if entry is not None:
                on_result(entry[1], bool(ok), time.monotonic() - entry[0])

    def put_many(self, count, value_bytes, depth):
        handles = []
        pending = [os.urandom(32).hex() for _ in range(count)]

        def next_op():
            return ("put", self.random_live(), pending.pop(), os.urandom(value_bytes)) if pending else None

        def on_result(op, ok, _s):
            if ok:
                handles.append(op[2])

        self.run_pool(next_op, depth, on_result)
        return handles

    # --- the protocol's operations ---

    def table_size(self, runner):
        log = runner.getRoutingTablesLog(2)  # AF_INET
        counts = re.findall(r"count: (\d+)", log)
        if counts:
            return sum(int(c) for c in counts)
        return len(re.findall(r"^\s*Node ", log, re.M))

    def start(self, n):
        self.t0 = now_ms()
        port = None
        here = min(n, PER_PROCESS)
        for i in range(here):
            r = opendht.DhtRunner()
            r.run(ipv4="127.0.0.1", port=0)
            if i == 0:
                port = r.getBound().getPort()
            else:
                r.bootstrap("127.0.0.1", str(port))
            self.nodes.append(r)
        rest = n - here
        while rest > 0:
            count = min(rest, PER_PROCESS)
            self.helpers.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--host", str(count), str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            rest -= count
        # each helper prints "formed" once every node it hosts has a routing table
        helpers_formed = all(h.stdout.readline().strip() == "formed" for h in self.helpers)
        joined = now_ms() - self.t0
        n = here
        deadline = time.monotonic() + FORM_TIMEOUT_S
        formed_set = set()
        while True:
            for i, r in enumerate(self.nodes):
                if i not in formed_set and self.table_size(r) > 0:
                    formed_set.add(i)
            if n == 1 or len(formed_set) == n:
                formed = now_ms() - self.t0 if helpers_formed else None
                break
            if time.monotonic() > deadline:
                formed = None
                break
            time.sleep(0.02)
        return {"joinedMs": joined, "formedMs": formed, "note": "routing table (getRoutingTablesLog) non-empty"}

    def consistency(self, keys, samples, timeout_ms):
        deadline = time.monotonic() + timeout_ms / 1000
        handles = []
        # a probe whose PUT fails is put again (through another node) until the deadline
        while len(handles) < keys and time.monotonic() < deadline:
            handles += self.put_many(keys - len(handles), PROBE_VALUE_BYTES, 16)
        rounds = 0
        while len(handles) == keys and time.monotonic() < deadline:
            rounds += 1
            jobs = [h for h in handles for _ in range(samples)]
            missing = [0]

            def next_op():
                return ("get", self.random_live(), jobs.pop(), b"") if jobs else None

            def on_result(_op, ok, _s):
                if not ok:
                    missing[0] += 1

            self.run_pool(next_op, 16, on_result)
            if missing[0] == 0:
                return {"consistentMs": now_ms() - self.t0, "rounds": rounds}
            time.sleep(0.1)
        return {"consistentMs": None, "rounds": rounds}

    def preload(self, count, value_bytes):
        self.handles = self.put_many(count, value_bytes, 16)
        return {"stored": len(self.handles)}

    def load(self, op, depth, seconds, via, value_bytes):
        if op == "get" and not self.handles:
            raise RuntimeError("no preloaded keys")
        lat = []
        failed = [0]
        nxt = [0]
        start = time.monotonic()
        end = start + seconds

        def next_op():
            if time.monotonic() >= end:
                return None
            if op == "put":
                return ("put", via, os.urandom(32).hex(), os.urandom(value_bytes))
            nxt[0] += 1
            return ("get", via, self.handles[nxt[0] % len(self.handles)], b"")

        def on_result(_op, ok, s):
            if ok:
                lat.append(s * 1e6)
            else:
                failed[0] += 1

        self.run_pool(next_op, depth, on_result)
        elapsed = time.monotonic() - start
        lat.sort()

        def q(p):
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

        cdf = [lat[min(len(lat) - 1, int((i + 0.5) / 100 * len(lat)))] for i in range(100)] if lat else []
        return {"ops": len(lat), "failed": failed[0], "opsPerSec": len(lat) / elapsed,
                "p50us": q(0.5), "p99us": q(0.99), "cdfUs": cdf}

    def stop_nodes(self, fraction, spare):
        cand = [i for i in range(len(self.nodes)) if i != spare and i not in self.stopped]
        random.shuffle(cand)
        victims = cand[: round(len(self.nodes) * fraction)]
        # shutdown() with a callback returns at once; join() is not called: it would
        # hold the GIL while OpenDHT's threads wait for it to run callbacks.
        stopped = queue.Queue()
        for v in victims:
            self.stopped.add(v)
            self.nodes[v].shutdown(lambda: stopped.put(True))
        for _ in victims:
            try:
                stopped.get(timeout=10)
            except queue.Empty:
                break
        total = len(victims)
        for h in self.helpers:
            h.stdin.write(f"stop {fraction}\n")
            h.stdin.flush()
        for h in self.helpers:
            total += int(h.stdout.readline().split()[1])
        return {"stopped": total}

    def get_all(self, via, depth):
        jobs = list(self.handles)
        found = [0]

        def on_result(_op, ok, _s):
            if ok:
                found[0] += 1

        self.run_pool(lambda: ("get", via, jobs.pop(), b"") if jobs else None, depth, on_result)
        return {"found": found[0], "tried": len(self.handles)}

    def close(self):
        # the process exits right after the reply (os._exit), which ends every node
        return None


def host(count, port):
    """A helper process: `count` nodes joining through 127.0.0.1:port; lives until stdin closes."""
    w = Workload()
    for _ in range(count):
        r = opendht.DhtRunner()
        r.run(ipv4="127.0.0.1", port=0)
        r.bootstrap("127.0.0.1", str(port))
        w.nodes.append(r)
    deadline = time.monotonic() + FORM_TIMEOUT_S
    while time.monotonic() < deadline and not all(w.table_size(r) > 0 for r in w.nodes):
        time.sleep(0.05)
    print("formed", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if parts and parts[0] == "stop":
            print("stopped", w.stop_nodes(float(parts[1]), -1)["stopped"], flush=True)
    os._exit(0)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--host":
        host(int(sys.argv[2]), int(sys.argv[3]))
    w = Workload()
    ops = {
        "start": lambda a: w.start(a["n"]),
        "consistency": lambda a: w.consistency(a["keys"], a["samples"], a["timeoutMs"]),
        "preload": lambda a: w.preload(a["count"], a["valueBytes"]),
        "load": lambda a: w.load(a["op"], a["depth"], a["seconds"], a["via"], a["valueBytes"]),
        "stopNodes": lambda a: w.stop_nodes(a["fraction"], a["spare"]),
        "getAll": lambda a: w.get_all(a["via"], a["depth"]),
        "close": lambda a: w.close(),
    }
    out = sys.stdout

    def send(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    send({"ready": True, "system": "opendht", "version": metadata.version("opendht")})
    for line in sys.stdin:
        req = json.loads(line)
        try:
            send({"id": req["id"], "ok": True, "result": ops[req["op"]](req["args"])})
        except Exception as e:  # report, keep serving
            send({"id": req["id"], "ok": False, "error": repr(e)})
        if req["op"] == "close":
            break
    out.flush()
    os._exit(0)  # OpenDHT's threads are joined already; skip interpreter teardown


if __name__ == "__main__":
    main()
