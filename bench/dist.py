"""Distribution benchmark: two nodes as two OS processes on 127.0.0.1, side by side.

Usage (from the repository root)::

    .venv/bin/python bench/dist.py                 # about 1-2 minutes on 2 cores
    .venv/bin/python bench/dist.py --quick         # smoke test, < 40 s
    .venv/bin/python bench/dist.py --json out.json

Cases (medians of a few repetitions; the implementations take turns repetition by
repetition):

1. ``pingpong``: remote round trip of a small message. beamlike: this process (node A)
   sends ``(self_pid(), i)`` to an echo process on a peer node B (``start_peer``) and
   waits for the reply. raw zmq.green: a DEALER here, a ROUTER in a child Python that
   echoes, msgpack-encoded ``["p", i]``. Erlang: two ``erl`` nodes, an echo process on
   node b, timed with ``timer:tc``. Goal: beamlike ÷ raw ≤ 1.2.
2. ``throughput``: one-way small messages ``("n", i)`` from A to B; B counts and answers
   the count on ``("done", sender)``; the clock stops at that answer. Goal: beamlike ÷
   raw ≥ 2 (msgs/s, higher is better).
3. ``cpu``: N pure-Python tasks of ~0.2 s each, all on one peer node vs split over two
   peer nodes (the driver only spawns them and collects results). Speed-up = time on 1 ÷
   time on 2. Goal ≥ 1.7.

Every child (peers, the raw peer, the port-mapper daemon, erl nodes and Erlang's epmd,
started on a private port) is stopped at the end.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack  # noqa: E402
import zmq.green as zmq  # noqa: E402

from beamlike import node as bnode  # noqa: E402
from beamlike import receive, self_pid, send  # noqa: E402
from beamlike.dist import spawn as remote_spawn  # noqa: E402
from beamlike.dist import start_peer  # noqa: E402
from bench import dist_support  # noqa: E402
from bench._harness import (  # noqa: E402
    PYTHON,
    ROOT,
    fmt_ratio,
    fmt_value,
    now,
    ratio,
    render_table,
    verdict,
)

COOKIE = "bench-dist-cookie"
PEER_ENV = {"PYTHONPATH": str(ROOT)}
SUPPORT = "bench.dist_support"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """preexec_fn for children: SIGKILL when this process dies (Linux), so a driver
    killed by a signal leaves nothing behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the try/finally still cleans up
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- beamlike


class Beamlike:
    """Node A in this process; peers B (and C for the cpu case) as child processes."""

    def __init__(self, children: list[Any]) -> None:
        self.children = children
        self.node = bnode.start(f"bench{os.getpid()}@127.0.0.1", cookie=COOKIE)
        self.peers: list[Any] = []

    def peer(self, i: int) -> str:
        while len(self.peers) <= i:
            p = start_peer(
                f"bench{os.getpid()}p{len(self.peers)}@127.0.0.1",
                cookie=COOKIE,
                env=PEER_ENV,
                block_threshold=30.0,  # cpu tasks hold a node on purpose
            )
            self.peers.append(p)
            self.children.append(p)
        return self.peers[i].name

    def pingpong(self, n: int, warmup: int) -> float:
        echo = remote_spawn(self.peer(0), f"{SUPPORT}:echo")
        me = self_pid()
        for i in range(warmup):
            send(echo, (me, i))
            receive()
        t0 = now()
        for i in range(n):
            send(echo, (me, i))
            receive()
        elapsed = now() - t0
        send(echo, (me, "x"))  # leave the echo idle; it is dropped with the peer
        receive()
        return elapsed / n * 1e6

    def throughput(self, n: int, warmup: int) -> float:
        sink = remote_spawn(self.peer(0), f"{SUPPORT}:sink")
        me = self_pid()
        for i in range(warmup):
            send(sink, ("n", i))
        send(sink, ("done", me))
        receive()
        t0 = now()
        for i in range(n):
            send(sink, ("n", i))
        send(sink, ("done", me))
        _, count = receive()
        elapsed = now() - t0
        if count != n:
            raise RuntimeError(f"beamlike sink counted {count}, expected {n}")
        return n / elapsed

    def cpu(self, tasks: int, iterations: int, nodes: int) -> float:
        """One worker process per node, started before the clock; tasks go to them as
        messages, round robin (a remote spawn waits for the node's answer, which a node
        busy computing gives only between tasks)."""
        me = self_pid()
        workers = [remote_spawn(self.peer(i), f"{SUPPORT}:cpu_worker", me) for i in range(nodes)]
        t0 = now()
        for i in range(tasks):
            send(workers[i % nodes], ("task", i, iterations))
        for _ in range(tasks):
            receive()
        elapsed = now() - t0
        for w in workers:
            send(w, "stop")
        return elapsed

    def close(self) -> None:
        for p in self.peers:
            try:
                p.stop()
            except Exception:  # noqa: BLE001 - killed below anyway
                pass
        bnode.stop(self.node)


