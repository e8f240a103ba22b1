"""Agents: start, chat, stream, tools, crashes and restarts, overload, stop."""

from __future__ import annotations

import pytest

import beamlike
import elixirchain as ec
from beamlike import ANY, receive, self_pid, send
from elixirchain import app as application
from elixirchain.messages import Message, ToolCall
from elixirchain.providers import FunctionProvider, ScriptedProvider


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def stop_app():
    yield
    if application.is_running():
        ec.stop()


def calls(*pairs: tuple[str, dict]) -> list[ToolCall]:
    return [ToolCall(f"call_{i}", name, args) for i, (name, args) in enumerate(pairs)]


def hanging_tool():
    """A tool ``hang`` that sends ``("tool", its pid)`` to the test process, then hangs."""
    me = self_pid()

    @ec.tool
    def hang() -> str:
        """Never returns."""
        send(me, ("tool", self_pid()))
        beamlike.sleep(60)
        return "never"

    return hang


# starting ---------------------------------------------------------------------------


def test_start_agent_with_keywords_returns_a_handle_named_after_the_agent():
    agent = ec.start_agent(name="helper", system_prompt="Be brief.")
    assert agent == ec.AgentHandle("helper")
    assert ec.chat(agent, "hello") == "(local provider) You said: hello"


def test_start_agent_accepts_the_readme_dict_of_options():
    agent = ec.start_agent(
        {
            "name": "research_assistant",
            "system_prompt": "You research.",
            "tools": ["calculator"],
            "llm_provider": "local",
            "memory_type": "conversation",
        }
    )
    assert ec.agent_info(agent)["tools"] == ["calculator"]
    assert ec.agent_info(agent)["provider"] == "local"


def test_a_misspelt_option_is_refused_with_the_valid_ones_listed():
    with pytest.raises(ec.ConfigError) as error:
        ec.start_agent(name="a", modle="x")
    message = str(error.value)
    assert message.startswith("start_agent got unknown option 'modle'; valid options are: ")
    assert "model" in message and "system_prompt" in message


def test_a_duplicate_name_is_refused_and_the_first_agent_keeps_running():
    agent = ec.start_agent(name="twin")
    with pytest.raises(ec.AgentAlreadyStarted, match="'twin' is already running"):
        ec.start_agent(name="twin")
    assert ec.chat(agent, "still here?") == "(local provider) You said: still here?"


def test_an_unknown_memory_type_is_refused():
    with pytest.raises(
        ec.ConfigError, match="memory_type must be one of conversation, got 'vector'"
    ):
        ec.start_agent(name="m", memory_type="vector")


def test_a_bad_tool_fails_start_agent_and_leaves_no_agent_behind():
    with pytest.raises((TypeError, ValueError)):
        ec.start_agent(name="t", tools=[42])
    assert ec.list_agents() == []
    ec.start_agent(name="t")  # the name is free


def test_the_local_provider_is_the_default_without_api_keys():
    agent = ec.start_agent(name="d")
    assert ec.agent_info(agent)["provider"] == "local"


# chatting ---------------------------------------------------------------------------


def test_the_calculator_answers_arithmetic_through_a_tool_call():
    agent = ec.start_agent(name="calc", tools=["calculator"])
    assert ec.chat(agent, "What is 17 * 23?") == "17 * 23 = 391."


def test_the_conversation_is_remembered_between_turns():
    agent = ec.start_agent(name="mem")
    ec.chat(agent, "first")
    ec.chat(agent, "second")
    assert ec.chat(agent, "third") == "(local provider, 4 earlier messages) You said: third"


def test_parallel_tool_calls_run_and_their_results_go_back_to_the_model():
    provider = ScriptedProvider(
        [
            calls(("calculator", {"expression": "2+2"}), ("calculator", {"expression": "3*3"})),
            lambda request: f"results: {[r.content for r in request.messages[-1].tool_results]}",
        ]
    )
    agent = ec.start_agent(name="p", llm_provider=provider, tools=["calculator"])
    assert ec.chat(agent, "go") == "results: [4, 9]"


def test_an_unknown_tool_goes_back_to_the_model_as_an_error_result():
    provider = ScriptedProvider(
        [
            calls(("nope", {})),
            lambda request: "error seen" if request.messages[-1].tool_results[0].is_error else "?",
        ]
    )
    agent = ec.start_agent(name="u", llm_provider=provider, tools=["calculator"])
    assert ec.chat(agent, "go") == "error seen"


