"""Persistent memory: a conversation in SQLite outlives the whole application.

    .venv/bin/python examples/persistent_memory.py

The agent keeps its conversation in a SQLite file (``memory="sqlite:///.../agents.db"``)
instead of the default in-memory store. ``ec.stop()`` stops every agent and the
application's supervision tree; started again, an agent of the same name (its
conversation id defaults to its name) carries on where it left off. The same works with
``"postgresql://..."`` and ``"redis://..."``, so that agents on another machine, or after
a reboot, see the conversation too.

Runs on the offline ``local`` provider, which tells how many earlier messages it was
sent. For contrast, the default in-memory store (ETS tables owned by a process of the
application) is gone once the application stops. The database lives in a temporary
directory that is removed at the end. Exits 1 if something did not hold.
"""

from gevent import monkey

monkey.patch_all()

import os
import sys
import tempfile

import beamlike
import elixirchain as ec


def main():
    with tempfile.TemporaryDirectory() as tmpdir:
        memory = f"sqlite:///{os.path.join(tmpdir, 'agents.db')}"

        agent = ec.start_agent(name="diarist", llm_provider="local", memory=memory)
        print(ec.chat(agent, "Today I planted tomatoes."))
        print(ec.chat(agent, "The basil is sprouting."))
        ec.stop()
        print("application stopped; started again:")

        agent = ec.start_agent(name="diarist", llm_provider="local", memory=memory)
        answer = ec.chat(agent, "What did I tell you?")
        print(answer)
        summary = ec.chat(agent, "Summarise my diary.")
        print(summary)
        ec.stop()

    print("the default in-memory store is gone with the application:")
    agent = ec.start_agent(name="forgetful", llm_provider="local")
    ec.chat(agent, "Today I planted tomatoes.")
    ec.stop()
    agent = ec.start_agent(name="forgetful", llm_provider="local")
    forgotten = ec.chat(agent, "What did I tell you?")
    print(forgotten)
    ec.stop()

    return (
        answer == "(local provider, 4 earlier messages) You said: What did I tell you?"
        and summary.startswith("Summary: Today I planted tomatoes. The basil is sprouting.")
        and forgotten == "(local provider) You said: What did I tell you?"
    )


if __name__ == "__main__":
    sys.exit(0 if beamlike.run(main) else 1)