# --------------------------------------------------------------------------- raw zmq.green


class Raw:
    """A DEALER here; a ROUTER in a child Python (``dist_support.raw_peer``)."""

    def __init__(self, children: list[Any]) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", f"import {SUPPORT} as s; s.raw_peer()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **PEER_ENV},
            preexec_fn=die_with_parent,
        )
        children.append(self.proc)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"raw peer did not start: {line!r}")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.connect(f"tcp://127.0.0.1:{int(line.split()[1])}")

    def pingpong(self, n: int, warmup: int) -> float:
        sock, packb, unpackb = self.sock, msgpack.packb, msgpack.unpackb
        for i in range(warmup):
            sock.send(packb(["p", i]))
            unpackb(sock.recv())
        t0 = now()
        for i in range(n):
            sock.send(packb(["p", i]))
            unpackb(sock.recv())
        return (now() - t0) / n * 1e6

    def throughput(self, n: int, warmup: int) -> float:
        sock, packb, unpackb = self.sock, msgpack.packb, msgpack.unpackb
        for i in range(warmup):
            sock.send(packb(["n", i]))
        sock.send(packb(["done"]))
        sock.recv()
        t0 = now()
        for i in range(n):
            sock.send(packb(["n", i]))
        sock.send(packb(["done"]))
        _, count = unpackb(sock.recv())
        elapsed = now() - t0
        if count != n:
            raise RuntimeError(f"raw sink counted {count}, expected {n}")
        return n / elapsed

    def close(self) -> None:
        try:
            self.sock.send(msgpack.packb(["stop"]))
            self.sock.close()
            self.ctx.term()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - killed below anyway
            pass


# --------------------------------------------------------------------------- Erlang

ERL_MODULE = r"""
-module(distbench).
-export([main/1, echo/0, sink/1]).

echo() -> receive {From, X} -> From ! X, echo() end.

sink(N) ->
    receive
        {done, From} -> From ! {count, N}, sink(0);
        _ -> sink(N + 1)
    end.

wait_up(B, 0) -> error({cannot_connect, B});
wait_up(B, K) ->
    case net_adm:ping(B) of
        pong -> ok;
        pang -> timer:sleep(100), wait_up(B, K - 1)
    end.

pp(_, 0) -> ok;
pp(E, K) -> E ! {self(), K}, receive _ -> ok end, pp(E, K - 1).

flood(_, 0) -> ok;
flood(S, K) -> S ! {n, K}, flood(S, K - 1).

tp(S, N) -> flood(S, N), S ! {done, self()}, receive {count, C} -> C end.

main([BA, NA, TA, RA]) ->
    B = list_to_atom(BA), N = list_to_integer(NA), T = list_to_integer(TA),
    R = list_to_integer(RA),
    wait_up(B, 100),
    E = spawn(B, distbench, echo, []),
    S = spawn(B, distbench, sink, [0]),
    pp(E, N div 10), _ = tp(S, T div 10),
    lists:foreach(
        fun(_) ->
            {U1, ok} = timer:tc(fun() -> pp(E, N) end),
            io:format("BENCH pingpong ~p~n", [U1 / N]),
            {U2, T} = timer:tc(fun() -> tp(S, T) end),
            io:format("BENCH throughput ~p~n", [T / (U2 / 1.0e6)])
        end,
        lists:seq(1, R)),
    rpc:call(B, erlang, halt, []),
    halt().
"""


