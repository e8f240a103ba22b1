"""The offline provider: deterministic answers without a network or a model.

Guarantees: the same request always gets the same answer; nothing leaves the machine;
every answer that is not an echo says it comes from the local provider, so nobody
mistakes it for a language model. It is the default provider when no API key is
configured, and the provider of the framework's own tests, demos and benchmarks.

What it answers, decided from the last message of the request (the first rule that
applies wins; a summary request wins over the numbers in the text it summarises):

==========================================  =============================================
last message                                answer
==========================================  =============================================
tool results                                the results in words: ``17 * 23 = 391.``,
                                            ``The tool calculator failed: <message>.``
``summarise`` / ``summarize`` / ``summary``  ``Summary: `` and the first sentence of each
                                            user message (or of the text after a colon)
arithmetic (``What is 17 * 23?``)           with a ``calculator`` tool offered: one
                                            ``ToolCall`` per expression (parallel calls);
                                            without: says it cannot compute
``repeat N words``                          exactly N words (a pangram, cycled)
``write a long ...``                        20 numbered sentences
anything else                               ``(local provider) You said: <text>``, with
                                            the number of earlier messages remembered
==========================================  =============================================

Tokens are words: input tokens are the words of the system prompt and all messages,
output tokens the words of the answer (and of each tool call's name and arguments).
``Request.max_tokens`` cuts a text answer to that many words (finish reason
``"max_tokens"``). ``delay`` and ``chunk_delay`` simulate latency with
``beamlike.sleep`` (only the calling process waits) and are bounded by
``Request.timeout``: a call that would take longer raises ``ProviderTimeout`` once the
timeout has passed.

``embed`` gives bag-of-words hashing vectors: texts sharing words are similar, nothing
more. It is a stand-in for semantic-memory tests, not a language model.

Example::

    provider = LocalProvider()
    provider.generate(Request("local-1", (Message.user("hi"),))).text
    # '(local provider) You said: hi'
"""

from __future__ import annotations

import json
import math
import re
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from beamlike import sleep
from elixirchain.errors import ConfigError, ProviderTimeout
from elixirchain.messages import (
    TOOL,
    USER,
    Chunk,
    Message,
    Request,
    Response,
    ToolCall,
    ToolResult,
    Usage,
)
from elixirchain.providers.base import Provider, _response_chunks

__all__ = ["EMBED_DIMENSIONS", "LONG_SENTENCES", "MAX_REPEAT_WORDS", "LocalProvider"]

EMBED_DIMENSIONS = 64
"""The length of the vectors ``LocalProvider.embed`` returns."""

LONG_SENTENCES = 20
"""How many sentences a ``write a long ...`` answer has."""

MAX_REPEAT_WORDS = 10_000
"""The most words a ``repeat N words`` answer has (larger N are cut to this)."""

CALCULATOR = "calculator"
_PREFIX = "(local provider)"
_SUMMARY_SENTENCE_CHARS = 120  # a longer first sentence is cut, ending in "..."
_SUMMARY_CHARS = 600  # sentences that would make the summary longer are left out
_FILLER = ("the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog")

