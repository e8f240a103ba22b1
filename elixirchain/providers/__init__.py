"""LLM providers, and the registry that creates them by name.

Guarantees: ``create`` turns a name (``"gemini"``, ``"gemini:gemini-2.5-pro"``), a
Provider instance or None (the default for the environment's API keys) into a provider,
refusing unknown names and misspelt options with a ``ConfigError`` that lists what is
valid. Vendor adapters are imported only when first created, so a missing SDK troubles
only its users. Registrations are per beamlike node (``Node.extensions``), so each
node, and each test, starts from the built-in table.

Built-in names:

============  =================================================================
name          provider
============  =================================================================
``local``     ``LocalProvider``: offline and deterministic; the default without
              an API key
``gemini``    ``GeminiProvider`` (google-genai)
``openai``    ``OpenAIProvider`` (Chat Completions over requests)
``anthropic`` ``AnthropicProvider`` (Messages API over requests)
``ollama``    ``OpenAIProvider`` named ``"ollama"``, at ``http://127.0.0.1:11434/v1``,
              model ``llama3.2`` unless given
``function``  ``FunctionProvider``: a test double computing answers with ``fn``
``scripted``  ``ScriptedProvider``: a test double answering from a ``script``
============  =================================================================

Example::

    provider = create("gemini:gemini-2.5-pro", timeout=30.0)
    provider = create()  # gemini, openai or anthropic by the keys set, else local
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import beamlike
from elixirchain.errors import ConfigError, unknown_option
from elixirchain.providers.base import Provider
from elixirchain.providers.function import FunctionProvider, ScriptedProvider, ScriptExhausted
from elixirchain.providers.local import LocalProvider

__all__ = [
    "OLLAMA_BASE_URL",
    "OLLAMA_DEFAULT_MODEL",
    "FunctionProvider",
    "LocalProvider",
    "Provider",
    "ScriptExhausted",
    "ScriptedProvider",
    "available",
    "create",
    "default_provider_name",
    "register",
]

OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
OLLAMA_DEFAULT_MODEL = "llama3.2"

_EXTENSION = "elixirchain.providers"

# Built-in names: (module, class, default options, instance name or None).
_BUILTIN: dict[str, tuple[str, str, Mapping[str, Any], str | None]] = {
    "local": ("elixirchain.providers.local", "LocalProvider", {}, None),
    "gemini": ("elixirchain.providers.gemini", "GeminiProvider", {}, None),
    "openai": ("elixirchain.providers.openai", "OpenAIProvider", {}, None),
    "anthropic": ("elixirchain.providers.anthropic", "AnthropicProvider", {}, None),
    "ollama": (
        "elixirchain.providers.openai",
        "OpenAIProvider",
        {"base_url": OLLAMA_BASE_URL, "model": OLLAMA_DEFAULT_MODEL},
        "ollama",
    ),
    "function": ("elixirchain.providers.function", "FunctionProvider", {}, None),
    "scripted": ("elixirchain.providers.function", "ScriptedProvider", {}, None),
}

# Environment variables that select the default provider, in order of preference.
_DEFAULT_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    ("openai", ("OPENAI_API_KEY",)),
    ("anthropic", ("ANTHROPIC_API_KEY",)),
)


def default_provider_name() -> str:
    """The provider used when none is named, chosen by the API keys in the environment.

    ``"gemini"`` if ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` is set, else ``"openai"``
    if ``OPENAI_API_KEY`` is, else ``"anthropic"`` if ``ANTHROPIC_API_KEY`` is, else
    ``"local"``. Empty values count as unset. Never blocks.
    """
    for name, variables in _DEFAULT_KEYS:
        if any(os.environ.get(variable, "").strip() for variable in variables):
            return name
    return "local"


def _registered() -> dict[str, Callable[..., Provider]]:
    table: dict[str, Callable[..., Provider]] = beamlike.node.current().extensions.setdefault(
        _EXTENSION, {}
    )
    return table


def register(name: str, factory: Callable[..., Provider]) -> None:
    """Makes ``create(name, **options)`` call ``factory(**options)`` on this node.

    Registrations belong to the caller's beamlike node and add to the built-in names;
    they cannot replace one. Never blocks.

    Raises:
        ConfigError: ``name`` is already taken (built in or registered), or is not a
            non-empty str without ``:`` and whitespace.
        TypeError: ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name or ":" in name or name != "".join(name.split()):
        raise ConfigError(
            "register expects a provider name: a non-empty str without ':' or whitespace; "
            f"got {name!r}"
        )
    if not callable(factory):
        raise TypeError(
            f"register expects a callable factory(**options) -> Provider; got {factory!r} "
            f"(of type {type(factory).__name__})"
        )
    table = _registered()
    if name in _BUILTIN or name in table:
        raise ConfigError(f"provider {name!r} is already registered")
    table[name] = factory


def available() -> list[str]:
    """The provider names ``create`` accepts on this node, sorted. Never blocks."""
    return sorted({*_BUILTIN, *_registered()})


def create(spec: str | Provider | None = None, **options: Any) -> Provider:
    """Creates the provider ``spec`` names, with ``options`` for its constructor.

    Args:
        spec: a name (see ``available()``), or ``"name:model"`` (the model as the
            ``model`` option: ``"ollama:llama3.2:1b"`` has model ``"llama3.2:1b"``); a
            Provider instance, returned as it is; or None for
            ``default_provider_name()``.
        **options: keyword arguments of the provider's constructor.

    Blocks only as long as the provider's constructor (the built-in ones open no
    connection); the first creation of a vendor provider imports its module.

    Raises:
        ConfigError: unknown name; options the provider does not take (listing those it
            does) or misses; options given with a Provider instance; the model given
            both in ``spec`` and as an option.
        TypeError: ``spec`` is neither a str, a Provider nor None.
    """
    if isinstance(spec, Provider):
        if options:
            raise ConfigError(
                f"create got options {', '.join(sorted(options))} together with a Provider "
                f"instance ({spec!r}); options apply only when a provider is created by name"
            )
        return spec
    if spec is None:
        spec = default_provider_name()
    elif not isinstance(spec, str):
        raise TypeError(
            "create expects a provider name (str), a Provider instance or None; got "
            f"{spec!r} (of type {type(spec).__name__})"
        )
    name, colon, model = spec.partition(":")
    if colon:
        if not model:
            raise ConfigError(
                f"create got {spec!r} with an empty model; write 'name:model', "
                "e.g. 'gemini:gemini-2.5-pro'"
            )
        if "model" in options:
            raise ConfigError(
                f"create got the model twice: in {spec!r} and as model={options['model']!r}"
            )
        options["model"] = model
    if name in _BUILTIN:
        module_name, class_name, defaults, instance_name = _BUILTIN[name]
        factory = getattr(importlib.import_module(module_name), class_name)
        _check_options(class_name, factory, options)
        provider = factory(**{**defaults, **options})
        if instance_name is not None:
            provider.name = instance_name
        return _checked(name, provider)
    factory = _registered().get(name)
    if factory is None:
        raise ConfigError(
            f"unknown provider {name!r}; valid providers are: {', '.join(available())}"
        )
    _check_options(f"provider {name!r}", factory, options)
    return _checked(name, factory(**options))


def _check_options(what: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Refuses options ``factory`` does not take, and required ones that are missing."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): let it check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    named = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    valid = {p.name for p in named}
    unknown = set(options) - valid
    if unknown:
        raise unknown_option(what, unknown, valid)
    missing = sorted(
        p.name for p in named if p.default is inspect.Parameter.empty and p.name not in options
    )
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ConfigError(
            f"{what} needs the option{plural} {', '.join(repr(m) for m in missing)}; "
            f"valid options are: {', '.join(sorted(valid))}"
        )


def _checked(name: str, provider: Any) -> Provider:
    if not isinstance(provider, Provider):
        raise TypeError(
            f"the factory of provider {name!r} returned {provider!r} "
            f"(of type {type(provider).__name__}), not a Provider"
        )
    return provider
