"""A response cache for provider calls: the same request to the same key, answered once.

Guarantees:

- The key is a SHA-256 of a canonical JSON form of everything that shapes the answer:
  ``provider.key`` (provider name and a hash of its API key), ``model``, ``system``,
  ``messages`` (with attachments and tool calls), ``tools``, ``temperature``,
  ``max_tokens`` and ``options``. It is stable across processes and runs; option values
  that are not JSON are keyed by their ``repr``.
- The rule for what is cached: a request whose ``temperature`` is 0 or None (the
  caller asked for no sampling, or did not ask for any) is cached; a request with a
  temperature above 0 asks for varied answers and is not, unless the cache was built
  with ``cache_sampled=True``.
- Bounded: at most ``max_entries`` responses, the least recently used evicted first;
  with ``ttl``, an entry older than ``ttl`` seconds is a miss (and dropped).
- The cache is a plain object shared by the processes that are given it (all greenlets
  of one OS process); its operations never block and never switch greenlets, so they
  need no lock. It is not shared between nodes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from elixirchain.errors import ConfigError
from elixirchain.messages import Request, Response
from elixirchain.providers.base import Provider

__all__ = ["ResponseCache", "request_key"]


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (set, frozenset)):
        return sorted(repr(v) for v in value)
    return repr(value)


def request_key(provider_key: str, request: Request) -> str:
    """The cache key of ``request`` sent with the quota ``provider_key``. Never blocks."""
    canonical = {
        "key": provider_key,
        "model": request.model,
        "system": request.system,
        "messages": [message.to_dict() for message in request.messages],
        "tools": [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "options": dict(request.options),
    }
    text = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class ResponseCache:
    """An LRU cache of ``Response``s keyed by request (see the module docstring).

    Args:
        max_entries: the most responses kept (a positive int).
        ttl: seconds a response stays valid; None: until evicted.
        cache_sampled: also cache requests with a temperature above 0.
        clock: returns the current time in seconds (``time.monotonic``).

    Attributes:
        hits: lookups answered from the cache.
        misses: cacheable lookups that were not.
    """

    def __init__(
        self,
        max_entries: int = 1024,
        ttl: float | None = None,
        *,
        cache_sampled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries.__class__ is not int or max_entries < 1:
            raise ConfigError(
                f"ResponseCache max_entries must be a positive int; got {max_entries!r}"
            )
        if ttl is not None and (
            not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0
        ):
            raise ConfigError(
                f"ResponseCache ttl must be None or a positive number of seconds; got {ttl!r}"
            )
        self.max_entries = max_entries
        self.ttl = None if ttl is None else float(ttl)
        self.cache_sampled = bool(cache_sampled)
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[float, Response]] = OrderedDict()

    def key(self, provider: Provider, request: Request) -> str | None:
        """The cache key for sending ``request`` to ``provider``, or None when the
        request is not cacheable (a temperature above 0). Never blocks."""
        if not self.cache_sampled and request.temperature not in (None, 0, 0.0):
            return None
        return request_key(provider.key, request)

    def get(self, key: str) -> Response | None:
        """The cached response for ``key`` (counted as a hit), or None (a miss).

        Never blocks.
        """
        entry = self._entries.get(key)
        if entry is not None and self.ttl is not None and self.clock() - entry[0] > self.ttl:
            del self._entries[key]
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: str, response: Response) -> None:
        """Store ``response`` under ``key``, evicting the least recently used entry when
        full. Never blocks."""
        if not isinstance(response, Response):
            raise ConfigError(f"ResponseCache stores Response objects; got {response!r}")
        self._entries[key] = (self.clock(), response)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (the hit and miss counts stay). Never blocks."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"<ResponseCache {len(self._entries)}/{self.max_entries} entries, "
            f"{self.hits} hits, {self.misses} misses>"
        )
