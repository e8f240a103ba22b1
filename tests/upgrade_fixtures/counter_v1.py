"""Counter, version 1: the state is the count, an int.

Also defines ``Legacy``, a server class that version 2 no longer has.
"""

from __future__ import annotations

from typing import Any

import beamlike
from beamlike.gen_server import From, GenServer, NoReply, Ok, Reply


class Counter(GenServer):
    __vsn__ = 1

    def init(self, count: int) -> Ok:
        return Ok(count)

    def handle_call(self, request: Any, from_: From, count: int) -> Any:
        if request == "get":
            return Reply(("v1", count), count)
        return super().handle_call(request, from_, count)

    def handle_cast(self, request: Any, count: int) -> Any:
        match request:
            case ("add", n):
                return NoReply(count + n)
            case ("sleep", seconds):
                beamlike.sleep(seconds)
                return NoReply(count)
        return super().handle_cast(request, count)


class Legacy(GenServer):
    __vsn__ = 1

    def handle_call(self, request: Any, from_: From, state: Any) -> Reply:
        return Reply(("legacy", state), state)
