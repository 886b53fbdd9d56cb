"""Tasks as data: an instruction, an initial state, checks and a verified reference solution."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal, get_args

from pydantic import Field

from .model import StrictModel

__all__ = [
    "ANSWER_CHANNELS",
    "ANSWER_TOOL",
    "REWARD_MODES",
    "TRAITS",
    "AnswerChannel",
    "AnswerType",
    "ChangeOfMind",
    "CheckKind",
    "CheckSpec",
    "RewardMode",
    "TaskKind",
    "TaskSpec",
    "ToolCall",
    "Trait",
    "UserScript",
    "load_tasks",
    "opening_message",
    "tasks_jsonl",
]


class ToolCall(StrictModel):
    """One call of a tool: a step of a reference solution or of a trajectory."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


CheckKind = Literal[
    "row_exists", "row_absent", "field_equals", "field_changed_by", "no_other_changes", "answer", "row_read", "not_claimed", "reason"
]
TextCompare = Literal["exact", "normalized", "contains"]
AnswerType = Literal["date", "datetime", "money", "number", "boolean", "enum", "text", "code", "phone", "list"]
REWARD_MODES = ("fraction", "binary", "product")
RewardMode = Literal["fraction", "binary", "product"]
ANSWER_CHANNELS = ("typed", "prose")
AnswerChannel = Literal["typed", "prose"]
"""How an information task's answer reaches the grader: ``typed``, a task-scoped answer tool whose
input is the answer's type, graded by equality (for training); ``prose``, the agent's final
message, read by the hardened prose grader (for conversation)."""
ANSWER_TOOL = "submit_answer"
"""The task-scoped answer tool: listed only in task episodes on the typed channel."""


class CheckSpec(StrictModel):
    """A declarative assertion on the end state (or on the agent's final answer).

    - ``row_exists``: a row of ``entity`` that did not exist initially, whose fields equal
      ``where`` and whose references in ``links`` point at the new rows matched by the named
      earlier ``row_exists`` checks (new rows are matched by content, so their generated ids may
      differ, but never by content alone when they hang off another new row).
    - ``row_absent``: the row ``entity``/``id`` no longer exists.
    - ``field_equals``: ``entity``/``id``.``field`` equals ``value`` (same type; money to the cent).
    - ``field_changed_by``: numeric ``entity``/``id``.``field`` changed by ``delta`` from the initial state.
    - ``no_other_changes``: nothing changed beyond what the other checks of the task name. It is a
      gate, not a point: when it fails, every reward mode pays 0.
    - ``answer``: the agent's answer is ``value`` (of ``answer_type``): the one value it submitted
      through the answer tool (typed channel), or the one candidate of that type its final message
      asserts (prose channel); ``choices`` are the other values it could assert, ``subject`` the words asked about.
    - ``row_read``: a successful call showed the agent the row ``entity``/``id`` (the row that
      decides a refusal): a refusal is paid for looking, not for guessing.
    - ``not_claimed``: a gate: the final message does not claim that the refused action (``subject``:
      its verbs) was done; ``choices``: the verbs of what the conversation did do (a partial refusal),
      so "all set" may be about those and only the refused action's own verbs count.
    - ``reason``: reported, never scored: the final message names the value that blocks the request
      (``entity``/``id``.``field`` is ``value``; ``choices`` are the values that would block it too).

    ``compare`` says how free text the agent writes is compared, per field of ``where`` or for
    ``field``: ``exact``, ``normalized`` (case, spacing, trailing punctuation) or ``contains``.
    """

    kind: CheckKind
    description: str
    entity: str | None = None
    id: str | None = None
    field: str | None = None
    value: Any = None
    delta: float | None = None
    where: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, int] = Field(
        default_factory=dict, description="field -> index of the row_exists check of the row it points at"
    )
    answer_type: AnswerType | None = None
    choices: list[Any] = Field(default_factory=list)
    subject: list[str] = Field(default_factory=list)
    compare: dict[str, TextCompare] = Field(default_factory=dict, description="field -> how its free text is compared")


TaskKind = Literal["action", "information", "refusal"]

Trait = Literal[
    "branching",
    "partial_refusal",
    "change_of_mind",
    "push_back",
    "compensation",
    "hidden_facts",
    "multi_goal",
    "deep_information",
]
"""What makes a conversation need judgment, beyond its kind (``tasks --stats`` reports each share
against its target):

- ``branching``: a goal decided by state the agent must look up ("if it is still pending, cancel
  it; otherwise ...");
- ``partial_refusal``: one goal done and one the policy refuses, in one conversation;
- ``change_of_mind``: the user takes the first request back at its turn (``script.change_of_mind``);
- ``push_back``: after a refusal the user pushes back once (``script.push_back``); the agent must hold;
- ``compensation``: a goodwill gesture the policy grants or withholds, asked for with a reason;
- ``hidden_facts``: two or more facts held back, each revealed only when asked for;
- ``multi_goal``: two or three goals in one conversation;
- ``deep_information``: an information task whose reference needs at least three calls.
"""
TRAITS: tuple[Trait, ...] = get_args(Trait)
"""The traits in the order reports list them (the literal's own order)."""


