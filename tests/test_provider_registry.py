"""The provider registry: names, "name:model" shorthand, options, env default, registrations.

Vendor adapters are written elsewhere; tests that create them put a stand-in module
under the adapter's import name (``monkeypatch.setitem(sys.modules, ...)``), so they
check the registry's own work: which class, which options, lazily imported.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import beamlike
from elixirchain import providers
from elixirchain.errors import ConfigError
from elixirchain.messages import Request, Response
from elixirchain.providers import (
    OLLAMA_BASE_URL,
    FunctionProvider,
    LocalProvider,
    Provider,
    ScriptedProvider,
    available,
    create,
    default_provider_name,
    register,
)

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
BUILT_IN = ["anthropic", "function", "gemini", "local", "ollama", "openai", "scripted"]


class StandIn(Provider):
    """Records its options, as a vendor adapter's constructor would take them."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "vendor-default",
        timeout: float = 60.0,
    ) -> None:
        self.options = {
            "api_key": api_key,
            "base_url": base_url,
            "model": model,
            "timeout": timeout,
        }
        self.default_model = model

    def generate(self, request: Request) -> Response:
        raise NotImplementedError("a stand-in for the registry tests; it answers nothing")


def stand_in_module(monkeypatch: pytest.MonkeyPatch, vendor: str, class_name: str) -> type[StandIn]:
    cls = type(class_name, (StandIn,), {"name": vendor})
    module = types.ModuleType(f"elixirchain.providers.{vendor}")
    setattr(module, class_name, cls)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return cls


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in KEY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


# -- built-in names -----------------------------------------------------------------------


def test_local_creates_a_local_provider_with_its_options() -> None:
    provider = create("local", delay=0.5, words_per_chunk=2)

    assert isinstance(provider, LocalProvider)
    assert (provider.delay, provider.words_per_chunk, provider.model) == (0.5, 2, "local-1")


def test_function_and_scripted_create_the_test_doubles() -> None:
    function = create("function", fn=lambda r: "hi", name="double")
    scripted = create("scripted", script=["a"], key="shared", chunk_size=3)

    assert isinstance(function, FunctionProvider) and function.name == "double"
    assert isinstance(scripted, ScriptedProvider)
    assert (scripted.key, scripted.chunk_size) == ("shared", 3)


def test_the_shorthand_name_colon_model_sets_the_model() -> None:
    assert create("local:local-large").default_model == "local-large"


def test_a_model_may_itself_contain_colons() -> None:
    assert create("local:llama3.2:1b").default_model == "llama3.2:1b"


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        ("gemini", "GeminiProvider"),
        ("openai", "OpenAIProvider"),
        ("anthropic", "AnthropicProvider"),
    ],
)
def test_vendor_names_create_their_adapter_class(
    monkeypatch: pytest.MonkeyPatch, name: str, class_name: str
) -> None:
    cls = stand_in_module(monkeypatch, name, class_name)

    provider: Any = create(f"{name}:pro-model", timeout=30.0)

    assert type(provider) is cls
    assert provider.options == {
        "api_key": None,
        "base_url": None,
        "model": "pro-model",
        "timeout": 30.0,
    }


def test_ollama_is_the_openai_adapter_at_the_local_ollama_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cls = stand_in_module(monkeypatch, "openai", "OpenAIProvider")

    provider: Any = create("ollama")

    assert type(provider) is cls
    assert provider.name == "ollama"
    assert provider.key == "ollama"
    assert OLLAMA_BASE_URL == "http://127.0.0.1:11434/v1"
    assert provider.options == {
        "api_key": None,
        "base_url": "http://127.0.0.1:11434/v1",
        "model": "llama3.2",
        "timeout": 60.0,
    }


def test_ollama_takes_another_model_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_module(monkeypatch, "openai", "OpenAIProvider")

    provider: Any = create("ollama:qwen2.5", base_url="http://127.0.0.1:9999/v1")

    assert (provider.options["model"], provider.options["base_url"]) == (
        "qwen2.5",
        "http://127.0.0.1:9999/v1",
    )


def test_a_provider_instance_is_returned_as_it_is() -> None:
    provider = LocalProvider()

    assert create(provider) is provider


def test_options_with_a_provider_instance_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        create(LocalProvider(), model="other")

    assert str(caught.value) == (
        "create got options model together with a Provider instance "
        "(LocalProvider(model='local-1', delay=0.0, chunk_delay=0.0, words_per_chunk=1)); "
        "options apply only when a provider is created by name"
    )


def test_available_lists_the_built_in_names() -> None:
    assert available() == BUILT_IN


# -- refusals -------------------------------------------------------------------------------


def test_an_unknown_name_is_refused_listing_the_valid_names() -> None:
    with pytest.raises(ConfigError) as caught:
        create("gemeni")

    assert str(caught.value) == (
        "unknown provider 'gemeni'; valid providers are: "
        "anthropic, function, gemini, local, ollama, openai, scripted"
    )


def test_an_unknown_option_is_refused_listing_the_providers_options() -> None:
    with pytest.raises(ConfigError) as caught:
        create("local", modle="x")

    assert str(caught.value) == (
        "LocalProvider got unknown option 'modle'; valid options are: "
        "chunk_delay, delay, model, words_per_chunk"
    )