def test_a_provider_error_fails_the_turn_with_the_error_as_cause_and_the_agent_lives_on():
    boom = ec.errors.BadRequest("model does not exist", provider="scripted", status=404)
    provider = ScriptedProvider([boom, "fine"])
    agent = ec.start_agent(name="e", llm_provider=provider)
    pid = ec.whereis_agent(agent)
    with pytest.raises(ec.TurnFailed) as error:
        ec.chat(agent, "x")
    assert error.value.__cause__ is boom
    assert ec.chat(agent, "y") == "fine"
    assert ec.whereis_agent(agent) == pid


def test_a_turn_stops_after_max_steps_without_a_final_answer():
    provider = FunctionProvider(
        lambda request: Message.assistant(
            "", [ToolCall(f"c{len(request.messages)}", "calculator", {"expression": "1"})]
        )
    )
    agent = ec.start_agent(name="loop", llm_provider=provider, tools=["calculator"], max_steps=3)
    with pytest.raises(ec.TurnFailed, match="stopped after 3 provider calls"):
        ec.chat(agent, "go")


def test_chat_timeout_raises_and_cancels_the_turn():
    def slow(request):
        beamlike.sleep(10)
        return "late"

    agent = ec.start_agent(name="slow", llm_provider=FunctionProvider(slow))
    with pytest.raises(ec.ChatTimeout, match="did not answer within 0.2 s"):
        ec.chat(agent, "x", timeout=0.2)
    wait_until(lambda: not ec.agent_info(agent)["busy"])


def test_a_chat_with_a_non_string_message_is_refused():
    agent = ec.start_agent(name="s")
    with pytest.raises(ec.ConfigError, match="the message must be a str, got int: 5"):
        ec.chat(agent, 5)


def test_chat_to_an_unknown_agent_raises_agent_not_found():
    ec.start()
    with pytest.raises(ec.AgentNotFound, match="no agent named 'ghost' is running"):
        ec.chat("ghost", "hi")


# streaming --------------------------------------------------------------------------


def test_chat_stream_yields_chunks_that_make_up_the_answer():
    agent = ec.start_agent(name="st")
    chunks = list(ec.chat_stream(agent, "one two three"))
    assert len(chunks) > 3
    assert "".join(chunks) == "(local provider) You said: one two three"


def test_chat_stream_yields_text_written_before_and_after_a_tool_call():
    provider = ScriptedProvider(
        [
            Message.assistant("Let me compute. ", calls(("calculator", {"expression": "6*7"}))),
            "It is 42.",
        ],
        chunk_size=4,
    )
    agent = ec.start_agent(name="st2", llm_provider=provider, tools=["calculator"])
    assert "".join(ec.chat_stream(agent, "go")) == "Let me compute. It is 42."


def test_abandoning_a_stream_kills_the_turn_and_its_tool_tasks():
    hang = hanging_tool()
    provider = FunctionProvider(
        lambda request: "x",
        stream_fn=lambda request: ["working ", *_hang_then(request)],
    )
    agent = ec.start_agent(name="ab", llm_provider=provider, tools=[hang])
    stream = ec.chat_stream(agent, "go")
    assert next(stream) == "working "
    _, tool_pid = receive(("tool", ANY), timeout=5)
    stream.close()
    wait_until(lambda: not beamlike.is_alive(tool_pid))
    wait_until(lambda: not ec.agent_info(agent)["busy"])


def _hang_then(request):
    if request.messages[-1].role == "tool":
        yield "done"
        return
    from elixirchain.messages import Chunk

    yield Chunk(tool_calls=(ToolCall("c1", "hang", {}),), finish_reason="tool_calls")


# idle agents ---------------------------------------------------------------------------


def test_an_idle_agent_hibernates_and_the_next_chat_wakes_it():
    agent = ec.start_agent(name="dormouse")
    pid = ec.whereis_agent(agent)
    gate = beamlike.spawn(receive, "never")  # a process blocked in receive, for scale
    receive(timeout=0.01, default=None)  # let it start and block
    idle, awake = beamlike.process_info(pid), beamlike.process_info(gate)
    assert idle.status == awake.status == "waiting"
    assert idle.memory < awake.memory  # no greenlet stack while idle
    assert ec.chat(agent, "wake up") == "(local provider) You said: wake up"
    assert ec.chat(agent, "again") == "(local provider, 2 earlier messages) You said: again"
    assert ec.whereis_agent(agent) == pid  # the same process throughout
    # Back to sleep once it has seen its turn worker exit (just after the reply).
    wait_until(lambda: beamlike.process_info(pid).memory == idle.memory)


