"""beamlike: Erlang/OTP-style processes on gevent greenlets.

Processes with mailboxes and selective receive, links, monitors, exit signals and
registered names, scheduled by a run queue that switches greenlets directly; and the
OTP behaviours built on them: GenServer, Supervisor, DynamicSupervisor, Task, Registry,
ETS-like tables, ``sys`` and hot code upgrade. Call ``gevent.monkey.patch_all()`` in your
program's entry point before using it for I/O.

    from beamlike import spawn, send, receive, self_pid
    from beamlike import GenServer, Ok, Reply, gen_server, Supervisor
"""

from __future__ import annotations

from beamlike import (
    code,
    dynamic_supervisor,
    ets,
    gen_server,
    node,
    offload,
    proc_lib,
    registry,
    supervisor,
    sys,
    task,
)
from beamlike._core.ids import Pid, Ref
from beamlike._core.node import Node
from beamlike.dynamic_supervisor import DynamicSupervisor, DynamicSupervisorSpec
from beamlike.errors import (
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    BeamlikeError,
    DeadlockError,
    NoProcError,
    ProcessExit,
    ReceiveTimeout,
)
from beamlike.gen_server import GenServer, Ignore, NoReply, Ok, Reply, Stop
from beamlike.messages import (
    ANY,
    KILL,
    KILLED,
    NOCONNECTION,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Down,
    Exit,
    NodeDown,
    NodeUp,
    is_shutdown_reason,
)
from beamlike.process import (
    ProcessInfo,
    demonitor,
    exit,
    hibernate,
    is_alive,
    link,
    make_ref,
    monitor,
    process_flag,
    process_info,
    processes,
    receive,
    register,
    registered,
    run,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    spawn_opt,
    unlink,
    unregister,
    whereis,
)
from beamlike.registry import Registry
from beamlike.supervisor import ChildSpec, Supervisor, SupervisorSpec
from beamlike.timer import cancel_timer, read_timer, send_after, sleep

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "KILL",
    "KILLED",
    "NOCONNECTION",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "AlreadyRegisteredError",
    "ChildSpec",
    "DynamicSupervisor",
    "DynamicSupervisorSpec",
    "GenServer",
    "Ignore",
    "NoReply",
    "Ok",
    "Registry",
    "Reply",
    "Stop",
    "Supervisor",
    "SupervisorSpec",
    "code",
    "dynamic_supervisor",
    "ets",
    "gen_server",
    "offload",
    "proc_lib",
    "registry",
    "supervisor",
    "sys",
    "task",
    "BadArgument",
    "BadArgumentType",
    "BeamlikeError",
    "DeadlockError",
    "Down",
    "Exit",
    "NoProcError",
    "NodeDown",
    "NodeUp",
    "Node",
    "Pid",
    "ProcessExit",
    "ProcessInfo",
    "ReceiveTimeout",
    "Ref",
    "cancel_timer",
    "demonitor",
    "exit",
    "hibernate",
    "is_alive",
    "is_shutdown_reason",
    "link",
    "make_ref",
    "monitor",
    "node",
    "process_flag",
    "process_info",
    "processes",
    "read_timer",
    "receive",
    "register",
    "registered",
    "run",
    "self_pid",
    "send",
    "send_after",
    "sleep",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "spawn_opt",
    "unlink",
    "unregister",
    "whereis",
]
