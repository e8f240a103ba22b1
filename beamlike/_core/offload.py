"""Running blocking or CPU-bound functions off the event loop: OS threads, OS processes.

The essay
---------
Greenlets are cooperative: a function that computes for a second, or blocks in a C call
that gevent cannot patch, holds the whole node for that second. Two ways out, both of
which block only the calling greenlet (the calling beamlike process) while the others
keep running:

- ``run_in_thread`` runs the function in a real OS thread of a per-node pool (gevent's
  ``ThreadPool``, ``THREADS`` threads). Good for blocking C calls that release the GIL
  (file I/O, compression, hashing, some database drivers). Pure-Python computation
  still shares the GIL with the event loop: the loop keeps running, but slower.
- ``run_in_process`` runs a picklable, module-level function in one of ``PROCESSES``
  worker OS processes of the node. This is what truly frees the CPU: several workers use
  several cores. Each worker is a fresh ``python -c`` interpreter (stdlib only until the
  function's own module is imported), started with gevent's cooperative ``subprocess``
  and spoken to over its stdin/stdout pipes with length-prefixed pickle frames. No
  ``multiprocessing`` or ``concurrent.futures`` machinery is involved: both rely on
  helper threads and locks that gevent's monkey patching turns into greenlets, which is
  a known source of hangs.

Guarantees: the caller gets the function's value, or its exception re-raised with the
same type (for ``run_in_process``: when it can be pickled; else ``OffloadError`` with
its type name and message; the worker's traceback is attached as ``__cause__``). A
``timeout`` raises ``OffloadTimeout`` in the caller. A caller killed while it waits
(an exit signal) stops waiting at once.

Non-guarantees and differences: a Python thread cannot be stopped. After a timeout or a
kill, ``run_in_thread``'s function runs on to its end in its thread and its result is
dropped. ``run_in_process`` does better: the worker process running the abandoned call
is killed (SIGKILL) and a fresh one is started for the next call. Output the function
prints goes to the parent's stderr (a worker's stdout is its reply pipe).

Both pools belong to the node (``Node.extensions``), are created on first use and are
shut down by ``Node.stop`` (``Node.on_stop``): idle worker processes are killed, pool
threads end after their current job.

Prior art: gevent's ``threadpool`` and ``gevent.subprocess``; ``concurrent.futures``'s
``_RemoteTraceback``; Erlang's dirty schedulers and ports (work that must not run on a
normal scheduler thread goes elsewhere; a port is an OS process spoken to over pipes).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from collections.abc import Callable
from typing import Any

import gevent
from gevent import subprocess as gsubprocess
from gevent.lock import Semaphore
from gevent.threadpool import ThreadPool

from beamlike._core.mailbox import check_timeout
from beamlike._core.node import Node, current_node
from beamlike._core.process import describe_call
from beamlike.errors import BadArgument, BadArgumentType, BeamlikeError

__all__ = [
    "PROCESSES",
    "THREADS",
    "OffloadError",
    "OffloadTimeout",
    "RemoteTraceback",
    "WorkerDied",
    "run_in_process",
    "run_in_thread",
]

# Pool sizes, read when a node's pool is created.
THREADS = 4
PROCESSES = max(1, min(4, os.cpu_count() or 1))

_THREADS_KEY = "beamlike.offload.threads"
_PROCESSES_KEY = "beamlike.offload.processes"
_HEADER = struct.Struct(">Q")


class OffloadError(BeamlikeError):
    """An offloaded call failed in a way that is not the function's own exception."""


class OffloadTimeout(OffloadError, TimeoutError):
    """The offloaded call did not finish within its ``timeout``."""


