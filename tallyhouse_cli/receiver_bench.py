"""``tallyhouse bench --receiver``: the receiver on loopback, next to the disk's fsync rate.

Starts a real receiver (its own process, fsync on) on a scratch landing folder, drives it
with the load generator (another process) at 1, 16 and 64 concurrent senders, stops it with
SIGTERM and then checks that every acknowledged webhook is in the closed landing files
exactly once. The disk's raw rate of ``write + fdatasync`` of one body-sized line is measured
first: without group commit, the receiver could not acknowledge more webhooks than that.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tallyhouse.config import state_dir
from tallyhouse.receiver.loadgen import body_template

BENCH_HOTTOK = "bench-hottok-not-a-secret"


def raw_fsync_rate(folder: Path, seconds: float = 2.0) -> float:
    before, after = body_template()
    line = before + b"bench-0" + after + b"\n"
    path = folder / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    count, started = 0, time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            os.write(fd, line)
            os.fdatasync(fd)
            count += 1
    finally:
        os.close(fd)
        path.unlink()
    return count / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the receiver exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the receiver did not answer /healthz in time")


def start_receiver(landing: Path, port: int, env: dict[str, str], *extra: str,
                   log_path: Path | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "tallyhouse_cli", "receive", "--port", str(port),
               "--landing", str(landing), *extra]
    log_handle = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log_handle,
                               stderr=subprocess.STDOUT)
    wait_healthy(port, process)
    return process


def landed_ids(folder: Path) -> list[str]:
    ids = []
    for path in sorted(folder.glob("hotmart_webhooks-received-*.jsonl")):
        for line in path.read_bytes().splitlines():
            ids.append(json.loads(line)["id"])
    return ids


def main_receiver_bench(seconds: float = 5.0, levels: tuple[int, ...] = (1, 16, 64),
                        json_path: str | None = None, say=print) -> int:
    # on the disk of the warehouse's own state (the landing folder's disk by default)
    with tempfile.TemporaryDirectory(prefix="receiver-bench-", dir=state_dir()) as scratch:
        landing = Path(scratch) / "landing"
        (landing / "hotmart").mkdir(parents=True)
        say(f"Receiver benchmark on {os.cpu_count()} CPU(s), scratch landing {landing}")
        fsync_rate = raw_fsync_rate(landing / "hotmart")
        say(f"  raw write+fdatasync of one {len(b''.join(body_template())) + 20}-byte line: "
            f"{fsync_rate:,.0f}/s (the limit without group commit)")
        port = free_port()
        receiver = start_receiver(landing, port, {"TALLYHOUSE_HOTMART_HOTTOK": BENCH_HOTTOK},
                                  "--rotate-seconds", "2")
        rows, acked_total, acked_ids = [], 0, []
        try:
            for level in levels:
                acked_file = Path(scratch) / f"acked-{level}.txt"
                out = subprocess.run(
                    [sys.executable, "-m", "tallyhouse.receiver.loadgen", "--port", str(port),
                     "--concurrency", str(level), "--seconds", str(seconds),
                     "--hottok", BENCH_HOTTOK, "--prefix", f"c{level}",
                     "--acked", str(acked_file)],
                    check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                acked_total += row["acked"]
                acked_ids += acked_file.read_text().split()
                say(f"  {level:>3} sender(s): {row['rps']:>8,.0f} acknowledged/s   "
                    f"p50 {row['p50_ms']:6.2f} ms   p99 {row['p99_ms']:6.2f} ms   "
                    f"errors {row['errors']}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as answer:
                health = json.load(answer)
        finally:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=60)
        writer = health["writers"]["hotmart_webhooks"]
        landed = landed_ids(landing / "hotmart")
        missing = len(set(acked_ids) - set(landed))
        duplicated = len(landed) - len(set(landed))
        say(f"  {acked_total:,} acknowledged; in landing after SIGTERM: {len(landed):,} "
            f"lines, {missing} acknowledged missing, {duplicated} twice; "
            f"{writer['fsyncs']:,} fsyncs for {writer['lines']:,} lines "
            f"({writer['lines'] / max(writer['fsyncs'], 1):.1f} bodies per fsync)")
        figures = {"cpus": os.cpu_count(), "raw_fsync_per_s": round(fsync_rate, 1),
                   "levels": rows, "acknowledged": acked_total, "landed": len(landed),
                   "missing": missing, "duplicated": duplicated, "fsyncs": writer["fsyncs"]}
        if json_path:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(json.dumps(figures, indent=2) + "\n")
            say(f"  figures written to {json_path}")
        return 0 if missing == 0 and duplicated == 0 else 1
