"""beamlike in one screen: thousands of processes, a crash, a restart, with timings.

Run it with ``make demo`` (or ``python examples/processes_demo.py``). It shows:

1. 10,000 processes spawned, each keeping its own state, all answering a request;
2. a *keeper* process that traps exits, links to a worker registered as ``"counter"``,
   and restarts it when it crashes, so clients that address it by name keep working;
3. a monitor that reports each worker's death exactly once;
4. how long each step took.
"""

from gevent import monkey

monkey.patch_all()

import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from beamlike import (  # noqa: E402
    ANY,
    Down,
    Exit,
    Node,
    monitor,
    process_flag,
    receive,
    register,
    run,
    self_pid,
    send,
    spawn,
    spawn_link,
    whereis,
)

PROCESSES = 10_000


def say(text: str) -> None:
    print(text, flush=True)


# -- 1. thousands of processes ---------------------------------------------------------


def account(number: int) -> None:
    """A process holding one piece of state: a balance."""
    balance = 0
    while True:
        message = receive()
        if message[0] == "deposit":
            balance += message[1]
        elif message[0] == "balance":
            send(message[1], ("balance", number, balance))
        elif message[0] == "stop":
            return


def thousands() -> None:
    started = time.perf_counter()
    pids = [spawn(account, n) for n in range(PROCESSES)]
    spawned = time.perf_counter()
    me = self_pid()
    for n, pid in enumerate(pids):
        send(pid, ("deposit", n))
        send(pid, ("balance", me))
    total = 0
    for _ in pids:
        _, _, balance = receive(("balance", ANY, ANY))
        total += balance
    answered = time.perf_counter()
    for pid in pids:
        send(pid, ("stop",))
    assert total == sum(range(PROCESSES)), total
    say(
        f"1. spawned {PROCESSES:,} processes in {(spawned - started) * 1e3:.1f} ms "
        f"({(spawned - started) / PROCESSES * 1e6:.1f} µs each)"
    )
    say(
        f"   each got a deposit and answered a request: {(answered - spawned) * 1e3:.1f} ms "
        f"for {2 * PROCESSES:,} messages in and {PROCESSES:,} out; total balance {total:,}"
    )


# -- 2. a crash and a restart by a link handler ----------------------------------------


def counter() -> None:
    """Counts requests; crashes when asked to divide by zero."""
    count = 0
    while True:
        request, sender = receive((ANY, ANY))
        count += 1
        if request == "divide_by_zero":
            count = count // 0  # ZeroDivisionError: the process crashes
        send(sender, ("count", count))


def keeper(parent) -> None:
    """Traps exits, starts `counter` linked under its name, restarts it when it dies."""
    process_flag("trap_exit", True)
    worker = spawn_link(counter)
    register("counter", worker)
    send(parent, ("started", worker))
    while True:
        message = receive()
        if isinstance(message, Exit) and message.pid == worker:
            died_at = time.perf_counter()
            worker = spawn_link(counter)
            register("counter", worker)
            send(parent, ("restarted", message.pid, message.reason, worker, died_at))
        elif message == "stop":
            return


def ask(request: str):
    send("counter", (request, self_pid()))
    return receive(("count", ANY), timeout=1.0)


def crash_and_restart() -> None:
    spawn(keeper, self_pid())
    _, first = receive(("started", ANY), timeout=1.0)
    watch = monitor(first)
    say(f"2. 'counter' is {first}; it answers {ask('hello')}")
    send("counter", ("divide_by_zero", self_pid()))
    _, old, reason, new, died_at = receive(("restarted", ANY, ANY, ANY, ANY), timeout=1.0)
    restarted_at = time.perf_counter()
    down = receive(Down(watch, ANY, ANY), timeout=1.0)
    say(
        f"   {old} crashed with {reason!r}; the keeper restarted it as {new} "
        f"in {(restarted_at - died_at) * 1e6:.0f} µs"
    )
    say(f"3. the monitor saw it once: Down(pid={down.pid}, reason={type(down.reason).__name__})")
    say(
        f"   the name now points to {whereis('counter')}, and it answers {ask('hello again')} "
        "(a fresh process: fresh state)"
    )


def main() -> None:
    began = time.perf_counter()
    thousands()
    crash_and_restart()
    say(f"4. whole demo: {(time.perf_counter() - began) * 1e3:.1f} ms")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, format="   [log %(name)s] %(message)s")
    # The crash is logged once, with its traceback, on logger "beamlike.crash"; keep
    # the demo's output short by showing only the first line of it.
    logging.getLogger("beamlike.crash").handlers[:] = []

    class FirstLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            record.exc_info = None
            record.exc_text = None
            return super().format(record)

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(FirstLine("   [crash report] %(message)s (traceback omitted here)"))
    crash_log = logging.getLogger("beamlike.crash")
    crash_log.addHandler(handler)
    crash_log.propagate = False
    node = Node(block_threshold=None)
    with node.as_default():
        run(main)
    node.stop()
