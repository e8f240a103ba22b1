"""Every example runs offline, exits 0 and prints what it shows; the README's agent
snippets are the code of the examples they name.

The examples run as subprocesses of this interpreter (the venv's), all at once: they
spend most of their time sleeping (simulated model latency), so running them side by
side keeps this file quick. No API key reaches them, and the network switch is on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 60.0  # seconds per example; each takes well under 10 s alone

# For each example: extra environment, and lines its output must contain (exactly).
EXPECTED: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "quickstart.py": (
        {},
        (
            "provider: local",
            "17 * 23 = 391.",
            "This is sentence 1 of 20 of a long report. This is sentence 2 of 20",
            "This is sentence 20 of 20 of a long report.",
            "tools: ['calculator', 'word_count']",
            "tools: ['calculator', 'reverse', 'word_count']",
            "agents left: []",
        ),
    ),
    "supervision.py": (
        {},
        (
            "telemetry: agent 'survivor' restarted (start 2)",
            "2 + 2 = 4. 3 * 3 = 9.",
            "calculator calls run: 2 (none re-run after the restart)",
            "(local provider, 6 earlier messages) You said: Do you remember me?",
            "[weather: error: tool 'weather' raised ConnectionError: weather service "
            "unreachable for Paris]",
            "[stock_price: error: tool 'stock_price' timed out after 0.2 s]",
            "same agent process afterwards: True",
        ),
    ),
    "multi_agent.py": (
        {},
        (
            "researcher-1: 17 * 23 = 391.",
            "researcher-2: 2 ** 10 = 1024.",
            "researcher-3: (3 + 4) * 5 = 35.",
            "summariser: Summary: 17 * 23 = 391. 2 ** 10 = 1024. (3 + 4) * 5 = 35.",
        ),
    ),
    "persistent_memory.py": (
        {},
        (
            "application stopped; started again:\n"
            "(local provider, 4 earlier messages) You said: What did I tell you?",
            "Summary: Today I planted tomatoes. The basil is sprouting.",
            "the default in-memory store is gone with the application:\n"
            "(local provider) You said: What did I tell you?",
        ),
    ),
    "custom_provider.py": (
        {},
        (
            "[telemetry] keyword/keyword-1 call:",
            "It is sunny in Lisbon, 21 °C.",
            "streamed in 6 chunks: You asked: Thanks, that is all.",
            "4 answers ['ok', 'ok', 'ok', 'ok'] in ",
            "2 requests waited (['rpm', 'rpm'])",
        ),
    ),
    "agents_demo.py": (
        {"DEMO_AGENTS": "200"},
        (
            "200/200 answered",
            "answer after restart: '(local provider, 2 earlier messages) You said: Still there?'",
            "answer: '17 * 23 = 391.'",
            "ok  restart keeps the conversation",
        ),
    ),
    "processes_demo.py": (
        {},
        ("1. spawned 10,000 processes", "3. the monitor saw it once"),
    ),
}

# The examples of the agent layer, each shown in the README's "Quick start with agents".
AGENT_EXAMPLES = (
    "quickstart.py",
    "supervision.py",
    "multi_agent.py",
    "persistent_memory.py",
    "custom_provider.py",
)
API_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def offline_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in API_KEYS}
    env["ELIXIRCHAIN_FORBID_NETWORK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[int | None, str, str]]:
    """Runs every example at once; per file name: exit code (None: timed out), stdout,
    stderr."""
    started = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        extra = EXPECTED.get(path.name, ({}, ()))[0]
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [sys.executable, str(path)], cwd=ROOT, env=offline_env(extra), stdout=out, stderr=err
        )
        started[path.name] = (proc, out, err)
    results: dict[str, tuple[int | None, str, str]] = {}
    for name, (proc, out, err) in started.items():
        try:
            code: int | None = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace"))
            stream.close()
        results[name] = (code, texts[0], texts[1])
    return results


def test_every_example_has_expected_output_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_exits_0_and_prints_what_it_shows(runs, name):
    code, stdout, stderr = runs[name]
    assert code is not None, f"{name} did not finish within {TIMEOUT} s\n{stdout}\n{stderr}"
    assert code == 0, f"{name} exited with {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    for line in EXPECTED[name][1]:
        assert line in stdout, f"{name} did not print {line!r}\nstdout:\n{stdout}"


def test_the_examples_start_by_monkey_patching_and_run_main_in_beamlike():
    for path in EXAMPLES.glob("*.py"):
        code = path.read_text()
        assert "from gevent import monkey\n\nmonkey.patch_all()" in code, path.name
    for name in AGENT_EXAMPLES:
        assert "beamlike.run(main)" in (EXAMPLES / name).read_text(), name


def readme_snippets() -> list[tuple[str, str]]:
    """The Python snippets of the README's "Quick start with agents": (the example file
    last linked before the snippet, the snippet's code)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start with agents", 1)[1].split("\n## ", 1)[0]
    found = []
    example = None
    for part in re.split(r"(```python\n.*?```)", section, flags=re.S):
        if part.startswith("```python"):
            assert example is not None, f"a README snippet names no example:\n{part}"
            found.append((example, part[len("```python\n") : -len("```")]))
        else:
            linked = re.findall(r"\]\(examples/(\w+\.py)\)", part)
            example = linked[-1] if linked else example
    return found


def test_the_readme_agent_snippets_are_code_of_the_examples_they_name():
    """Each line of a snippet is a line of its example, in the same order, except the
    README's own comment lines and ``...`` (code left out)."""
    snippets = readme_snippets()
    assert {name for name, _ in snippets} == set(AGENT_EXAMPLES)
    for name, snippet in snippets:
        lines = [line.strip() for line in (EXAMPLES / name).read_text().splitlines()]
        position = 0
        for wanted in (line.strip() for line in snippet.splitlines()):
            if not wanted or wanted == "..." or wanted.startswith("#"):
                continue
            try:
                position = lines.index(wanted, position) + 1
            except ValueError:
                pytest.fail(f"README snippet of {name}: {wanted!r} is not in the example, in order")
