"""One chat completion through litellm, with retries: shared by the harness and the synthesizer.

Transient API errors (connection, rate limit, 5xx, timeout) are retried with exponential
backoff; what still fails raises :class:`LLMError` with one clear line, never a stack of
provider internals. litellm is told to use its bundled price list, so importing it never
reaches for the network.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

__all__ = ["LLMError", "ResponseCache", "add_usage", "complete"]


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
    """Answers on disk by (model, messages, seed): a rerun makes no call and writes identical files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def key(self, model: str, messages: list[dict[str, Any]], seed: int) -> str:
        return hashlib.sha256(json.dumps([model, messages, seed], sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.root / f"{key}.json"
        data: dict[str, Any] | None = json.loads(path.read_text()) if path.is_file() else None
        return data

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{key}.tmp"
        tmp.write_text(json.dumps(value))
        tmp.replace(self.root / f"{key}.json")


class LLMError(RuntimeError):
    """The model could not be reached or refused, after retries."""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


async def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 120.0,
    retries: int = 3,
    backoff: float = 0.5,
    seed: int | None = None,
) -> Any:
    options: dict[str, Any] = {"timeout": timeout, "num_retries": 0}
    if tools:
        options["tools"] = tools
    if api_base:
        options["api_base"] = api_base
    if api_key:
        options["api_key"] = api_key
    elif api_base and _openai_compatible(model) and not os.environ.get("OPENAI_API_KEY"):
        options["api_key"] = "no-key"  # a local OpenAI-compatible server often needs none; the client insists on one
    if seed is not None:
        options["seed"] = seed
    litellm = _litellm()
    transient = _transient(litellm)
    for attempt in range(retries + 1):
        try:
            return await litellm.acompletion(model=model, messages=messages, **options)
        except transient as exc:
            if attempt == retries:
                raise LLMError(f"{model} failed after {retries + 1} attempts: {_short(exc)}") from None
            await anyio.sleep(backoff * 2**attempt)
        except Exception as exc:  # bad model name, missing key, 4xx: retrying will not help
            raise LLMError(f"{model}: {_short(exc)}") from None
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
