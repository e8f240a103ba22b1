"""The provider interface every LLM adapter implements, and the network switch.

A provider turns a vendor-neutral ``Request`` into a ``Response`` (``generate``) or a
stream of ``Chunk``s (``stream``). Adapters raise only ``elixirchain.errors``
exceptions (``ProviderError`` subclasses with ``retryable`` and ``retry_after`` set),
never a vendor's or ``requests``' own. They do not retry, rate-limit or cache: that is
the resilience layer's job, shared by all agents (``elixirchain.resilience``).

Every call blocks the calling beamlike process (other processes keep running: the I/O
goes through gevent's patched sockets) and is bounded by ``Request.timeout``.

The network switch: with ``ELIXIRCHAIN_FORBID_NETWORK=1`` in the environment (the test
suite sets it), ``check_url`` refuses every host but loopback, so a test can never reach
a real vendor by mistake.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from elixirchain.errors import NetworkForbidden, ProviderError
from elixirchain.messages import Chunk, Request, Response, collect

__all__ = ["FORBID_ENV", "Provider", "check_url", "is_local_url", "network_forbidden"]

FORBID_ENV = "ELIXIRCHAIN_FORBID_NETWORK"


def network_forbidden() -> bool:
    """Whether real (non-loopback) requests are forbidden. Never blocks."""
    return os.environ.get(FORBID_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine: ``localhost`` or a loopback address.
    Never blocks."""
    host = urlsplit(url).hostname or ""  # lower-cased by urlsplit
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Raises ``NetworkForbidden`` when ``url`` leaves the machine while forbidden.

    Never blocks. Adapters call it before every request.
    """
    if not network_forbidden():
        return
    if not is_local_url(url):
        raise NetworkForbidden(
            f"real network requests are forbidden ({FORBID_ENV} is set): refused {url!r}; "
            "point the provider at a local server (base_url=...) or unset the variable"
        )


class Provider(ABC):
    """An LLM adapter. Subclasses set ``name`` and implement ``generate`` and ``stream``.

    Attributes:
        name: the provider's registry name ("gemini", "openai", "anthropic", "local").
        default_model: the model used when a request names none.
    """

    name: str = "provider"
    default_model: str = ""

    @property
    def key(self) -> str:
        """Identifies the quota this provider draws on: name plus a hash of its API key.

        All agents using the same key share one rate-limit and circuit-breaker gate.
        Never blocks.
        """
        secret = self.api_key_for_gate()
        if not secret:
            return self.name
        digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
        return f"{self.name}:{digest}"

    def api_key_for_gate(self) -> str | None:
        """The secret that identifies the quota (overridden by keyed adapters)."""
        return None

    @abstractmethod
    def generate(self, request: Request) -> Response:
        """Sends ``request`` and returns the complete answer.

        Blocks until the answer arrived, ``request.timeout`` passed
        (``ProviderTimeout``) or the call failed (another ``ProviderError``).
        """

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Sends ``request`` and yields the answer as it arrives.

        Blocks while waiting for each chunk. Closing the iterator early closes the
        connection. The default yields ``generate``'s answer as one chunk.
        """
        response = self.generate(request)
        yield from _response_chunks(response, [response.message.content])

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Embeds each text as a vector. Blocks until done.

        Raises ``ProviderError`` when the provider offers no embeddings.
        """
        raise ProviderError(f"provider {self.name!r} does not offer embeddings", provider=self.name)

    def estimate_tokens(self, request: Request) -> int:
        """A cheap upper estimate of the request's tokens (4 characters per token plus
        the answer budget), used by rate limits before the call. Never blocks."""
        chars = len(request.system or "")
        for message in request.messages:
            chars += len(message.content)
            for call in message.tool_calls:
                chars += len(call.name) + len(str(call.arguments))
            for result in message.tool_results:
                chars += len(str(result.content))
        for tool in request.tools:
            chars += len(tool.name) + len(tool.description) + len(str(tool.parameters))
        return chars // 4 + 1 + (request.max_tokens or 256)

    def collect(self, request: Request) -> Response:
        """``stream`` folded into one Response. Blocks like ``stream``."""
        return collect(self.stream(request), model=request.model)


def _response_chunks(response: Response, texts: Sequence[str]) -> Iterator[Chunk]:
    """``response`` as a stream whose text comes in the pieces ``texts`` (at least one):
    a chunk per piece, the tool calls, usage, finish reason and signature on the last.
    Never blocks."""
    for text in texts[:-1]:
        yield Chunk(text=text)
    message = response.message
    yield Chunk(
        text=texts[-1],
        tool_calls=message.tool_calls,
        usage=response.usage,
        finish_reason=response.finish_reason,
        signature=message.signature,
    )
