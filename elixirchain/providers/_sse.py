"""The server-sent events parser the streaming HTTP adapters read their answers with.

``iter_sse`` follows the WHATWG event-stream rules: lines end with CRLF, LF or CR (also
when split between two reads), ``:`` starts a comment, a blank line dispatches the
event, ``data`` lines join with ``"\\n"``, an unfinished event at the end of the stream
is dropped. The OpenAI terminator ``data: [DONE]`` is yielded as an event whose
``done`` is true, and nothing after it is read. Lines and events are bounded in size
(``MAX_EVENT_BYTES``, or the ``limit`` given): a larger one raises ``SseError``.

Pure parsing: no I/O of its own, so it blocks only while the chunks it is given do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_EVENT_BYTES", "SseError", "SseEvent", "iter_sse"]

MAX_EVENT_BYTES = 8 * 1024 * 1024  # one server-sent event (or line) larger than this is refused


class SseError(ValueError):
    """The event stream breaks the size limits (``iter_sse``)."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its ``event`` name ("message" when unnamed), its ``data``
    (data lines joined with newlines), and the optional ``id`` and ``retry`` fields."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    @property
    def done(self) -> bool:
        """Whether this is OpenAI's end-of-stream marker ``data: [DONE]``."""
        return self.data == "[DONE]"

    def json(self) -> Any:
        """The data decoded as JSON. Raises ``ValueError`` when it is not JSON."""
        return json.loads(self.data)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _lines(chunks: Iterable[bytes], limit: int) -> Iterator[str]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # maybe the first half of a CRLF split between two reads
            yield buffer[start : match.start()].decode("utf-8", "replace")
            start = match.end()
        buffer = buffer[start:]
        if len(buffer) > limit:
            raise SseError(f"a server-sent event line is longer than {limit} bytes")
    if buffer.endswith(b"\r"):
        yield buffer[:-1].decode("utf-8", "replace")
    # any other unterminated last line belongs to an unfinished event: dropped


def iter_sse(chunks: Iterable[bytes], *, limit: int = MAX_EVENT_BYTES) -> Iterator[SseEvent]:
    """Parses a server-sent event stream given as byte chunks of any size.

    Blocks while it iterates ``chunks``. Stops after an event whose data is
    ``[DONE]`` (yielding it). Raises ``SseError`` when a line or an event exceeds
    ``limit`` bytes.
    """
    data: list[str] = []
    size = 0
    event = ""
    last_id: str | None = None
    retry: int | None = None
    first = True
    for line in _lines(chunks, limit):
        if first:
            first = False
            line = line.removeprefix("\ufeff")
        if not line:
            if data:
                sse = SseEvent("\n".join(data), event or "message", last_id, retry)
                yield sse
                if sse.done:
                    return
            data, size, event, retry = [], 0, "", None
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
            size += len(value) + 1
            if size > limit:
                raise SseError(f"a server-sent event is larger than {limit} bytes")
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry":
            if value.isdigit():
                retry = int(value)
        # other field names are ignored, as the standard says
