"""The Gemini adapter: elixirchain's ``Provider`` over Google's ``google-genai`` SDK.

Guarantees:

- Only elixirchain's errors leave this module: the SDK's ``APIError``s, the HTTP
  client's transport errors and undecodable answers are translated (see
  ``_gemini_errors``), with ``retryable`` and ``retry_after`` (from Gemini's
  ``RetryInfo.retryDelay`` detail, else a ``Retry-After`` header) set.
- Nothing is retried, continued or run here: the SDK's retries, its automatic
  function calling and its automatic stream continuation are all off. Retrying is
  ``elixirchain.resilience``'s job, running tools the agent's.
- Every call is bounded: the request's timeout (``Request.timeout``, the provider's
  ``timeout`` for ``embed``) goes to the SDK as its HTTP timeout, which bounds the
  connect and every read; a stream also checks the whole call's deadline between
  events.
- Thought signatures come back byte-for-byte: a function call's ``thoughtSignature``
  is kept in ``ToolCall.signature`` and a text part's in ``Message.signature`` (or
  ``Chunk.signature``), and both are sent back unchanged on the next request.
- ``check_url`` runs before every request, so ``ELIXIRCHAIN_FORBID_NETWORK=1`` stops a
  call to the real service before any connection is made.

Non-guarantees: the HTTP timeout bounds each read, so a server that trickles bytes
slower than that can stretch a non-streaming call past ``Request.timeout``. An
abandoned stream's connection is released when the SDK's generator is collected.

Mapping of the vendor-neutral messages (``elixirchain.messages``):

    Request.system            -> system_instruction
    Message("user")           -> Content(role="user"): text part, inline_data parts
    Message("assistant")      -> Content(role="model"): text part (thought_signature =
                                 Message.signature), one function_call part per
                                 ToolCall (thought_signature = ToolCall.signature)
    Message("tool")           -> Content(role="user"): one function_response part per
                                 ToolResult, response {"output": ...} or {"error": ...}
    ToolSpec                  -> FunctionDeclaration(parameters_json_schema=...)
    temperature, max_tokens   -> temperature, max_output_tokens

Gemini often gives function calls no id; the adapter then names them ``call_0``,
``call_1``, ... in the order of the turn, and does not send such made-up ids back.

The SDK is imported on first use, never when this module is imported.

    provider = GeminiProvider(api_key="...", base_url="http://127.0.0.1:8080")
    response = provider.generate(Request("gemini-2.5-flash", (Message.user("Hi"),)))
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
    MalformedResponse,
    ProviderError,
    StreamInterrupted,
    unknown_option,
)
from elixirchain.messages import (
    ASSISTANT,
    TOOL,
    Chunk,
    Message,
    Request,
    Response,
    ToolCall,
    Usage,
)
from elixirchain.providers._gemini_errors import NAME, deadline_error, translate
from elixirchain.providers.base import Provider, check_url

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MODEL",
    "GeminiProvider",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_EMBEDDING_MODEL = "gemini-embedding-001"
API_VERSION = "v1beta"

# Request.options this adapter understands, and the GenerateContentConfig field each sets
# (the thinking options go into a ThinkingConfig).
OPTIONS = (
    "frequency_penalty",
    "include_thoughts",
    "presence_penalty",
    "response_mime_type",
    "seed",
    "stop_sequences",
    "thinking_budget",
    "top_k",
    "top_p",
)
_THINKING_OPTIONS = ("include_thoughts", "thinking_budget")

_SYNTHETIC_ID = re.compile(r"call_\d+")


def _sdk() -> tuple[ModuleType, ModuleType, ModuleType]:
    """Imports google-genai on first use: ``(genai, types, errors)``."""
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise ImportError(
            "the Gemini provider needs the google-genai package: pip install google-genai"
        ) from exc
    return genai, types, errors


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _check_timeout(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def _plain(value: Any) -> Any:
    """Mappings and sequences as plain dicts and lists (for the SDK's JSON fields)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class GeminiProvider(Provider):
    """Google Gemini through the google-genai SDK (the Gemini Developer API).

    Args:
        api_key: the API key; else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``.
        model: the model used when a request names none.
        base_url: where to send requests (default ``DEFAULT_BASE_URL``); tests point it
            at a local server.
        timeout: seconds, bounds ``embed`` (``generate`` and ``stream`` use
            ``Request.timeout``).
        http_options: extra ``google.genai.types.HttpOptions`` (or a dict of them), e.g.
            ``headers`` or ``api_version``. ``retry_options`` is refused: retries belong
            to the resilience layer.

    Raises:
        AuthenticationError: no API key was given or found in the environment.
        ConfigError: an argument has the wrong type or value.
    """

    name = NAME

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 60.0,
        http_options: Any = None,
    ) -> None:
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigError(f"api_key must be a str or None, got {type(api_key).__name__}")
        key = api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key:
            raise AuthenticationError(
                "no Gemini API key: pass api_key=... to GeminiProvider or set "
                "GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment",
                provider=NAME,
            )
        if not isinstance(model, str) or not model:
            raise ConfigError(f"model must be a non-empty str, got {model!r}")
        if base_url is not None and (not isinstance(base_url, str) or not base_url):
            raise ConfigError(f"base_url must be a non-empty str or None, got {base_url!r}")
        self._api_key = key
        self.default_model = model
        self.timeout = _check_timeout(timeout, "timeout")
        self._options = None if http_options is None else self._http_options(http_options)
        given_base = self._options.base_url if self._options is not None else None
        self.base_url = (base_url or given_base or DEFAULT_BASE_URL).rstrip("/")
        self._client: Any = None

    @staticmethod
    def _http_options(given: Any) -> Any:
        _, types, _ = _sdk()
        if isinstance(given, Mapping):
            try:
                options = types.HttpOptions.model_validate(dict(given))
            except ValueError as exc:
                raise ConfigError(f"http_options is not valid HttpOptions: {exc}") from exc
        elif isinstance(given, types.HttpOptions):
            options = given.model_copy()
        else:
            raise ConfigError(
                "http_options must be a google.genai.types.HttpOptions, a dict or None, "
                f"got {type(given).__name__}"
            )
        if options.retry_options is not None:
            raise ConfigError(
                "http_options.retry_options is refused: the Gemini adapter never retries; "
                "retries belong to elixirchain.resilience"
            )
        return options

    def __repr__(self) -> str:
        return f"GeminiProvider(model={self.default_model!r}, base_url={self.base_url!r})"

    def api_key_for_gate(self) -> str | None:
        """The API key (identifies the quota). Never blocks."""
        return self._api_key

    def close(self) -> None:
        """Closes the SDK client's connections. Blocks until they are closed."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- the SDK client

    def _sdk_client(self) -> Any:
        """The SDK client, created on first use. Never blocks (no I/O)."""
        if self._client is None:
            genai, types, _ = _sdk()
            given = self._options if self._options is not None else types.HttpOptions()
            options = given.model_copy(
                update={
                    "base_url": self.base_url + "/",
                    "api_version": given.api_version or API_VERSION,
                    "timeout": _milliseconds(self.timeout),
                }
            )
            self._client = genai.Client(api_key=self._api_key, vertexai=False, http_options=options)
        return self._client

    # -- Provider

    def generate(self, request: Request) -> Response:
        """Sends ``request`` to ``models/{model}:generateContent``.

        Blocks until the answer arrived, ``request.timeout`` passed
        (``ProviderTimeout``) or the call failed (another ``ProviderError``).
        """
        model, contents, config = self._prepare(request)
        check_url(self.base_url)
        client = self._sdk_client()
        try:
            answer = client.models.generate_content(model=model, contents=contents, config=config)
        except Exception as exc:
            raise self._translate(exc, request.timeout, streaming=False) from exc
        return self._response(answer, model)

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Sends ``request`` to ``models/{model}:streamGenerateContent?alt=sse``.

        Yields text deltas as they arrive, each function call complete as a
        ``ToolCall``, and the usage and finish reason on the last chunk. Blocks while
        waiting for each event. A failure after the first chunk raises
        ``StreamInterrupted(retryable=False)`` (its ``__cause__`` says what broke);
        before it, the same errors as ``generate`` (a dropped connection is
        ``StreamInterrupted(retryable=True)``).
        """
        model, contents, config = self._prepare(request)
        check_url(self.base_url)
        client = self._sdk_client()
        deadline = time.monotonic() + request.timeout
        events = client.models.generate_content_stream(
            model=model, contents=contents, config=config
        )
        delivered = 0
        calls = 0
        usage: Usage | None = None
        usage_sent = False
        try:
            while True:
                try:
                    event = next(events)
                except StopIteration:
                    break
                except Exception as exc:
                    error = self._translate(exc, request.timeout, streaming=True)
                    if delivered:
                        raise StreamInterrupted(
                            f"the gemini stream broke off after {delivered} chunk(s): {error}",
                            provider=NAME,
                            status=error.status,
                            body=error.body,
                            retryable=False,
                        ) from exc
                    raise error from exc
                chunk, calls, event_usage = self._chunk(event, calls)
                if event_usage is not None:
                    usage = event_usage
                if chunk.finish_reason is not None and usage is not None:
                    chunk = Chunk(
                        chunk.text, chunk.tool_calls, usage, chunk.finish_reason, chunk.signature
                    )
                    usage_sent = True
                if chunk != Chunk():
                    yield chunk
                    delivered += 1
                if time.monotonic() > deadline:
                    raise deadline_error(request.timeout, delivered)
        finally:
            events.close()
        if usage is not None and not usage_sent:
            yield Chunk(usage=usage)

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Embeds each text (``models/{model}:batchEmbedContents``), in order.

        Blocks until the vectors arrived, the provider's ``timeout`` passed
        (``ProviderTimeout``) or the call failed (another ``ProviderError``).
        """
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ConfigError(f"embed expects a list of str, got {type(texts).__name__}")
        for text in texts:
            if not isinstance(text, str):
                raise ConfigError(
                    f"embed expects a list of str, got an item of type {type(text).__name__}"
                )
        if model is not None and (not isinstance(model, str) or not model):
            raise ConfigError(f"model must be a non-empty str or None, got {model!r}")
        if not texts:
            return []
        _, types, _ = _sdk()
        check_url(self.base_url)
        client = self._sdk_client()
        config = types.EmbedContentConfig(
            http_options=types.HttpOptions(timeout=_milliseconds(self.timeout))
        )
        try:
            answer = client.models.embed_content(
                model=model or DEFAULT_EMBEDDING_MODEL, contents=list(texts), config=config
            )
        except Exception as exc:
            raise self._translate(exc, self.timeout, streaming=False) from exc
        vectors = [list(e.values or ()) for e in answer.embeddings or ()]
        if len(vectors) != len(texts) or not all(vectors):
            raise MalformedResponse(
                f"gemini returned {len(vectors)} embedding(s) for {len(texts)} text(s)",
                provider=NAME,
            )
        return [[float(x) for x in v] for v in vectors]

    # -- requests

    def _prepare(self, request: Request) -> tuple[str, list[Any], Any]:
        """``(model, contents, config)`` for the SDK. Never blocks."""
        if not isinstance(request, Request):
            raise ConfigError(f"expected an elixirchain Request, got {type(request).__name__}")
        if not request.messages:
            raise BadRequest("a Gemini request needs at least one message, got none", provider=NAME)
        timeout = _check_timeout(request.timeout, "Request.timeout")
        _, types, _ = _sdk()
        contents = [self._content(message, types) for message in request.messages]
        fields: dict[str, Any] = {
            "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
            "automatic_continuation": False,
            "http_options": types.HttpOptions(timeout=_milliseconds(timeout)),
        }
        if request.system:
            fields["system_instruction"] = request.system
        if request.temperature is not None:
            fields["temperature"] = request.temperature
        if request.max_tokens is not None:
            fields["max_output_tokens"] = request.max_tokens
        if request.tools:
            declarations = [
                types.FunctionDeclaration(
                    name=tool.name,
                    description=tool.description,
                    parameters_json_schema=_plain(tool.parameters) if tool.parameters else None,
                )
                for tool in request.tools
            ]
            fields["tools"] = [types.Tool(function_declarations=declarations)]
        options = dict(request.options)
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise unknown_option("the Gemini provider", unknown, OPTIONS)
        thinking = {k: options.pop(k) for k in _THINKING_OPTIONS if k in options}
        if thinking:
            fields["thinking_config"] = types.ThinkingConfig(**thinking)
        fields.update(options)
        try:
            config = types.GenerateContentConfig(**fields)
        except ValueError as exc:
            raise ConfigError(f"invalid option for the Gemini provider: {exc}") from exc
        return request.model or self.default_model, contents, config

    @staticmethod
    def _content(message: Message, types: ModuleType) -> Any:
        parts: list[Any] = []
        if message.role == TOOL:
            for result in message.tool_results:
                key = "error" if result.is_error else "output"
                parts.append(
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=None if _SYNTHETIC_ID.fullmatch(result.call_id) else result.call_id,
                            name=result.name,
                            response={key: _plain(result.content)},
                        )
                    )
                )
        elif (
            message.content
            or message.signature is not None
            or not (message.attachments or message.tool_calls)
        ):
            parts.append(types.Part(text=message.content, thought_signature=message.signature))
        for attachment in message.attachments:
            parts.append(
                types.Part(
                    inline_data=types.Blob(data=attachment.data, mime_type=attachment.mime_type)
                )
            )
        for call in message.tool_calls:
            parts.append(
                types.Part(
                    function_call=types.FunctionCall(
                        id=None if _SYNTHETIC_ID.fullmatch(call.id) else call.id,
                        name=call.name,
                        args=_plain(call.arguments),
                    ),
                    thought_signature=call.signature,
                )
            )
        role = "model" if message.role == ASSISTANT else "user"
        return types.Content(role=role, parts=parts)

    # -- answers

    @staticmethod
    def _parts(answer: Any, first_call: int) -> tuple[str, list[ToolCall], bytes | None, int]:
        """``(text, tool calls, text signature, next call index)`` of one answer."""
        texts: list[str] = []
        calls: list[ToolCall] = []
        signature: bytes | None = None
        index = first_call
        candidates = answer.candidates or ()
        content = candidates[0].content if candidates else None
        for part in (content.parts if content is not None else None) or ():
            if part.function_call is not None:
                call = part.function_call
                calls.append(
                    ToolCall(
                        id=call.id or f"call_{index}",
                        name=call.name or "",
                        arguments=dict(call.args or {}),
                        signature=part.thought_signature,
                    )
                )
                index += 1
                continue
            if part.thought_signature is not None:
                signature = part.thought_signature
            if part.text and not part.thought:
                texts.append(part.text)
        return "".join(texts), calls, signature, index

    @staticmethod
    def _finish_reason(answer: Any) -> str | None:
        candidates = answer.candidates or ()
        reason = candidates[0].finish_reason if candidates else None
        if reason is None and not candidates and answer.prompt_feedback is not None:
            reason = answer.prompt_feedback.block_reason
        if reason is None:
            return None
        return str(getattr(reason, "value", reason)).lower()

    @staticmethod
    def _usage(answer: Any) -> Usage | None:
        metadata = answer.usage_metadata
        if metadata is None:
            return None
        output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
        return Usage(metadata.prompt_token_count or 0, output)

    def _response(self, answer: Any, model: str) -> Response:
        text, calls, signature, _ = self._parts(answer, 0)
        return Response(
            message=Message.assistant(text, calls, signature),
            usage=self._usage(answer) or Usage(),
            finish_reason=self._finish_reason(answer) or "stop",
            model=answer.model_version or model,
        )

    def _chunk(self, event: Any, first_call: int) -> tuple[Chunk, int, Usage | None]:
        text, calls, signature, next_call = self._parts(event, first_call)
        chunk = Chunk(
            text=text,
            tool_calls=tuple(calls),
            finish_reason=self._finish_reason(event),
            signature=signature,
        )
        return chunk, next_call, self._usage(event)

    # -- errors

    def _translate(self, exc: Exception, timeout: float, *, streaming: bool) -> ProviderError:
        """The elixirchain error for an exception raised inside an SDK call."""
        _, _, errors = _sdk()
        return translate(exc, errors, timeout=timeout, base_url=self.base_url, streaming=streaming)
