"""Run blocking or CPU-bound functions off the event loop, blocking only the caller.

A greenlet that computes without blocking holds its whole node: no other process, timer
or I/O runs meanwhile (the watchdog reports it). Hand such work to an OS thread or an OS
process instead; the calling process waits for the result while the others keep running:

=======================================================  =======  ========================
function                                                 blocks?  runs ``fn`` in
=======================================================  =======  ========================
``run_in_thread(fn, *args, timeout=None, **kwargs)``     yes      an OS thread of the
                                                                  node's pool (4 threads)
``run_in_process(fn, *args, timeout=None, **kwargs)``    yes      a worker OS process of
                                                                  the node (up to 4, at
                                                                  most one per core)
=======================================================  =======  ========================

Use ``run_in_thread`` for blocking calls that release the GIL (C libraries, file I/O),
``run_in_process`` for pure-Python computation (it truly frees the CPU; ``fn`` and its
arguments must be picklable, ``fn`` a module-level function). Errors: the function's
own exception, re-raised with its type; ``OffloadTimeout`` after ``timeout`` seconds;
``WorkerDied`` when a worker process exits before replying; ``OffloadError`` when a
result or exception cannot be pickled back. A thread cannot be stopped: after a timeout
or a kill of the waiting process its result is dropped; a worker process is killed.

Example::

    from beamlike import run
    from beamlike.offload import run_in_process

    def main():
        return run_in_process(pow, 3, 1000, 7)   # other processes keep running meanwhile

    assert run(main) == pow(3, 1000, 7)

The pools belong to the node; ``Node.stop`` shuts them down. See ``docs/tools.md`` of
elixirchain for how tools use this (``Tool.offload``).
"""

from __future__ import annotations

from beamlike._core.offload import (
    OffloadError,
    OffloadTimeout,
    RemoteTraceback,
    WorkerDied,
    run_in_process,
    run_in_thread,
)

__all__ = [
    "OffloadError",
    "OffloadTimeout",
    "RemoteTraceback",
    "WorkerDied",
    "run_in_process",
    "run_in_thread",
]