# crashes and restarts ---------------------------------------------------------------


def test_a_killed_agent_is_restarted_and_its_handle_and_conversation_survive():
    agent = ec.start_agent(name="phoenix")
    ec.chat(agent, "remember me")
    old = ec.whereis_agent(agent)
    beamlike.exit(old, "kill")
    wait_until(lambda: ec.whereis_agent(agent) not in (None, old))
    assert ec.chat(agent, "still there?") == (
        "(local provider, 2 earlier messages) You said: still there?"
    )


def test_killing_the_agent_mid_turn_resumes_the_turn_without_rerunning_completed_tools():
    runs = {"fast": 0, "slow": 0}
    killer_pid = []

    @ec.tool
    def fast() -> str:
        """Quick."""
        runs["fast"] += 1
        return "fast done"

    @ec.tool
    def slow() -> str:
        """Slow the first time."""
        runs["slow"] += 1
        if runs["slow"] == 1:
            send(killer_pid[0], "slow started")
            beamlike.sleep(60)
        return "slow done"

    provider = ScriptedProvider(
        [
            calls(("fast", {}), ("slow", {})),
            lambda request: (
                "answers: " + ", ".join(r.content for r in request.messages[-1].tool_results)
            ),
        ]
    )
    agent = ec.start_agent(name="resume", llm_provider=provider, tools=[fast, slow])

    def killer():
        receive("slow started", timeout=5)
        beamlike.exit(ec.whereis_agent(agent), "kill")

    killer_pid.append(beamlike.spawn(killer))
    assert ec.chat(agent, "go", timeout=10) == "answers: fast done, slow done"
    assert runs == {"fast": 1, "slow": 2}
    assert len(provider.requests) == 2  # the first answer was journaled, not asked again


def test_stop_agent_kills_its_in_flight_tool_tasks_and_fails_the_waiting_chat():
    hang = hanging_tool()
    provider = ScriptedProvider([calls(("hang", {}))])
    agent = ec.start_agent(name="stopper", llm_provider=provider, tools=[hang])
    result = []
    beamlike.spawn(lambda: result.append(_catch(lambda: ec.chat(agent, "go"))))
    _, tool_pid = receive(("tool", ANY), timeout=5)
    ec.stop_agent(agent)
    wait_until(lambda: not beamlike.is_alive(tool_pid))
    wait_until(lambda: result)
    assert isinstance(result[0], ec.TurnFailed)
    assert ec.list_agents() == []
    with pytest.raises(ec.AgentNotFound):
        ec.chat(agent, "hi")


def _catch(fn):
    try:
        return fn()
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return error


# queue and tools ---------------------------------------------------------------------


def test_beyond_max_queue_chat_fails_fast_with_overloaded():
    def slow(request):
        beamlike.sleep(0.5)
        return "ok"

    agent = ec.start_agent(name="busy", llm_provider=FunctionProvider(slow), max_queue=2)
    results = []
    for _ in range(3):  # one running, two queued
        beamlike.spawn(lambda: results.append(_catch(lambda: ec.chat(agent, "x"))))
    wait_until(lambda: ec.agent_info(agent)["queued"] == 2)
    with pytest.raises(ec.Overloaded, match="max_queue=2"):
        ec.chat(agent, "one too many")
    wait_until(lambda: len(results) == 3)
    assert results == ["ok", "ok", "ok"]


def test_add_tool_at_run_time_is_kept_across_a_restart_and_remove_tool_drops_it():
    agent = ec.start_agent(name="toolsmith")

    @ec.tool
    def shout(text: str) -> str:
        """Upper-cases text.

        Args:
            text: what to shout.
        """
        return text.upper()

    assert ec.add_tool(agent, shout) == ["shout"]
    assert ec.add_tool(agent, "calculator") == ["calculator", "shout"]
    old = ec.whereis_agent(agent)
    beamlike.exit(old, "kill")
    wait_until(lambda: ec.whereis_agent(agent) not in (None, old))
    assert ec.agent_info(agent)["tools"] == ["calculator", "shout"]
    assert ec.remove_tool(agent, "shout") == ["calculator"]
    with pytest.raises(ValueError):
        ec.add_tool(agent, "calculator")


def test_register_tool_makes_a_tool_available_by_name():
    @ec.tool
    def ping() -> str:
        """Answers pong."""
        return "pong"

    ec.register_tool(ping)
    agent = ec.start_agent(name="r", tools=["ping"])
    assert ec.agent_info(agent)["tools"] == ["ping"]