# An operand: a number, possibly negative, possibly inside parentheses.
_OPERAND = r"(?:\(\s*)*-?[0-9]+(?:\.[0-9]+)?(?:\s*\))*"
# An operator: ** + - * / % and "x" or "×" for multiply ("x" only outside words).
_OPERATOR = r"\s*(?:\*\*|[-+*/%×]|(?<![A-Za-z])x(?![A-Za-z]))\s*"
_EXPRESSION = re.compile(rf"(?<![\w.]){_OPERAND}(?:{_OPERATOR}{_OPERAND})+")
_TIMES = re.compile(r"[x×]")
_SPACES = re.compile(r"\s+")
_SUMMARY = re.compile(r"\bsummar(?:i[sz]\w*|y)\b", re.IGNORECASE)
_REPEAT = re.compile(r"\brepeat\s+([0-9]+)\s+words?\b", re.IGNORECASE)
_LONG = re.compile(r"\bwrite\s+(?:me\s+)?an?\s+long\b(.*)", re.IGNORECASE | re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_PIECE = re.compile(r"\s*\S+|\s+")  # a word with the whitespace before it
_WORD = re.compile(r"\S+")
_EMBED_WORD = re.compile(r"\w+")


class LocalProvider(Provider):
    """The offline, deterministic provider (registry name ``"local"``).

    Args:
        model: the model name reported in responses when the request names none.
        delay: seconds to wait before answering (simulated latency).
        chunk_delay: seconds to wait between streamed chunks.
        words_per_chunk: how many words each streamed chunk carries.

    Raises:
        ConfigError: an option has a wrong type or value.
    """

    name = "local"

    def __init__(
        self,
        *,
        model: str = "local-1",
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        words_per_chunk: int = 1,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"LocalProvider model must be a non-empty str; got {model!r}")
        self.model = model
        self.default_model = model
        self.delay = _seconds("delay", delay)
        self.chunk_delay = _seconds("chunk_delay", chunk_delay)
        if (
            not isinstance(words_per_chunk, int)
            or isinstance(words_per_chunk, bool)
            or words_per_chunk < 1
        ):
            raise ConfigError(
                f"LocalProvider words_per_chunk must be an int >= 1; got {words_per_chunk!r}"
            )
        self.words_per_chunk = words_per_chunk

    def __repr__(self) -> str:
        return (
            f"LocalProvider(model={self.model!r}, delay={self.delay!r}, "
            f"chunk_delay={self.chunk_delay!r}, words_per_chunk={self.words_per_chunk!r})"
        )

    # -- the Provider interface --------------------------------------------------------

    def generate(self, request: Request) -> Response:
        """Answers ``request`` (see the module docstring for what it answers).

        Blocks until ``delay`` has passed (at once when it is 0). Raises
        ``ProviderTimeout`` when ``delay`` exceeds ``request.timeout``, after the timeout.
        """
        _check_request(request)
        if self.delay:
            _wait(self.delay, time.monotonic() + request.timeout, request.timeout)
        return self.answer(request)

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Yields ``generate``'s answer ``words_per_chunk`` words at a time.

        Tool calls, usage and the finish reason come on the last chunk. Blocks for
        ``delay`` before the first chunk and ``chunk_delay`` between chunks; raises
        ``ProviderTimeout`` once ``request.timeout`` has passed if they add up to more.
        """
        _check_request(request)
        deadline = time.monotonic() + request.timeout if self.delay or self.chunk_delay else 0.0
        if self.delay:
            _wait(self.delay, deadline, request.timeout)
        response = self.answer(request)
        pieces = _PIECE.findall(response.message.content)
        size = self.words_per_chunk
        groups = ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)] or [""]
        for index, chunk in enumerate(_response_chunks(response, groups)):
            if index and self.chunk_delay:
                _wait(self.chunk_delay, deadline, request.timeout)
            yield chunk

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Bag-of-words hashing vectors of ``texts``: 64 floats each, L2-normalised.

        Each word (lower-cased) adds 1 to the dimension its CRC-32 selects. A text
        without words gets the zero vector. Never blocks.

        Raises:
            TypeError: ``texts`` is not a list (or tuple) of str.
        """
        if isinstance(texts, str) or not isinstance(texts, list | tuple):
            raise TypeError(
                f"LocalProvider.embed expects a list of str; got {texts!r} "
                f"(of type {type(texts).__name__})"
            )
        vectors = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"LocalProvider.embed expects a list of str; item {position} is "
                    f"{text!r} (of type {type(text).__name__})"
                )
            vectors.append(_embed_one(text))
        return vectors

    # -- the answer ----------------------------------------------------------------------

    def answer(self, request: Request) -> Response:
        """The answer to ``request``, without any delay. Never blocks."""
        messages = request.messages
        model = request.model or self.model
        input_tokens = _input_tokens(request)
        if messages and messages[-1].role == TOOL:
            text = _describe_results(messages)
            return _text_response(text, input_tokens, request.max_tokens, model)
        last = messages[-1] if messages else Message(USER, "")
        text = last.content
        if _SUMMARY.search(text):
            answer = _summary(messages)
        elif expressions := _expressions(text):
            if any(tool.name == CALCULATOR for tool in request.tools):
                return _calculator_calls(messages, expressions, input_tokens, model)
            answer = f"{_PREFIX} I cannot compute without the {CALCULATOR} tool: " + ", ".join(
                expressions
            )
        elif (repeat := _REPEAT.search(text)) is not None:
            answer = _repeat_words(int(repeat.group(1)))
        elif (long := _LONG.search(text)) is not None:
            answer = _long_text(long.group(1))
        else:
            earlier = len(messages) - 1
            remembered = earlier > 0 and any(m.role == USER for m in messages[:-1])
            if remembered:
                plural = "" if earlier == 1 else "s"
                answer = f"(local provider, {earlier} earlier message{plural}) You said: {text}"
            else:
                answer = f"{_PREFIX} You said: {text}"
        return _text_response(answer, input_tokens, request.max_tokens, model)


# -- helpers ---------------------------------------------------------------------------


def _seconds(what: str, value: Any) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(f"LocalProvider {what} must be a number of seconds >= 0; got {value!r}")
    return float(value)


def _check_request(request: Any) -> None:
    if not isinstance(request, Request):
        raise TypeError(
            f"LocalProvider expects a Request; got {request!r} (of type {type(request).__name__})"
        )


def _wait(seconds: float, deadline: float, timeout: float) -> None:
    """Sleeps ``seconds``, or until ``deadline`` and then raises ``ProviderTimeout``."""
    left = deadline - time.monotonic()
    if seconds > left:
        if left > 0:
            sleep(left)
        raise ProviderTimeout(
            f"local provider did not answer within the request's timeout of {timeout} s "
            "(its simulated delay is longer)",
            provider="local",
        )
    sleep(seconds)


def _words(text: str) -> int:
    return len(text.split())


def _input_tokens(request: Request) -> int:
    count = _words(request.system) if request.system else 0
    for message in request.messages:
        count += _words(message.content)
        for call in message.tool_calls:
            count += _call_words(call)
        for result in message.tool_results:
            count += _words(_value_text(result.content))
    return count


