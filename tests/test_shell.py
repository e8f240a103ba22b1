"""The interactive shell: commands and chat lines, in a process and as ``python -m``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import beamlike
import elixirchain as ec
from elixirchain import app as application
from elixirchain.shell import Shell

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def stop_app():
    yield
    if application.is_running():
        ec.stop()


def run_shell(*lines: str) -> str:
    out = io.StringIO()
    script = iter(lines)

    def read(prompt: str) -> str:
        out.write(prompt)
        try:
            return next(script)
        except StopIteration:
            raise EOFError from None

    beamlike.run(Shell(out=out, read=read).run)
    return out.getvalue()


def test_a_chat_line_goes_to_the_current_agent_and_its_answer_is_printed():
    text = run_shell("/start ada calculator", "What is 17 * 23?")
    assert "started ada (local, local-1); talking to it" in text
    assert "elixirchain> 17 * 23 = 391.\n" in text


def test_agents_lists_every_agent_and_marks_the_current_one():
    text = run_shell("/start a", "/start b", "/use a", "/agents")
    lines = text.splitlines()
    assert any(line.startswith("elixirchain> * a  <") for line in lines)
    assert any(line.startswith("  b  <") for line in lines)


def test_a_killed_agent_answers_again_with_its_conversation():
    text = run_shell("/start k", "one", "/kill", "two")
    assert "killed k (" in text
    assert "(local provider, 2 earlier messages) You said: two" in text


def test_errors_are_printed_and_the_shell_goes_on():
    text = run_shell("hello", "/nope", "/use ghost", "/start ok", "fine")
    assert "error: no current agent: /start NAME first" in text
    assert "error: unknown command '/nope'; commands: /start, /use" in text
    assert "error: AgentNotFound: no agent named 'ghost' is running" in text
    assert "(local provider) You said: fine" in text


def test_stop_and_tool_commands_change_the_agent():
    text = run_shell("/start t", "/tool calculator", "/stop", "/agents")
    assert "tools: calculator" in text
    assert "stopped t" in text
    assert "no agents; /start NAME starts one" in text


def test_python_m_elixirchain_shell_reads_stdin_until_quit():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-m", "elixirchain.shell"],
        input="/start s calculator\nWhat is 2 ** 10?\n/quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "2 ** 10 = 1024." in done.stdout