class WorkerDied(OffloadError):
    """The worker process exited (crashed, was killed) before it replied."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process, as text.

    Attached as ``__cause__`` of the exception ``run_in_process`` re-raises, so a
    traceback printed in the caller shows where the worker failed.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _check_fn(fn: Any, what: str) -> None:
    if not callable(fn):
        raise BadArgumentType(
            f"{what} expects a callable; got {fn!r} (of type {type(fn).__name__})"
        )


def _wait(what: str, fn: Any, timeout: float | None, body: Callable[[], Any]) -> Any:
    """Run ``body()`` (which blocks the calling greenlet only) within ``timeout``."""
    timer = gevent.Timeout(timeout) if timeout is not None else None
    if timer is not None:
        timer.start()
    try:
        return body()
    except gevent.Timeout as expired:
        if expired is not timer:
            raise
        raise OffloadTimeout(
            f"{what}({describe_call(fn)}) did not finish within {timeout} s"
        ) from None
    finally:
        if timer is not None:
            timer.close()


# -- threads -------------------------------------------------------------------------


def _node_pool(node: Node, key: str, make: Callable[[], Any], close: Callable[[Any], None]) -> Any:
    """The pool of ``node`` stored under ``key``: made by ``make()`` on first use, and
    closed by ``close(pool)`` when the node stops. Never blocks."""
    pool = node.extensions.get(key)
    if pool is None:
        if node.stopped:
            raise BeamlikeError(f"{node!r} is stopped; it cannot run offloaded calls")
        pool = node.extensions[key] = make()

        def stop() -> None:
            node.extensions.pop(key, None)
            close(pool)

        node.on_stop(stop)
    return pool


def _stop_threads(pool: ThreadPool) -> None:
    # kill() waits until every thread has ended: at once for idle threads, but a busy
    # one ends only after its job, so then let a greenlet wait for it, not Node.stop.
    if pool.task_queue.unfinished_tasks:
        gevent.spawn(pool.kill)
    else:
        pool.kill()


def run_in_thread(
    fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
) -> Any:
    """Run ``fn(*args, **kwargs)`` in an OS thread of the node's pool; return its value.

    Blocks until ``fn`` returns (its value), raises (the same exception, re-raised here)
    or ``timeout`` seconds pass (``OffloadTimeout``; None: no limit), counting the wait
    for a free thread. Only the calling greenlet (beamlike process) waits; the event loop
    and other processes keep running. A Python thread cannot be stopped: after a timeout,
    or when the waiting process is killed, ``fn`` runs on to its end and its result is
    dropped. ``fn`` must not use beamlike itself (it runs outside the event loop's
    thread).
    """
    _check_fn(fn, "run_in_thread")
    seconds = check_timeout(timeout)
    pool = _node_pool(current_node(), _THREADS_KEY, lambda: ThreadPool(THREADS), _stop_threads)

    def body() -> Any:
        return pool.spawn(fn, *args, **kwargs).get()

    return _wait("run_in_thread", fn, seconds, body)


# -- processes -----------------------------------------------------------------------

# The program a worker process runs (``python -c``): stdlib only. It keeps the pipe to
# its parent on a private fd and points fd 1 at stderr, so that prints of the functions
# it runs cannot corrupt the replies; fd 0 becomes /dev/null. The first frame is the
# parent's sys.path; each next frame is a pickled (fn, args, kwargs); each reply a
# pickled ("ok", value), ("raise", exception, traceback), or ("foreign", type name,
# message, traceback) when the exception or value could not travel back.
_WORKER_SOURCE = r"""
import os, pickle, struct, sys, traceback

HEADER = struct.Struct(">Q")