# memory backends ---------------------------------------------------------------------


def test_a_conversation_in_sqlite_survives_stopping_the_whole_application(tmp_path):
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    agent = ec.start_agent(name="durable", memory=url)
    ec.chat(agent, "keep this")
    ec.stop()
    agent = ec.start_agent(name="durable", memory=url)
    assert ec.chat(agent, "and now?") == "(local provider, 2 earlier messages) You said: and now?"


# helpers ------------------------------------------------------------------------------


def wait_until(predicate, timeout: float = 5.0) -> None:
    from time import monotonic

    deadline = monotonic() + timeout
    while not predicate():
        if monotonic() > deadline:
            raise AssertionError("condition not reached within 5 s")
        beamlike.sleep(0.005)


def test_telemetry_reports_turns_and_restarts():
    me = self_pid()
    ec.telemetry.attach(
        "t",
        [("elixirchain", "agent", "turn", "stop"), ("elixirchain", "agent", "restart")],
        lambda event, measurements, metadata: send(me, (event, dict(metadata))),
    )
    agent = ec.start_agent(name="tele")
    ec.chat(agent, "x")
    event, meta = receive((("elixirchain", "agent", "turn", "stop"), ANY), timeout=5)
    assert meta["agent"] == "tele"
    beamlike.exit(ec.whereis_agent(agent), "kill")
    _, meta = receive((("elixirchain", "agent", "restart"), ANY), timeout=5)
    assert meta == {"agent": "tele", "starts": 2}


def test_a_tool_that_is_killed_becomes_an_error_result_and_the_turn_goes_on():
    @ec.tool
    def doomed() -> str:
        """Kills itself."""
        beamlike.exit(self_pid(), "kill")
        return "never"

    provider = ScriptedProvider(
        [calls(("doomed", {})), lambda request: request.messages[-1].tool_results[0].content]
    )
    agent = ec.start_agent(name="doom", llm_provider=provider, tools=[doomed])
    assert ec.chat(agent, "go") == (
        "tool 'doomed' exited with reason 'killed' before returning a result"
    )


def test_a_failed_turn_leaves_no_journal_behind():
    from beamlike import ets

    boom = ec.errors.BadRequest("no", provider="scripted", status=400)
    provider = ScriptedProvider([calls(("calculator", {"expression": "1+1"})), boom])
    agent = ec.start_agent(name="tidy", llm_provider=provider, tools=["calculator"])
    with pytest.raises(ec.TurnFailed):
        ec.chat(agent, "go")
    assert len(provider.requests) == 2  # the tool ran and its result was journaled
    assert application.current_app().backend(None).load("tidy") == []
    assert [row for row in ets.tab2list("elixirchain.memory.journal") if row[0] == "tidy"] == []


def test_a_failed_turn_is_reported_in_the_turn_stop_event():
    me = self_pid()
    ec.telemetry.attach(
        "s",
        ("elixirchain", "agent", "turn", "stop"),
        lambda event, measurements, metadata: send(me, ("stop", dict(metadata))),
    )
    provider = ScriptedProvider([ec.errors.BadRequest("no", provider="scripted", status=400)])
    agent = ec.start_agent(name="sad", llm_provider=provider)
    with pytest.raises(ec.TurnFailed):
        ec.chat(agent, "go")
    _, meta = receive(("stop", ANY), timeout=5)
    assert (meta["status"], meta["error"]) == ("error", "BadRequest")


def test_agents_of_a_restarted_agent_supervisor_are_forgotten_and_their_names_free():
    ec.start_agent(name="gone")
    beamlike.exit(beamlike.whereis(application.AGENTS), "kill")
    wait_until(lambda: beamlike.whereis(application.AGENTS) is not None)
    wait_until(lambda: ec.list_agents() == [])
    agent = ec.start_agent(name="gone")
    assert ec.chat(agent, "back") == "(local provider) You said: back"


def test_provider_options_with_a_provider_instance_are_refused():
    with pytest.raises(ec.ConfigError, match="configure it directly"):
        ec.start_agent(
            name="x", llm_provider=FunctionProvider(lambda r: "ok"), provider_options={"delya": 5}
        )
    assert ec.list_agents() == []


def test_beyond_max_agents_start_agent_fails_with_overloaded():
    ec.start(max_agents=1)
    ec.start_agent(name="one")
    with pytest.raises(ec.Overloaded, match="cannot start agent 'two'"):
        ec.start_agent(name="two")
    assert [a.name for a in ec.list_agents()] == ["one"]