def run_erlang(n_pp: int, n_tp: int, repeat: int, children: list[Any]) -> tuple[dict, str | None]:
    """Both Erlang cases in one pair of nodes; ({"pingpong": [...], "throughput": [...]},
    error or None)."""
    erl, erlc, epmd = shutil.which("erl"), shutil.which("erlc"), shutil.which("epmd")
    if not erl or not erlc:
        return {}, "erl/erlc not on PATH"
    tmp = tempfile.mkdtemp(prefix="distbench-erl-")
    epmd_port = free_port()
    env = {**os.environ, "ERL_EPMD_PORT": str(epmd_port)}
    tag = f"db{os.getpid()}"
    try:
        Path(tmp, "distbench.erl").write_text(ERL_MODULE)
        done = subprocess.run(
            [erlc, "-o", tmp, str(Path(tmp, "distbench.erl"))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            return {}, f"erlc failed: {(done.stdout + done.stderr).strip()[:200]}"
        common = ["-noshell", "-setcookie", "c", "-pa", tmp]
        b_name, a_name = f"{tag}b@127.0.0.1", f"{tag}a@127.0.0.1"
        node_b = subprocess.Popen(
            [erl, "-name", b_name, *common],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        children.append(node_b)
        try:
            proc = subprocess.run(
                [
                    erl,
                    "-name",
                    a_name,
                    *common,
                    "-run",
                    "distbench",
                    "main",
                    b_name,
                    str(n_pp),
                    str(n_tp),
                    str(repeat),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                preexec_fn=die_with_parent,
            )
        finally:
            try:
                node_b.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node_b.kill()
                node_b.wait()
        samples: dict[str, list[float]] = {"pingpong": [], "throughput": []}
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH "):
                _, metric, value = line.split()
                samples[metric].append(float(value))
        if not samples["pingpong"]:
            text = (proc.stdout + proc.stderr).strip().replace("\n", " ")[:300]
            return {}, f"erl run failed (status {proc.returncode}): {text}"
        return samples, None
    except Exception as exc:  # noqa: BLE001 - Erlang is optional: report and skip
        return {}, f"{type(exc).__name__}: {exc}"
    finally:
        if epmd:
            subprocess.run(
                [epmd, "-port", str(epmd_port), "-kill"], env=env, capture_output=True, timeout=10
            )
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- driver


def calibrate(seconds: float) -> int:
    """Iterations of ``dist_support.work`` that take about ``seconds`` here."""
    k = 100_000
    while True:
        t0 = now()
        dist_support.work(k)
        dt = now() - t0
        if dt > 0.05:
            return int(k * seconds / dt)
        k *= 2


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def kill_all(children: list[Any]) -> None:
    for child in children:
        try:
            if isinstance(child, subprocess.Popen):
                if child.poll() is None:
                    child.kill()
                child.wait(timeout=5)
                for stream in (child.stdin, child.stdout, child.stderr):
                    if stream:
                        stream.close()
            else:  # a beamlike Peer
                if child.is_alive():
                    child.kill()
        except Exception as exc:  # noqa: BLE001 - best effort, keep going
            log(f"cleanup: {exc}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N, one or two repetitions")
    ap.add_argument("--json", metavar="PATH", help="write samples, medians and ratios")
    args = ap.parse_args(argv)
    if args.quick:
        n_pp, n_tp, repeat, tasks, task_s, cpu_repeat = 2_000, 20_000, 2, 8, 0.1, 1
    else:
        n_pp, n_tp, repeat, tasks, task_s, cpu_repeat = 10_000, 200_000, 5, 20, 0.2, 3

    children: list[Any] = []
    samples: dict[str, dict[str, list[float]]] = {
        "pingpong": {"beamlike": [], "zmq": [], "erlang": []},
        "throughput": {"beamlike": [], "zmq": [], "erlang": []},
        "cpu": {"one": [], "two": []},
    }
    erl_error: str | None = None
    epmd_proc = None
    bl = raw = None
    saved_epmd = os.environ.get("BEAMLIKE_EPMD_PORT")
    t_start = now()
    try:
        # A private port-mapper daemon: nothing stays behind.
        port = free_port()
        epmd_proc = subprocess.Popen(
            [PYTHON, "-m", "beamlike.dist.epmd", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env={**os.environ, **PEER_ENV},
            preexec_fn=die_with_parent,
        )
        children.append(epmd_proc)
        assert epmd_proc.stdout is not None
        if b"listening" not in epmd_proc.stdout.readline():
            raise RuntimeError("port-mapper daemon did not start")
        os.environ["BEAMLIKE_EPMD_PORT"] = str(port)

        log("starting beamlike node + peer, raw zmq.green peer ...")
        bl = Beamlike(children)
        bl.peer(0)
        raw = Raw(children)
        warm_pp, warm_tp = n_pp // 10, n_tp // 10
        for r in range(repeat):
            for name, impl in (("beamlike", bl), ("zmq", raw)):
                samples["pingpong"][name].append(impl.pingpong(n_pp, warm_pp))
                samples["throughput"][name].append(impl.throughput(n_tp, warm_tp))
            log(
                f"rep {r + 1}/{repeat}: pingpong bl {samples['pingpong']['beamlike'][-1]:.1f} "
                f"zmq {samples['pingpong']['zmq'][-1]:.1f} µs; throughput bl "
                f"{samples['throughput']['beamlike'][-1]:,.0f} "
                f"zmq {samples['throughput']['zmq'][-1]:,.0f} msg/s"
            )
        raw.close()
        raw = None

        log("erlang ...")
        erl_samples, erl_error = run_erlang(n_pp, n_tp, repeat, children)
        if erl_error:
            log(f"erlang skipped: {erl_error}")
        for metric, xs in erl_samples.items():
            samples[metric]["erlang"] = xs

        log("cpu: calibrating ...")
        iterations = calibrate(task_s)
        bl.peer(1)
        bl.cpu(2, iterations // 10, 2)  # warm-up: import, first spawn on each peer
        for r in range(cpu_repeat):
            samples["cpu"]["one"].append(bl.cpu(tasks, iterations, 1))
            samples["cpu"]["two"].append(bl.cpu(tasks, iterations, 2))
            log(
                f"cpu rep {r + 1}/{cpu_repeat}: 1 node {samples['cpu']['one'][-1]:.2f} s, "
                f"2 nodes {samples['cpu']['two'][-1]:.2f} s"
            )
    finally:
        if raw is not None:
            raw.close()
        if bl is not None:
            try:
                bl.close()
            except Exception as exc:  # noqa: BLE001
                log(f"cleanup: {exc}")
        kill_all(children)
        if saved_epmd is None:
            os.environ.pop("BEAMLIKE_EPMD_PORT", None)
        else:
            os.environ["BEAMLIKE_EPMD_PORT"] = saved_epmd

    # ---- table
    headers = [
        "benchmark",
        "unit",
        "beamlike",
        "zmq.green",
        "erlang",
        "bl÷zmq",
        "goal",
        "result",
        "bl÷erlang",
    ]
    rows: list[list[str]] = []
    records: list[dict] = []
    pp = {k: med(v) for k, v in samples["pingpong"].items()}
    tp = {k: med(v) for k, v in samples["throughput"].items()}

    erl_cell = "skipped" if erl_error else None
    for case, title, unit, m, goal, higher in (
        ("pingpong", f"remote ping-pong, {n_pp:,} round trips", "µs/round trip", pp, 1.2, False),
        ("throughput", f"one-way A→B, {n_tp:,} messages", "msgs/s", tp, 2.0, True),
    ):
        r_zmq, r_erl = ratio(m["beamlike"], m["zmq"]), ratio(m["beamlike"], m["erlang"])
        result = verdict(r_zmq, goal, higher=higher)
        rows.append(
            [
                title,
                unit,
                fmt_value(m["beamlike"]),
                fmt_value(m["zmq"]),
                erl_cell or fmt_value(m["erlang"]),
                fmt_ratio(r_zmq),
                f"{'≥' if higher else '≤'} {goal:g}",
                result,
                fmt_ratio(r_erl),
            ]
        )
        records.append(
            {
                "case": case,
                "unit": unit,
                "samples": samples[case],
                "median": m,
                "beamlike_over_zmq": r_zmq,
                "beamlike_over_erlang": r_erl,
                "goal": goal,
                "goal_higher_is_better": higher,
                "result": result,
            }
        )
    one, two = med(samples["cpu"]["one"]), med(samples["cpu"]["two"])
    speedup = ratio(one, two)
    cpu_result = verdict(speedup, 1.7, higher=True)
    cpu_title = f"cpu, {tasks} tasks × {task_s:g} s, 1 vs 2 nodes"
    rows.append(
        [
            cpu_title,
            "s (1 node / 2 nodes)",
            f"{fmt_value(one)} / {fmt_value(two)}",
            "—",
            "—",
            fmt_ratio(speedup),
            "≥ 1.7 (speed-up)",
            cpu_result,
            "—",
        ]
    )
    records.append(
        {
            "case": "cpu",
            "unit": "s",
            "samples": samples["cpu"],
            "median": {"one": one, "two": two},
            "speedup": speedup,
            "goal": 1.7,
            "result": cpu_result,
        }
    )

    print(render_table(headers, rows, markdown=False))
    print()
    print(
        f"medians of {repeat} repetitions (cpu: {cpu_repeat}); 2 OS processes on "
        f"127.0.0.1, {os.cpu_count()} CPUs. ping-pong: lower is better, goal bounds "
        "bl÷zmq; throughput: higher is better, goal bounds bl÷zmq; cpu: bl÷zmq column is "
        "the speed-up (time on 1 node ÷ time on 2 nodes)."
    )
    if erl_error:
        print(f"erlang skipped: {erl_error}")
    print(f"total {now() - t_start:.0f} s")
    if args.json:
        out = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(),
            "quick": args.quick,
            "cpus": os.cpu_count(),
            "results": records,
            "erlang_error": erl_error,
            "params": {
                "pingpong_n": n_pp,
                "throughput_n": n_tp,
                "repeat": repeat,
                "cpu_tasks": tasks,
                "cpu_task_seconds": task_s,
                "cpu_repeat": cpu_repeat,
            },
        }
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