def _call_words(call: ToolCall) -> int:
    return 1 + sum(_words(_value_text(value)) for value in call.arguments.values())


def _text_response(text: str, input_tokens: int, max_tokens: int | None, model: str) -> Response:
    finish = "stop"
    words = _words(text)
    if max_tokens is not None and words > max_tokens:
        ends = [m.end() for m in _WORD.finditer(text)]
        text = text[: ends[max_tokens - 1]] if max_tokens > 0 else ""
        words = max(max_tokens, 0)
        finish = "max_tokens"
    return Response(Message.assistant(text), Usage(input_tokens, words), finish, model)


def _value_text(value: Any) -> str:
    """A tool argument or result as text: str as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular structures, non-str keys
        return repr(value)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


# -- arithmetic ------------------------------------------------------------------------


def _expressions(text: str) -> list[str]:
    """The arithmetic expressions in ``text``, normalised for the calculator."""
    found = []
    for match in _EXPRESSION.finditer(text):
        expression = _SPACES.sub(" ", _TIMES.sub("*", match.group()))
        found.append(_balance(expression))
    return found


def _balance(expression: str) -> str:
    """Drops unmatched parentheses at the ends: ``(1 + 2`` -> ``1 + 2``."""
    opened = expression.count("(")
    closed = expression.count(")")
    while opened > closed and expression.startswith("("):
        expression = expression[1:].lstrip()
        opened -= 1
    while closed > opened and expression.endswith(")"):
        expression = expression[:-1].rstrip()
        closed -= 1
    return expression


def _calculator_calls(
    messages: Sequence[Message], expressions: list[str], input_tokens: int, model: str
) -> Response:
    earlier = sum(len(message.tool_calls) for message in messages)
    calls = tuple(
        ToolCall(f"call_{earlier + n}", CALCULATOR, {"expression": expression})
        for n, expression in enumerate(expressions, start=1)
    )
    output_tokens = sum(_call_words(call) for call in calls)
    return Response(
        Message.assistant("", calls), Usage(input_tokens, output_tokens), "tool_calls", model
    )


def _describe_results(messages: Sequence[Message]) -> str:
    results = messages[-1].tool_results
    if not results:
        return f"{_PREFIX} The tool message carried no results."
    calls: dict[str, ToolCall] = {}
    for message in messages:
        for call in message.tool_calls:
            calls[call.id] = call
    return " ".join(_describe_result(result, calls.get(result.call_id)) for result in results)


def _describe_result(result: ToolResult, call: ToolCall | None) -> str:
    content = result.content
    if result.is_error:
        if isinstance(content, Mapping) and "error" in content:
            content = content["error"]
        return _sentence(f"The tool {result.name} failed: {_value_text(content)}")
    value = _value_text(content)
    expression = call.arguments.get("expression") if call is not None else None
    if result.name == CALCULATOR and isinstance(expression, str):
        return _sentence(f"{expression} = {value}")
    return _sentence(f"The tool {result.name} returned {value}")


# -- summaries and long texts ----------------------------------------------------------


def _summary(messages: Sequence[Message]) -> str:
    """``Summary:`` and the first sentence of each earlier user message, in order.

    Text after the first colon of the asking message is summarised too
    (``Summarize: <text>``). Sentences that would make the summary longer than
    600 characters are left out and counted instead.
    """
    sources = [m.content for m in messages[:-1] if m.role == USER and m.content.strip()]
    asking = messages[-1].content if messages else ""
    _, colon, after = asking.partition(":")
    if colon and after.strip():
        sources.extend(line for line in after.splitlines() if line.strip())
    if not sources:
        return "Summary: there is nothing to summarise yet."
    parts: list[str] = []
    length = len("Summary:")
    for position, source in enumerate(sources):
        first = _sentence(_SENTENCE_END.split(source.strip(), maxsplit=1)[0])
        if len(first) > _SUMMARY_SENTENCE_CHARS:
            first = first[: _SUMMARY_SENTENCE_CHARS - 3].rstrip() + "..."
        if length + 1 + len(first) > _SUMMARY_CHARS:
            left = len(sources) - position
            parts.append(f"(and {left} more)")
            break
        parts.append(first)
        length += 1 + len(first)
    return "Summary: " + " ".join(parts)


def _repeat_words(count: int) -> str:
    count = min(count, MAX_REPEAT_WORDS)
    if count == 0:
        return ""
    words = [_FILLER[i % len(_FILLER)] for i in range(count)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _long_text(rest: str) -> str:
    topic = rest.strip().rstrip(".!?").strip() or "text"
    return " ".join(
        f"This is sentence {n} of {LONG_SENTENCES} of a long {topic}."
        for n in range(1, LONG_SENTENCES + 1)
    )


# -- embeddings ------------------------------------------------------------------------


def _embed_one(text: str) -> list[float]:
    vector = [0.0] * EMBED_DIMENSIONS
    for word in _EMBED_WORD.findall(text.lower()):
        vector[zlib.crc32(word.encode("utf-8")) % EMBED_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm:
        vector = [x / norm for x in vector]
    return vector
