"""A tokenizer with a tool-aware chat template, built here (no download), as transformers applies one.

Shared by the export tests (the hf export renders through it) and the TRL tests (tools reach the
prompt through it); it needs only transformers, so a test module that imports it skips on that alone.
"""

from __future__ import annotations

from typing import Any


def chat_template() -> Any:
    """A tokenizer built here (no download) with a tool-aware template, as transformers applies it."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    template = (
        "{% if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>{% endif %}"
        "{% for m in messages %}<{{ m.role }}>{% if m.content %}{{ m.content }}{% endif %}"
        "{% for c in m.tool_calls or [] %}<call>{{ c.function.name }} {{ c.function.arguments | tojson }}</call>{% endfor %}"
        "</{{ m.role }}>{% endfor %}"
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]")))
    tokenizer.chat_template = template
    return tokenizer
