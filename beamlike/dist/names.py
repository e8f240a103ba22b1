"""Who a node is and what it may ask for by name: node names, cookies, creations, and the
``"package.module:function"`` names of remote spawns.

=============================  ============================================================
function                       what it does
=============================  ============================================================
``full_name(name)``            ``name@host``; a bare name gets ``@127.0.0.1``
``plausible(name)``            whether a peer's name has the shape of a node name
``bracket(host)``              a host for an endpoint (an IPv6 address in brackets)
``read_cookie(cookie=None)``   the cookie: argument, ``$BEAMLIKE_COOKIE``, or the cookie file
``new_creation()``             a random creation for a new incarnation of a node
``function_name(fn)``          ``"package.module:function"`` of a function to spawn remotely
``resolve_function(name)``     import the function a peer named
=============================  ============================================================

None of these talks to another node; ``read_cookie`` and ``resolve_function`` touch the
file system (the cookie file, imports).
"""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Callable
from typing import Any

from beamlike.dist.errors import DistError
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.process import resolve_function as _resolve

__all__ = [
    "COOKIE_ENV",
    "COOKIE_FILE",
    "DEFAULT_HOST",
    "bracket",
    "full_name",
    "function_name",
    "new_creation",
    "plausible",
    "read_cookie",
    "resolve_function",
]

COOKIE_ENV = "BEAMLIKE_COOKIE"
COOKIE_FILE = ".beamlike.cookie"
DEFAULT_HOST = "127.0.0.1"


def full_name(name: str) -> str:
    """``name@host`` for a node name; a name without ``@`` gets ``@127.0.0.1``.

    Never blocks. Raises ``BadArgument`` for a name that is not ``name@host``.
    """
    if not isinstance(name, str):
        raise BadArgumentType(f"a node name must be a str; got {name!r}")
    if "@" not in name:
        name = f"{name}@{DEFAULT_HOST}"
    local, _, host = name.partition("@")
    if (
        not local
        or not host
        or "@" in host
        or len(name.encode("utf-8")) > 255
        or any(c.isspace() for c in name)
    ):
        raise BadArgument(f"a node name must be 'name@host' (at most 255 bytes); got {name!r}")
    return name


def plausible(name: Any) -> bool:
    """Whether ``name`` (from a peer, or a pid) looks like a node name. Never blocks."""
    if name.__class__ is not str:
        return False
    local, _, host = name.partition("@")
    return bool(local and host and len(name) <= 255 and "@" not in host)


def bracket(host: str) -> str:
    """An IPv6 address in brackets, for an endpoint; anything else as it is. Never
    blocks."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def read_cookie(cookie: str | bytes | None = None) -> bytes:
    """The cookie: ``cookie`` if given, else ``$BEAMLIKE_COOKIE``, else the file
    ``~/.beamlike.cookie`` (created with a random cookie and mode 0600 when missing).

    Blocks briefly (file I/O). Raises ``DistError`` for an empty cookie or a cookie file
    that others may read.
    """
    if cookie is None:
        env = os.environ.get(COOKIE_ENV)
        if env:
            return env.encode("utf-8")
        path = os.path.join(os.path.expanduser("~"), COOKIE_FILE)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = os.stat(path).st_mode
            if mode & 0o077:
                raise DistError(
                    f"cookie file {path} must be accessible by its owner only "
                    f"(mode {mode & 0o777:o}; run: chmod 600 {path})"
                ) from None
            with open(path, "rb") as f:
                data = f.read().strip()
            if not data:
                raise DistError(f"cookie file {path} is empty") from None
            return data
        with os.fdopen(fd, "wb") as f:
            value = "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
            f.write(value.encode("ascii"))
        return value.encode("ascii")
    if isinstance(cookie, str):
        cookie = cookie.encode("utf-8")
    if not isinstance(cookie, bytes) or not cookie:
        raise BadArgument("the cookie must be a non-empty str or bytes")
    return cookie


def new_creation() -> int:
    """A random creation for a new incarnation of a node (1 .. 2**32-1). Never blocks."""
    return int.from_bytes(os.urandom(4), "big") or 1


def function_name(fn: Any) -> str:
    """``"package.module:function"`` for a remote spawn. Never blocks.

    Raises ``BadArgument`` for a function that another node could not import by name
    (a lambda, a nested function, a bound method).
    """
    if isinstance(fn, str):
        head, sep, tail = fn.partition(":")
        if not sep or not head or not tail:
            raise BadArgument(
                f"a function named by a string must be 'package.module:function'; got {fn!r}"
            )
        return fn
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not module or not qualname or "<" in qualname or module == "__main__":
        raise BadArgument(
            "a remote spawn names an importable module-level function ('package.module:function' "
            f"or the function object itself); got {fn!r}"
        )
    return f"{module}:{qualname}"


def resolve_function(name: str) -> Callable[..., Any]:
    """Import the function ``"package.module:function"``. Blocks while importing.

    Raises ``BadArgument`` when it cannot be found.
    """
    if not isinstance(name, str) or ":" not in name:
        raise BadArgument(f"expected a 'package.module:function' name; got {name!r}")
    return _resolve(name)
