"""Counter, version 2: the state is a dict that also logs every ``add``.

``code_change`` migrates a version-1 count; it refuses a negative one. ``Legacy`` is gone.
"""

from __future__ import annotations

from typing import Any

from beamlike.gen_server import From, GenServer, NoReply, Ok, Reply


class Counter(GenServer):
    __vsn__ = 2

    def init(self, count: int) -> Ok:
        return Ok({"count": count, "log": [], "extra": None})

    def handle_call(self, request: Any, from_: From, state: dict[str, Any]) -> Any:
        if request == "get":
            return Reply(("v2", state["count"]), state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: dict[str, Any]) -> Any:
        match request:
            case ("add", n):
                return NoReply({**state, "count": state["count"] + n, "log": [*state["log"], n]})
        return super().handle_cast(request, state)

    def code_change(self, old_vsn: Any, count: Any, extra: Any) -> dict[str, Any]:
        if old_vsn != 1:
            raise ValueError(f"cannot upgrade from version {old_vsn!r}")
        if count < 0:
            raise ValueError(f"cannot migrate a negative count: {count}")
        return {"count": count, "log": [], "extra": extra}