class ChangeOfMind(StrictModel):
    """The user first asks for something else and takes it back before it is done.

    The opening asks for ``first``; when the agent proposes doing it (a confirmation question that
    names its action), or at the user's ``turn``-th message if no proposal came earlier, the user
    says ``then`` instead of yes. ``abandoned`` are the calls the first request would have needed: an
    agent that runs them did not listen (the end-state checks and the ``no_other_changes`` gate
    already fail it; the calls are kept for reports and for the simulators)."""

    first: str = Field(..., description="the request the user makes first and then takes back")
    then: str = Field(..., description="what the user says instead, when the agent proposes the first request")
    turn: int = Field(2, ge=1, description="the user's message at which they change their mind if no proposal came")
    abandoned: list[ToolCall] = Field(default_factory=list, description="the first request's write calls (never shown)")


class UserScript(StrictModel):
    """How the user plays the conversation: who they are, why they call, and the turns that test the
    agent. The scripted user follows it; an LLM user gets it as its instructions. Facts held back are
    the task's ``hidden``; the first message is its ``opening`` (else its ``instruction``)."""

    persona: str = Field(..., description="who the user is and how they talk ('a retired teacher, polite and unhurried')")
    reason: str = Field(..., description="why they are calling, in their words; said in the opening")
    change_of_mind: ChangeOfMind | None = None
    push_back: str | None = Field(
        default=None, description="said once, the first time the agent declines a request; the user then accepts the answer"
    )


class TaskSpec(StrictModel):
    """An instruction, its initial state, its checks, and a verified reference solution."""

    id: str
    domain: str
    kind: TaskKind = Field(
        ..., description="refusal: the user asks for what a rule forbids; success is no change and a reply that gives the reason"
    )
    instruction: str
    user: dict[str, Any] = Field({}, description="facts the user knows and may reveal (name, email, ...)")
    initial_state: dict[str, Any] = Field(..., description="how to rebuild it: {'seed': N, 'sha256': ...}")
    checks: list[CheckSpec]
    solution: list[ToolCall]
    difficulty: dict[str, int]
    actor: str | None = Field(None, description="id of the user the agent acts for (policy checks); never shown to the agent")
    opening: str | None = Field(
        None, description="what the user says first when some facts are held back (the agent is shown this, not the instruction)"
    )
    hidden: dict[str, str] = Field(
        {}, description="facts the user reveals only when asked: what it is about ('email') -> the sentence that gives it"
    )
    refused: ToolCall | None = Field(
        None, description="a refusal's request as a call: what an agent that obeys would run (never shown to the agent)"
    )
    decides: str | None = Field(
        None,
        description=(
            "the write tool whose agent-kept rule this task puts to the agent: refused here (a refusal), or allowed "
            "(its counterpart); a tool's refusals and counterparts are equal in number, so always refusing or always "
            "obeying earns at most half of them"
        ),
    )
    script: UserScript | None = Field(default=None, description="how the user plays the conversation (never shown to the agent)")
    traits: list[Trait] = Field(default_factory=list, description="what makes the conversation need judgment (see Trait)")


_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|good (?:morning|afternoon|evening))\b(?:[^.!?]|[.!?](?!\s|$))*[.!?](?=\s|$)\s*", re.IGNORECASE
)
"""a first sentence that greets ("Hi, I'm Rosa Zhang; my email is rzhang@letterly.io."): a dot inside a word does not end it"""


def _plain_words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def opening_message(task: TaskSpec) -> str:
    """What the user says first, the one text both a scripted user and an MCP agent's ``task`` prompt
    give: the ``opening`` (else the ``instruction``), with the script's reason for calling said in it.

    A reason the opening does not already say (compared by words, ignoring case and punctuation) is
    added as one sentence after a leading greeting ("Hi, I'm Rosa Zhang.") or else at the start, so
    the agent hears why the user calls as a person would say it. Nothing else of the script (the
    persona, the change of mind, the push back) is ever part of it."""
    text = task.opening or task.instruction
    reason = task.script.reason.strip() if task.script is not None else ""
    if not _plain_words(reason) or _plain_words(reason) in _plain_words(text):
        return text
    sentence = reason[0].upper() + reason[1:]
    if sentence[-1] not in ".!?":
        sentence += "."
    greeting = _GREETING.match(text)
    cut = greeting.end() if greeting else 0
    return f"{text[:cut]}{sentence} {text[cut:].lstrip()}".strip()


def tasks_jsonl(tasks: Iterable[TaskSpec]) -> str:
    """Tasks as JSON lines, in order (the stored form under ``manifests/``)."""
    return "".join(json.dumps(t.model_dump(mode="json"), ensure_ascii=False) + "\n" for t in tasks)


def load_tasks(text: str) -> Iterator[TaskSpec]:
    for line in text.splitlines():
        if line.strip():
            yield TaskSpec.model_validate_json(line)