def main():
    out = os.dup(1)
    os.dup2(2, 1)
    inp = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)

    def read_exact(n):
        chunks = []
        while n:
            chunk = os.read(inp, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_frame():
        head = read_exact(HEADER.size)
        if head is None:
            return None
        (size,) = HEADER.unpack(head)
        return read_exact(size) if size else b""

    def write_frame(data):
        view = memoryview(HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(out, view):]

    def describe(value):
        kind = type(value)
        return kind.__module__ + "." + kind.__qualname__

    path = read_frame()
    if path is None:
        return
    sys.path[:] = pickle.loads(path)
    while True:
        frame = read_frame()
        if frame is None:
            return
        try:
            fn, args, kwargs = pickle.loads(frame)
            reply = ("ok", fn(*args, **kwargs))
        except BaseException as exc:
            reply = ("raise", exc, traceback.format_exc())
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            if reply[0] == "raise":
                pickle.loads(data)  # an exception that cannot be rebuilt goes as text
        except BaseException as exc:
            if reply[0] == "ok":
                data = pickle.dumps((
                    "foreign",
                    "",
                    "its result, a " + describe(reply[1]) + ", could not be pickled: "
                    + repr(exc),
                    "",
                ))
            else:
                data = pickle.dumps(("foreign", describe(reply[1]), str(reply[1]), reply[2]))
        del reply
        write_frame(data)


main()
"""


class _Worker:
    """One worker OS process and its pipes. Used by one caller at a time."""

    def __init__(self) -> None:
        self.popen = gsubprocess.Popen(
            [sys.executable, "-c", _WORKER_SOURCE],
            stdin=gsubprocess.PIPE,
            stdout=gsubprocess.PIPE,
            close_fds=True,
        )
        self.pid: int = self.popen.pid
        try:
            self._send(pickle.dumps(list(sys.path)))
        except BaseException:
            self.kill()
            raise

    def _send(self, data: bytes) -> None:
        stdin = self.popen.stdin
        stdin.write(_HEADER.pack(len(data)))
        stdin.write(data)
        stdin.flush()

    def _read_exact(self, size: int) -> bytes | None:
        stdout = self.popen.stdout
        chunks = []
        while size:
            chunk = stdout.read(size)
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def call(self, payload: bytes) -> tuple[Any, ...] | None:
        """Send one call; return the decoded reply, or None if the worker died.

        Blocks the calling greenlet until the reply arrives.
        """
        try:
            self._send(payload)
        except (BrokenPipeError, OSError):
            return None
        head = self._read_exact(_HEADER.size)
        if head is None:
            return None
        (size,) = _HEADER.unpack(head)
        data = self._read_exact(size) if size else b""
        if data is None:
            return None
        return pickle.loads(data)  # type: ignore[no-any-return]

    def exit_code(self) -> int | None:
        """The worker's exit code once it has exited (waits up to a second)."""
        try:
            return self.popen.wait(timeout=1.0)  # type: ignore[no-any-return]
        except gsubprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the worker process and close its pipes. Never blocks."""
        try:
            self.popen.kill()
        except OSError:
            pass  # already gone
        for pipe in (self.popen.stdin, self.popen.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class _ProcessPool:
    """The worker processes of one node: at most ``size`` at once, started on demand."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = Semaphore(size)
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.closed = False

    def run(self, fn: Any, payload: bytes) -> tuple[Any, ...]:
        """Run one pickled call on a worker; return its reply. Blocks until then."""
        self.slots.acquire()
        worker: _Worker | None = None
        try:
            worker = self.idle.pop() if self.idle else _Worker()
            self.busy.add(worker)
            reply = worker.call(payload)
            if reply is None:
                code = worker.exit_code()
                raise WorkerDied(
                    f"the worker process (OS pid {worker.pid}) running {describe_call(fn)} "
                    f"exited with code {code} before replying"
                )
            self.busy.discard(worker)
            if self.closed:
                worker.kill()
            else:
                self.idle.append(worker)
            worker = None
            return reply
        finally:
            if worker is not None:  # timeout, kill, crash: its state is unknown
                self.busy.discard(worker)
                worker.kill()
            self.slots.release()

    def close(self) -> None:
        """Kill every worker process. Never blocks."""
        self.closed = True
        for worker in [*self.idle, *self.busy]:
            worker.kill()
        self.idle.clear()
        self.busy.clear()


def _pickle_call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    if getattr(fn, "__module__", None) == "__main__":
        raise BadArgument(
            f"run_in_process needs a function its worker can import by module name; "
            f"{describe_call(fn)} is defined in the __main__ script: move it into a module"
        )
    try:
        return pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise BadArgument(
            f"run_in_process needs a picklable module-level function and picklable "
            f"arguments; pickling the call of {describe_call(fn)} failed: {exc}"
        ) from exc


def run_in_process(
    fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a worker OS process of the node; return its value.

    ``fn`` must be picklable by reference (a module-level function of an importable
    module, not of ``__main__``, not a lambda or a closure), and ``args``, ``kwargs`` and
    the value it returns must be picklable; else ``BadArgument`` (here) or
    ``OffloadError`` (for the value). Blocks until ``fn`` returns (its value), raises
    (the same exception type, with the worker's traceback as ``__cause__``), its worker
    dies (``WorkerDied``), or ``timeout`` seconds pass (``OffloadTimeout``; None: no
    limit), counting the wait for a free worker. Only the calling greenlet (beamlike
    process) waits; the event loop and other processes keep running, on another core.
    On a timeout, or when the waiting process is killed, the worker running the call is
    killed (the computation stops) and replaced on the next call.
    """
    _check_fn(fn, "run_in_process")
    seconds = check_timeout(timeout)
    payload = _pickle_call(fn, args, kwargs)
    pool = _node_pool(
        current_node(), _PROCESSES_KEY, lambda: _ProcessPool(PROCESSES), _ProcessPool.close
    )
    reply = _wait("run_in_process", fn, seconds, lambda: pool.run(fn, payload))
    tag = reply[0]
    if tag == "ok":
        return reply[1]
    if tag == "raise":
        error: BaseException = reply[1]
        error.__cause__ = RemoteTraceback(reply[2])
        raise error
    _, kind, message, text = reply
    if kind:
        raise OffloadError(
            f"{describe_call(fn)} raised {kind}: {message} (in a worker process; the exception "
            "could not be pickled back)"
        ) from (RemoteTraceback(text) if text else None)
    raise OffloadError(f"{describe_call(fn)} returned a value that cannot travel back: {message}")
