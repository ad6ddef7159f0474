"""`reproqa serve` under load and under a crash (issue 16), on 127.0.0.1; every loop stops by itself.

    python benchmarks/serve_load.py                      # this project's models (after `make repro`)
    python benchmarks/serve_load.py --seconds 60 --clients 32 --posts 1000

Starts `reproqa serve` (the real command, its own process) with a fresh database in benchmarks/out/serve/, then:
1. load: --clients threads ask the test split's questions for --seconds: requests, errors, p50/p95 latency; and
   one client alone, for the latency of a single question over HTTP;
2. feedback: --posts feedback posts from --clients threads: rows in the database, none lost or doubled;
3. crash: a feedback burst from --clients threads, the server killed with SIGKILL in the middle, restarted on the
   same database: every acknowledged feedback id is there.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from reproqa.models import cpu_description

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks/out/serve"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(port: int, database: Path) -> subprocess.Popen:
    reproqa = Path(sys.executable).parent / "reproqa"
    command = [str(reproqa), "serve", "--port", str(port), "--database", str(database)]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"reproqa serve exited: {server.stderr.read()}")
        try:
            if request(port, "GET", "/health")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("reproqa serve did not answer /health in 120 s")


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def load(port: int, questions: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads, each asking question after question until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    latencies, errors, lock = [], [], threading.Lock()

    def client(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                status, _ = request(port, "POST", "/ask", {"question": questions[i % len(questions)]})
            except OSError as error:
                status = str(error)
            with lock:
                (latencies if status == 200 else errors).append(time.perf_counter() - start)
            i += clients

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "per_s": round(len(latencies) / seconds, 2),
    }


def feedback_rows(database: Path) -> list[int]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT id FROM feedback ORDER BY id")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    database = OUT / "feedback.db"
    for stale in OUT.glob("feedback.db*"):
        stale.unlink()
    questions = [r["question"] for r in pq.read_table(REPO / "data/processed/test.parquet").to_pylist()]
    port = free_port()
    server = start(port, database)
    print(f"{cpu_description()}; reproqa serve on 127.0.0.1:{port}, {len(questions)} test questions")

    # 1. Load, then one client alone
    many = load(port, questions, args.clients, args.seconds)
    print(f"load, {args.clients} clients, {args.seconds:.0f} s: {many}")
    alone = load(port, questions, 1, min(args.seconds, 20))
    print(f"one client alone: {alone}")

    # 2. Feedback from many clients at once: exactly --posts rows
    _, asked = request(port, "POST", "/ask", {"question": questions[0]})
    before = len(feedback_rows(database))
    body = {"answer_id": asked["answer_id"], "verdict": "wrong"}
    with ThreadPoolExecutor(args.clients) as pool:
        answers = list(pool.map(lambda _: request(port, "POST", "/feedback", body), range(args.posts)))
    ids = [reply["feedback_id"] for status, reply in answers if status == 201]
    rows = feedback_rows(database)
    print(
        f"feedback: {args.posts} posts, {len(ids)} acknowledged, {len(set(ids))} distinct ids, "
        f"{len(rows) - before} rows added, every acknowledged id stored: {set(ids) <= set(rows)}"
    )

    # 3. SIGKILL in the middle of a burst, restart on the same database
    acknowledged, stop = [], threading.Event()

    def poster() -> None:
        while not stop.is_set():
            try:
                status, reply = request(port, "POST", "/feedback", body)
            except OSError:
                return  # the server is gone
            if status == 201:
                acknowledged.append(reply["feedback_id"])

    threads = [threading.Thread(target=poster) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 200:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for thread in threads:
        thread.join(30)
    server = start(port, database)
    stored = set(feedback_rows(database))
    lost = [i for i in acknowledged if i not in stored]
    print(
        f"crash: {len(acknowledged)} posts acknowledged before SIGKILL; after a restart {len(stored)} rows, "
        f"acknowledged but lost: {len(lost)}; the restarted server answers /health: "
        f"{request(port, 'GET', '/health')[0] == 200}"
    )
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
