"""The interactive shell: ``python -m elixirchain.shell``.

Talk to agents from a terminal. A line that does not start with ``/`` is a chat message
to the current agent, whose answer is streamed as it arrives. Commands:

==============================  ==========================================================
``/start NAME [TOOL ...]``      start an agent (options as ``key=value``: ``model=...``,
                                ``llm_provider=...``, ``system_prompt=...``) and talk to it
``/use NAME``                   talk to another running agent
``/agents``                     list the agents, the current one marked ``*``
``/info``                       the current agent's provider, model, tools and queue
``/tool NAME``                  add a built-in or registered tool to the current agent
``/kill``                       kill the current agent (its supervisor restarts it)
``/stop``                       stop the current agent
``/help``, ``/quit``            this table; leave
==============================  ==========================================================

Reading the terminal happens in a thread (``beamlike.offload.run_in_thread``), so agents
keep running while the shell waits for a line.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any, TextIO

import beamlike
import elixirchain as ec
from beamlike import offload

__all__ = ["Shell", "main"]

PROMPT = "elixirchain> "


class Shell:
    """The shell's state: the current agent and where it writes. Runs in a process."""

    def __init__(self, out: TextIO = sys.stdout, read: Callable[[str], str] | None = None):
        self.out = out
        self.read = read or _read_line
        self.current: ec.AgentHandle | None = None
        self.commands: dict[str, Callable[[list[str]], None]] = {
            "start": self.start,
            "use": self.use,
            "agents": self.agents,
            "info": self.info,
            "tool": self.tool,
            "kill": self.kill,
            "stop": self.stop,
            "help": self.help,
        }

    def say(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def run(self) -> None:
        """Reads and handles lines until ``/quit`` or end of input. Blocks."""
        self.say(f"elixirchain {ec.__version__} shell. /help lists the commands.")
        while True:
            try:
                line = self.read(PROMPT)
            except EOFError:
                self.say()
                return
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return
            try:
                self.handle(line)
            except ec.ElixirChainError as error:
                self.say(f"error: {type(error).__name__}: {error}")
            except (ValueError, TypeError, LookupError) as error:
                self.say(f"error: {error}")

    def handle(self, line: str) -> None:
        """One line: a command or a chat message. Blocks until it is handled."""
        if not line.startswith("/"):
            self.chat(line)
            return
        words = shlex.split(line[1:])
        command = self.commands.get(words[0]) if words else None
        if command is None:
            raise ValueError(
                f"unknown command {line.split()[0]!r}; commands: "
                + ", ".join("/" + name for name in [*self.commands, "quit"])
            )
        command(words[1:])

    def _agent(self) -> ec.AgentHandle:
        if self.current is None:
            raise ValueError("no current agent: /start NAME first")
        return self.current

    def chat(self, text: str) -> None:
        for chunk in ec.chat_stream(self._agent(), text):
            self.say(chunk, end="")
        self.say()

    def start(self, args: list[str]) -> None:
        if not args:
            raise ValueError("/start needs a name: /start NAME [TOOL ...] [key=value ...]")
        options: dict[str, Any] = {"name": args[0]}
        tools = [a for a in args[1:] if "=" not in a]
        for pair in (a for a in args[1:] if "=" in a):
            key, value = pair.split("=", 1)
            options[key] = value
        if tools:
            options["tools"] = tools
        self.current = ec.start_agent(**options)
        info = ec.agent_info(self.current)
        self.say(f"started {args[0]} ({info['provider']}, {info['model']}); talking to it")

    def use(self, args: list[str]) -> None:
        if len(args) != 1:
            raise ValueError("/use takes one agent name")
        if ec.whereis_agent(args[0]) is None:
            raise ec.AgentNotFound(f"no agent named {args[0]!r} is running")
        self.current = ec.AgentHandle(args[0])
        self.say(f"talking to {args[0]}")

    def agents(self, args: list[str]) -> None:
        handles = ec.list_agents()
        if not handles:
            self.say("no agents; /start NAME starts one")
        for handle in handles:
            mark = "*" if handle == self.current else " "
            self.say(f"{mark} {handle.name}  {ec.whereis_agent(handle)}")

    def info(self, args: list[str]) -> None:
        for key, value in ec.agent_info(self._agent()).items():
            self.say(f"{key}: {value}")

    def tool(self, args: list[str]) -> None:
        if len(args) != 1:
            raise ValueError("/tool takes one tool name")
        self.say("tools: " + ", ".join(ec.add_tool(self._agent(), args[0])))

    def kill(self, args: list[str]) -> None:
        agent = self._agent()
        pid = ec.whereis_agent(agent)
        if pid is None:
            raise ec.AgentNotFound(f"agent {agent.name!r} is not running")
        beamlike.exit(pid, "kill")
        self.say(f"killed {agent.name} ({pid}); its supervisor restarts it")

    def stop(self, args: list[str]) -> None:
        agent = self._agent()
        ec.stop_agent(agent)
        self.current = None
        self.say(f"stopped {agent.name}")

    def help(self, args: list[str]) -> None:
        self.say((__doc__ or "").split("Commands:", 1)[1].split("Reading", 1)[0].strip("\n"))


def _read_line(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = offload.run_in_thread(sys.stdin.readline)
    if not line:
        raise EOFError
    return str(line)


def main() -> int:
    """Runs the shell until ``/quit`` or end of input. Blocks."""
    beamlike.run(Shell().run)
    if ec.app.is_running():
        beamlike.run(ec.stop)
    return 0