def test_unknown_options_of_a_vendor_adapter_are_refused_before_it_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_in_module(monkeypatch, "gemini", "GeminiProvider")

    with pytest.raises(ConfigError) as caught:
        create("gemini", api_kye="k", temprature=0)

    assert str(caught.value) == (
        "GeminiProvider got unknown options 'api_kye', 'temprature'; valid options are: "
        "api_key, base_url, model, timeout"
    )


def test_a_missing_required_option_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        create("scripted")

    assert str(caught.value) == (
        "ScriptedProvider needs the option 'script'; valid options are: "
        "chunk_size, key, name, script"
    )


def test_the_model_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        create("local:a", model="b")

    assert str(caught.value) == "create got the model twice: in 'local:a' and as model='b'"


def test_an_empty_model_in_the_shorthand_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        create("local:")

    assert str(caught.value) == (
        "create got 'local:' with an empty model; write 'name:model', e.g. 'gemini:gemini-2.5-pro'"
    )


def test_a_spec_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        create(42)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "create expects a provider name (str), a Provider instance or None; got 42 (of type int)"
    )


# -- the default from the environment ----------------------------------------------------------


def test_without_any_key_the_default_is_local(no_keys: pytest.MonkeyPatch) -> None:
    assert default_provider_name() == "local"
    assert isinstance(create(), LocalProvider)
    assert isinstance(create(None), LocalProvider)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (["GEMINI_API_KEY"], "gemini"),
        (["GOOGLE_API_KEY"], "gemini"),
        (["OPENAI_API_KEY"], "openai"),
        (["ANTHROPIC_API_KEY"], "anthropic"),
        (["OPENAI_API_KEY", "ANTHROPIC_API_KEY"], "openai"),
        (["ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"], "gemini"),
    ],
)
def test_the_default_follows_the_keys_in_order_of_preference(
    no_keys: pytest.MonkeyPatch, variables: list[str], expected: str
) -> None:
    for variable in variables:
        no_keys.setenv(variable, "secret")

    assert default_provider_name() == expected


def test_an_empty_key_counts_as_unset(no_keys: pytest.MonkeyPatch) -> None:
    no_keys.setenv("GEMINI_API_KEY", "  ")

    assert default_provider_name() == "local"


def test_create_without_a_name_uses_the_default_from_the_keys(no_keys: pytest.MonkeyPatch) -> None:
    cls = stand_in_module(no_keys, "anthropic", "AnthropicProvider")
    no_keys.setenv("ANTHROPIC_API_KEY", "secret")

    assert type(create()) is cls


# -- registrations ---------------------------------------------------------------------------


def test_a_registered_factory_is_created_by_name_with_its_options() -> None:
    def factory(*, greeting: str = "hello") -> Provider:
        return FunctionProvider(lambda r: greeting, name="greeter")

    register("greeter", factory)
    provider = create("greeter", greeting="hi")

    assert provider.name == "greeter"
    assert provider.generate(Request("m", ())).text == "hi"
    assert available() == sorted([*BUILT_IN, "greeter"])


def test_the_shorthand_gives_a_registered_factory_its_model() -> None:
    register("mine", lambda model="base": LocalProvider(model=model))

    assert create("mine:large").default_model == "large"


def test_unknown_options_of_a_registered_factory_are_refused() -> None:
    register("mine", lambda *, size=1: LocalProvider())

    with pytest.raises(ConfigError) as caught:
        create("mine", colour="red")

    assert (
        str(caught.value) == "provider 'mine' got unknown option 'colour'; valid options are: size"
    )


def test_registering_a_name_twice_is_refused() -> None:
    register("mine", LocalProvider)

    with pytest.raises(ConfigError) as twice:
        register("mine", LocalProvider)
    with pytest.raises(ConfigError) as built_in:
        register("local", LocalProvider)

    assert str(twice.value) == "provider 'mine' is already registered"
    assert str(built_in.value) == "provider 'local' is already registered"


def test_registrations_belong_to_the_node() -> None:
    register("mine", LocalProvider)
    other = beamlike.Node()
    try:
        with other.as_default():
            assert "mine" not in available()
            register("mine", LocalProvider)  # not taken on this node
            assert "mine" in available()
    finally:
        other.stop()

    assert "mine" in available()


def test_registrations_are_seen_by_processes_of_the_node() -> None:
    register("mine", LocalProvider)

    assert beamlike.run(lambda: type(create("mine")).__name__) == "LocalProvider"


def test_a_bad_name_or_factory_is_refused() -> None:
    with pytest.raises(ConfigError) as colon:
        register("a:b", LocalProvider)
    with pytest.raises(TypeError) as factory:
        register("mine", "LocalProvider")  # type: ignore[arg-type]

    assert str(colon.value) == (
        "register expects a provider name: a non-empty str without ':' or whitespace; got 'a:b'"
    )
    assert str(factory.value) == (
        "register expects a callable factory(**options) -> Provider; got 'LocalProvider' "
        "(of type str)"
    )


def test_a_factory_that_returns_something_else_is_refused() -> None:
    register("broken", lambda: "not a provider")  # type: ignore[arg-type, return-value]

    with pytest.raises(TypeError) as caught:
        create("broken")

    assert str(caught.value) == (
        "the factory of provider 'broken' returned 'not a provider' (of type str), not a Provider"
    )


def test_the_package_exports_its_public_names() -> None:
    exported: Any = set(providers.__all__)

    assert {
        "Provider",
        "LocalProvider",
        "FunctionProvider",
        "ScriptedProvider",
        "create",
        "default_provider_name",
        "register",
        "available",
    } <= exported
