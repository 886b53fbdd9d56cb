"""One chat completion through litellm, with retries: shared by the harness and the synthesizer.

Transient API errors (connection, rate limit, 5xx, timeout) are retried with exponential
backoff; what still fails raises :class:`LLMError` with one clear line, never a stack of
provider internals. A refused or missing API key is never retried: it raises
:class:`LLMAuthError`, which names the environment variable to set, and an evaluation stops on
it instead of failing every episode the same way. litellm is told to use its bundled price list, so importing it never
reaches for the network.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

from .errors import ScaleenvError

__all__ = ["LLMAuthError", "LLMError", "ModelOptions", "ResponseCache", "add_usage", "auth_failure", "complete"]


@dataclass(frozen=True)
class ModelOptions:
    """How a model is reached, as one value: the evaluation's agent and simulated user, the
    synthesizer and the paraphraser take this instead of the same five parameters each (the model's
    name travels beside it: one endpoint may serve several). Frozen, so it is safe to share and to
    send to Ray workers."""

    api_base: str | None = None
    """an OpenAI-compatible endpoint (vLLM, SGLang, a proxy); None: the provider's own"""
    api_key: str | None = None
    """None: the provider's environment variable (``OPENAI_API_KEY``, ...)"""
    timeout: float = 120.0
    """seconds per request"""
    retries: int = 3
    """retries of a transient failure (connection, rate limit, 5xx, timeout)"""
    backoff: float = 0.5
    """seconds before the first retry, doubled each time"""

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError(f"model options: timeout must be positive and retries, backoff at least 0 (got {self})")


def _litellm() -> ModuleType:
    """litellm, imported on first use: it takes seconds to import, and serving never needs it."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _transient(litellm: ModuleType) -> tuple[type[BaseException], ...]:
    errors = litellm.exceptions
    return (
        errors.APIConnectionError,
        errors.RateLimitError,
        errors.ServiceUnavailableError,
        errors.InternalServerError,
        errors.Timeout,
    )


class ResponseCache:
    """Answers on disk by (endpoint, model, messages, seed): a rerun makes no call and writes identical files.

    The endpoint is part of the key because two servers behind one model name are two models: an
    answer from endpoint A must never stand in for endpoint B (a dead B must fail as B). Only
    answers are stored, never failures: an error raises before :meth:`put`, and an empty reply (what
    a failing proxy often sends) is refused, so a failure cannot be served from the cache later.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def key(self, model: str, messages: list[dict[str, Any]], seed: int, *, api_base: str | None) -> str:
        """The cache key; with no ``api_base`` (the provider's own endpoint) it is the key earlier
        versions used, so caches made before the endpoint was part of the key stay valid."""
        parts: list[Any] = [model, messages, seed] if not api_base else [model, api_base.rstrip("/"), messages, seed]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.root / f"{key}.json"
        try:
            data = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):  # a damaged entry is a miss, not a crash
            return None
        if not isinstance(data, dict) or not str(data.get("text") or "").strip():
            return None  # an empty answer is a failure, never served
        return data

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store an answer; an empty one is not stored (see the class docstring)."""
        if not str(value.get("text") or "").strip():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{key}.tmp"
        tmp.write_text(json.dumps(value))
        tmp.replace(self.root / f"{key}.json")


class LLMError(ScaleenvError, RuntimeError):
    """The model could not be reached or refused, after retries."""

    default_status = 502


_AUTH_MARK = "authentication failed: set "
_PROVIDER_SAID = "; the provider said: "


class LLMAuthError(LLMError):
    """The provider refused the API key, or none was given: retrying, or running more episodes, cannot help."""

    default_status = 401

    def __init__(self, model: str, variable: str, reason: str) -> None:
        self.model, self.variable, self.provider_reason = model, variable, reason
        super().__init__(f"{model}: {_AUTH_MARK}{variable} (or pass --api-key){_PROVIDER_SAID}{reason}")


def auth_failure(message: str) -> str | None:
    """The advice of an :class:`LLMAuthError` found in ``message`` ("MODEL: authentication failed: set
    VARIABLE (or pass --api-key)"), or None for any other failure. An episode's recorded fault carries
    the error's text, not the error, so this is how an evaluation recognises one."""
    if _AUTH_MARK not in message:
        return None
    return message.split(_PROVIDER_SAID, 1)[0].rsplit("llm_error: ", 1)[-1]


def _key_variable(litellm: ModuleType, model: str, api_base: str | None) -> str:
    """The environment variable litellm reads the key of ``model`` from (OPENAI_API_KEY for a
    local OpenAI-compatible endpoint)."""
    if api_base and _openai_compatible(model):
        return "OPENAI_API_KEY"
    try:
        missing = litellm.validate_environment(model).get("missing_keys") or []
        if missing:
            return str(missing[0])
        provider = str(litellm.get_llm_provider(model)[1])
    except Exception:  # an unknown provider: name the usual variable of the model's prefix
        provider = model.split("/", 1)[0] if "/" in model else "openai"
    return f"{provider.upper()}_API_KEY"


def _is_auth(litellm: ModuleType, exc: BaseException) -> bool:
    """A 401, or a client that refused to send a request without a key (litellm reports the OpenAI
    client's "Missing credentials" as a 500, which would otherwise be retried)."""
    if isinstance(exc, litellm.exceptions.AuthenticationError) or getattr(exc, "status_code", None) == 401:
        return True
    text = str(exc).lower()
    return "missing credentials" in text or ("api key" in text and "missing" in text)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


async def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    options: ModelOptions | None = None,
    seed: int | None = None,
) -> Any:
    """One completion of ``model`` reached as ``options`` say; :class:`LLMError` once retries are spent."""
    reach = options or ModelOptions()
    api_base, api_key, retries, backoff = reach.api_base, reach.api_key, reach.retries, reach.backoff
    request: dict[str, Any] = {"timeout": reach.timeout, "num_retries": 0}
    if tools:
        request["tools"] = tools
    if api_base:
        request["api_base"] = api_base
    if api_key:
        request["api_key"] = api_key
    elif api_base and _openai_compatible(model) and not os.environ.get("OPENAI_API_KEY"):
        request["api_key"] = "no-key"  # a local OpenAI-compatible server often needs none; the client insists on one
    if seed is not None:
        request["seed"] = seed
    litellm = _litellm()
    transient = _transient(litellm)
    where = f"{model} at {api_base}" if api_base else model  # which endpoint failed, when one was named
    for attempt in range(retries + 1):
        try:
            return await litellm.acompletion(model=model, messages=messages, **request)
        except Exception as exc:
            if _is_auth(litellm, exc):
                raise LLMAuthError(model, _key_variable(litellm, model, api_base), _short(exc)) from None
            if not isinstance(exc, transient):
                raise LLMError(f"{where}: {_short(exc)}") from None  # bad model name, 4xx: retrying will not help
            if attempt == retries:
                raise LLMError(f"{where} failed after {retries + 1} attempts: {_short(exc)}") from None
            await anyio.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")



def _openai_compatible(model: str) -> bool:
    return "/" not in model or model.startswith(("openai/", "hosted_vllm/", "openai_like/"))


def add_usage(response: Any, tokens: dict[str, int]) -> float | None:
    """Add a response's token usage to ``tokens``; return its cost when litellm knows the price."""
    usage = getattr(response, "usage", None)
    if usage is not None:
        tokens["prompt"] += int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens["completion"] += int(getattr(usage, "completion_tokens", 0) or 0)
    try:
        return float(_litellm().completion_cost(completion_response=response))
    except Exception:  # unknown model price: cost is simply not reported
        return None
