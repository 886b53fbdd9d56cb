"""Episodes: one task, one agent, its own state, many at once in one process.

The coordinator starts an episode by restoring the task's initial snapshot into a fresh
in-memory database (a copy of bytes, not a rebuild). Every task carries its own seed (so a policy
cannot memorise one state's rows): the coordinator seeds each seed's image once, when a task of
it first starts, adds the task's distractors when it records a recipe (:mod:`..tasks.distractors`),
keeps the most recent :data:`SEED_IMAGES` images in an LRU cache keyed by the whole recipe (the
domain's own seed always), and refuses a task whose recorded sha256 is not its image's (for a task
with distractors, :func:`..tasks.distractors.recipe_sha256`: its seed's image and the rows added), or
whose recipe cannot be built, before any episode starts. It routes tool calls to that episode's
state through the runtime, keeps named snapshots inside an episode (for search and RL
branching), and verifies an episode against its task's checks. Nothing here is exposed
to the agent under test; the MCP server and the harness decide who may call what.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine.bounds import argument_problem, bounded_copy, printable
from ..engine.diff import StateDiff
from ..engine.runtime import ToolError, ToolResult, execute
from ..engine.seed import seed_state
from ..engine.state import Dormant, State
from ..errors import ScaleenvError
from ..spec.model import DomainSpec
from ..spec.task import ANSWER_CHANNELS, ANSWER_TOOL, AnswerChannel, RewardMode, TaskSpec, ToolCall
from ..tasks.channel import answer_tool, submitted_value
from ..tasks.distractors import DistractorError, build_image, recipe_key, task_recipe
from ..tasks.grader import DEFAULT_MODE, NOT_SUBMITTED, Evidence, Verification, evaluate_checks
from ..tasks.policy import PolicyMonitor

__all__ = [
    "HOT_STATES",
    "MAX_SEED",
    "MAX_SNAPSHOTS",
    "NAME",
    "SEED_IMAGES",
    "BadEpisodeRequest",
    "Coordinator",
    "CreateRequest",
    "EpisodeConflict",
    "EpisodeError",
    "EpisodeGone",
    "EpisodeUnreachable",
    "LiveEpisode",
    "TooManyEpisodes",
    "TooManySnapshots",
    "check_name",
]  # fmt: skip


class EpisodeError(ScaleenvError, LookupError):
    """An unknown episode, task or snapshot (404); the message says which and what exists. The root
    of every refusal about episodes, so ``except EpisodeError`` catches them all."""

    default_status = 404


class BadEpisodeRequest(EpisodeError, ValueError):
    """A request no episode can answer as asked (400): a task with a seed or image, a field of the wrong kind."""

    default_status = 400


class EpisodeConflict(EpisodeError):
    """A request at odds with what exists (409): an id already live, verifying an episode that has no
    task, a task made for another initial state than its seed gives."""

    default_status = 409


class EpisodeGone(EpisodeError):
    """An episode that existed but was lost (410), e.g. with a worker process that died."""

    default_status = 410


class EpisodeUnreachable(EpisodeError):
    """An episode that exists but cannot be reached now (503): its worker is restarting; try again."""

    default_status = 503


class TooManyEpisodes(EpisodeError):
    """A cap on live episodes was reached (429); ending (or idling out) some frees room."""

    default_status = 429


class TooManySnapshots(EpisodeError):
    """(429) An episode holds :data:`MAX_SNAPSHOTS` snapshots; saving under an existing name replaces one."""

    default_status = 429


NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
"""what a name on the wire may be: a task, episode, snapshot or creator name"""
MAX_SEED = 2**63
"""free-play seeds are whole numbers below this (SQLite's integers)"""


def check_name(key: str, value: Any) -> str | None:
    """``value`` if it is a name (:data:`NAME`) or None; else :class:`BadEpisodeRequest` saying which field."""
    if value is None:
        return None
    if not isinstance(value, str) or not NAME.match(value):
        raise BadEpisodeRequest(f"{key!r} must be a name of 1-64 letters, digits or _.:- (got a {type(value).__name__})")
    return value


@dataclass(frozen=True)
class CreateRequest:
    """What a new episode was asked for, checked (:meth:`Coordinator.request`): its task, or a
    free-play seed, and how a question's answer reaches the grader."""

    task: TaskSpec | None = None
    seed: int | None = None
    channel: AnswerChannel = "typed"


MAX_SNAPSHOTS = 64
"""named snapshots one episode holds at most: each is a whole copy of its state (about 100 KiB for airline)"""

HOT_STATES = 2048
"""episodes whose state is kept awake (a live SQLite connection each: the whole database and its
parsed schema, 100 to 170 KiB); the least recently used others sleep as the rows they changed
(about 2 KiB) and wake on their next use, which costs a state's start again (2 to 3 ms on airline
under load, against 0.1 to 0.3 ms for a call on an awake one)"""

SEED_IMAGES = 16
"""initial images other than the domain's own seed's kept at once (least recently used goes first):
a seed's, or a seed's with a task's distractors; each is a whole copy of a seeded state, and
seeding one again costs a few milliseconds"""

_Key = tuple[int, str]
"""an initial image's identity: the seed, and the distractor recipe in canonical JSON ("" for none)"""


@dataclass
class LiveEpisode:
    """One episode as the coordinator holds it: its task, state, policy record, calls, snapshots and
    answer (the public :class:`scaleenv_mcp.Episode` is the Python API's handle on one of these)."""

    id: str
    task: TaskSpec | None
    awake: State | None
    """the live state, or None while the episode sleeps (``dormant``)"""
    initial: bytes
    policy: PolicyMonitor
    calls: list[ToolCall] = field(default_factory=list)
    snapshots: dict[str, tuple[bytes, dict[tuple[str, str], Any], PolicyMonitor, int, Any]] = field(default_factory=dict)
    channel: AnswerChannel = "typed"
    """how the task's answer reaches the grader: the answer tool (typed) or the final message (prose)"""
    submitted: Any = NOT_SUBMITTED
    """the value the agent gave through the answer tool"""
    dormant: Dormant | None = None
    """what the episode changed, while it sleeps"""
    waker: Callable[[LiveEpisode], State] | None = field(default=None, repr=False)
    """wakes this episode (and puts the least recently used one to sleep): set by its coordinator"""

    @property
    def state(self) -> State:
        """The episode's state, woken if it slept."""
        if self.waker is not None:
            return self.waker(self)
        if self.awake is None:
            raise EpisodeError(f"episode {self.id!r} is asleep and has no coordinator to wake it")
        return self.awake

    @property
    def answer_tool(self) -> dict[str, Any] | None:
        """The task-scoped answer tool this episode lists, if any (typed channel, a task that asks)."""
        return answer_tool(self.task) if self.channel == "typed" else None


class Coordinator:
    """Many isolated episodes of one domain."""

    def __init__(
        self,
        spec: DomainSpec,
        tasks: Iterable[TaskSpec] = (),
        *,
        initial: State | bytes | None = None,
        max_episodes: int = 100_000,
        max_snapshots: int = MAX_SNAPSHOTS,
        hot_states: int = HOT_STATES,
    ) -> None:
        self.spec = spec
        self.tasks = {t.id: t for t in tasks}
        if isinstance(initial, bytes):
            self.initial_image = initial
        else:
            seeded = initial if initial is not None else seed_state(spec)
            self.initial_image = seeded.snapshot()
        self.initial_sha256 = hashlib.sha256(self.initial_image).hexdigest()
        self._images: OrderedDict[_Key, bytes] = OrderedDict()
        """other initial images (other seeds, distractor recipes), least recently used first"""
        self._shas: dict[_Key, str] = {(spec.seed, ""): self.initial_sha256}
        """each image's sha256, computed when a task of that seed and recipe first starts"""
        for task in self.tasks.values():
            if self._key(task) == (spec.seed, ""):
                self._check(task, self.initial_sha256)
        self.episodes: dict[str, LiveEpisode] = {}
        if hot_states < 1:
            raise ValueError(f"hot_states must be at least 1, not {hot_states}")
        self.hot_states = hot_states
        self._hot: OrderedDict[str, None] = OrderedDict()
        """ids of the episodes whose state is awake, least recently used first"""
        self.max_episodes = max_episodes
        self.max_snapshots = max_snapshots
        self._ids = itertools.count(1)

    def task_seed(self, task: TaskSpec) -> int:
        """The seed a task's initial state was made from (the domain's for tasks that name none)."""
        seed = task.initial_state.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else self.spec.seed

    def _key(self, task: TaskSpec) -> _Key:
        return self.task_seed(task), recipe_key(task.initial_state)

    def _cached(self, key: _Key) -> bytes | None:
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
        return image

    def _keep(self, key: _Key, image: bytes) -> bytes:
        self._images[key] = image
        if len(self._images) > SEED_IMAGES:
            self._images.popitem(last=False)
        return image

    def image(self, seed: int) -> bytes:
        """The initial image of the domain seeded with ``seed``, seeded once and cached (LRU)."""
        if seed == self.spec.seed:
            return self.initial_image
        return self._cached((seed, "")) or self._keep((seed, ""), _seeded(self.spec, seed))

    def task_image(self, task: TaskSpec) -> bytes:
        """The task's initial image (its seed's, with its distractors when it records a recipe),
        checked against the sha256 the task records; the first task of a seed and recipe also checks
        every other task of them in this coordinator's set. A recipe that is malformed or cannot be
        built is an :class:`EpisodeError` that says why."""
        key = self._key(task)
        try:
            recipe = task_recipe(self.spec, task.initial_state)
        except DistractorError as exc:
            raise EpisodeError(f"task {task.id}: {exc}") from None
        if recipe is None:
            image = self.image(key[0])
        else:
            image = self._cached(key) or b""
            if not image:
                base = self.image(key[0])
                bare = (key[0], "")
                if bare not in self._shas:
                    self._shas[bare] = hashlib.sha256(base).hexdigest()
                try:
                    built, self._shas[key] = build_image(self.spec, base, recipe, self._shas[bare])
                except DistractorError as exc:
                    raise EpisodeError(f"task {task.id}: {exc}") from None
                image = self._keep(key, built)
        sha = self._shas.get(key)
        if sha is None:
            sha = self._shas[key] = hashlib.sha256(image).hexdigest()  # once per image, kept past its eviction
            for other in self.tasks.values():
                if self._key(other) == key:
                    self._check(other, sha)
        self._check(task, sha)
        return image

    @staticmethod
    def _check(task: TaskSpec, sha256: str) -> None:
        if task.initial_state.get("sha256") not in (None, sha256):
            made = "its seed and distractor recipe give" if "distractors" in task.initial_state else "its seed gives"
            raise EpisodeConflict(
                f"task {task.id} was made for another initial state ({str(task.initial_state.get('sha256', ''))[:12]}) "
                f"than {made} (seed {task.initial_state.get('seed')}: {sha256[:12]}); regenerate the tasks with `scaleenv synth`"
            )

    def fresh(self) -> Coordinator:
        """An empty coordinator with the same domain, tasks and initial state (no re-seeding)."""
        return Coordinator(
            self.spec, self.tasks.values(), initial=self.initial_image, max_episodes=self.max_episodes, max_snapshots=self.max_snapshots,
            hot_states=self.hot_states,
        )

    def task(self, task_id: str) -> TaskSpec:
        try:
            return self.tasks[task_id]
        except KeyError:
            sample = ", ".join(list(self.tasks)[:5]) or f"none (run `scaleenv synth {self.spec.name}`)"
            raise EpisodeError(f"unknown task {task_id!r} in {self.spec.name}; e.g. {sample}") from None

    def request(self, task: object = None, seed: object = None, channel: object = "typed") -> CreateRequest:
        """The one check of a request for a new episode, whichever path it came by (HTTP or stdio
        control, NeMo Gym, an MCP server's task, the Python API), so each refuses it alike.

        ``task``: a task id of this domain or a task given whole; ``seed``: a free-play seed (never
        with a task, which fixes its own state); ``channel``: ``typed`` or ``prose``. Fields of the
        wrong kind are :class:`BadEpisodeRequest` (400), an unknown task :class:`EpisodeError` (404)."""
        task_id = task if isinstance(task, TaskSpec) else check_name("task", task)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED):
            raise BadEpisodeRequest(f"'seed' must be a whole number from 0 to 2**63-1 (got {str(seed)[:40]!r})")
        if channel not in ANSWER_CHANNELS:
            raise BadEpisodeRequest(f"'answer_channel' must be one of {', '.join(ANSWER_CHANNELS)} (got {str(channel)[:40]!r})")
        if task_id is not None and seed is not None:
            raise BadEpisodeRequest("a task fixes its initial state; 'seed' is for free play (leave out 'task')")
        spec = task_id if isinstance(task_id, TaskSpec) else self.task(task_id) if task_id is not None else None
        return CreateRequest(spec, seed, "prose" if channel == "prose" else "typed")

    def start(
        self,
        task_id: str | TaskSpec | CreateRequest | None = None,
        episode_id: str | None = None,
        *,
        seed: int | None = None,
        channel: AnswerChannel = "typed",
    ) -> LiveEpisode:
        """A new episode on the task's initial state (its seed's image), or without a task on the
        domain's seeded state or that of ``seed``; the request is checked by :meth:`request` unless
        it is given already checked (a :class:`CreateRequest`).

        A task may be given whole rather than by id (a freshly generated one, outside this
        coordinator's set: it is checked against its seed's image all the same, and not kept).
        ``channel`` says how an information task's answer reaches the grader (``typed``: the answer tool)."""
        asked = task_id if isinstance(task_id, CreateRequest) else self.request(task_id, seed, channel)
        task, channel = asked.task, asked.channel
        if task is not None:
            image = self.task_image(task)
        else:
            image = self.image(asked.seed) if asked.seed is not None else self.initial_image
        episode_id = episode_id or f"ep-{next(self._ids)}"
        if episode_id in self.episodes:
            raise EpisodeConflict(f"episode {episode_id!r} already exists")
        if len(self.episodes) >= self.max_episodes:
            raise TooManyEpisodes(f"too many live episodes ({self.max_episodes}); end some first")
        state = State.from_snapshot(self.spec, image)
        state.track()
        policy = PolicyMonitor(self.spec, task.actor if task is not None else None)
        episode = LiveEpisode(episode_id, task, state, image, policy, channel=channel, waker=self._wake)
        self.episodes[episode_id] = episode
        self._wake(episode)
        return episode

    def _wake(self, episode: LiveEpisode) -> State:
        """The episode's live state (woken if it slept); past :attr:`hot_states` awake, the least
        recently used other episode goes to sleep. Calls run one at a time on the event loop, so no
        state is put to sleep while in use."""
        state = episode.awake
        if state is None:
            assert episode.dormant is not None
            state = episode.awake = State.wake(self.spec, episode.initial, episode.dormant)
            episode.dormant = None
        self._hot[episode.id] = None
        self._hot.move_to_end(episode.id)
        while len(self._hot) > self.hot_states:
            victim = self.episodes.get(self._hot.popitem(last=False)[0])
            if victim is not None and victim.awake is not None:
                victim.dormant, victim.awake = victim.awake.sleep(), None
        return state

    @property
    def awake(self) -> int:
        """Episodes whose state is awake (at most :attr:`hot_states`)."""
        return len(self._hot)

    def episode(self, episode_id: str) -> LiveEpisode:
        try:
            return self.episodes[episode_id]
        except KeyError:
            raise EpisodeError(f"unknown episode {episode_id!r}") from None

    def call(self, episode_id: str, tool: str, arguments: Any) -> ToolResult:
        episode = self.episode(episode_id)
        if tool == ANSWER_TOOL and episode.answer_tool is not None:
            return self._submit(episode, arguments)
        # arguments past the bounds are refused by execute at a bounded cost; the policy monitor must not read them first
        spec_tool = self.spec.tools.get(tool) if isinstance(tool, str) else None
        sound = spec_tool is not None and isinstance(arguments, dict) and argument_problem(arguments, spec_tool.params) is None
        state = episode.state  # woken once for the call
        with state.reading_once():  # the monitor reads the rows the call reads: SQLite is asked once
            touched = episode.policy.touched_before(state, tool, arguments) if sound else []
            result = execute(state, tool, arguments)
            episode.policy.observe(state, str(tool), result, touched)
        logged = arguments if sound else bounded_copy(arguments) if isinstance(arguments, Mapping) else {}  # the listing stays small
        episode.calls.append(ToolCall(tool=printable(str(tool)), arguments=logged))
        return result

    def _submit(self, episode: LiveEpisode, arguments: Any) -> ToolResult:
        """The answer tool: one typed answer per episode, acknowledged without saying if it is right."""
        episode.calls.append(ToolCall(tool=ANSWER_TOOL, arguments=bounded_copy(arguments) if isinstance(arguments, Mapping) else {}))
        if episode.submitted is not NOT_SUBMITTED:
            return ToolResult(False, error=ToolError("precondition_failed", "An answer was already submitted; it cannot be changed."))
        problem = argument_problem(arguments) if isinstance(arguments, Mapping) else None  # size, depth, unencodable text
        ok, value = (False, problem) if problem is not None else submitted_value(episode.task, arguments)
        if not ok:
            return ToolResult(False, error=ToolError("invalid_arguments", str(value)))
        episode.submitted = value
        return ToolResult(True, data={"recorded": True, "answer": value})

    def snapshot(self, episode_id: str, name: str | None = None) -> str:
        """Save the episode's current state under a name (returned); restore it any number of times."""
        episode = self.episode(episode_id)
        name = name or f"s{len(episode.snapshots) + 1}"
        if name not in episode.snapshots and len(episode.snapshots) >= self.max_snapshots:
            raise TooManySnapshots(
                f"episode {episode_id!r} holds {len(episode.snapshots)} snapshots, the cap; save under a name it already has "
                f"({', '.join(sorted(episode.snapshots)[:5])}, ...) to replace that one"
            )
        episode.snapshots[name] = (
            episode.state.snapshot(), episode.state.journal(), episode.policy.copy(), len(episode.calls), episode.submitted
        )
        return name

    def restore(self, episode_id: str, name: str) -> None:
        episode = self.episode(episode_id)
        if name not in episode.snapshots:
            raise EpisodeError(f"episode {episode_id!r} has no snapshot {name!r}; it has {sorted(episode.snapshots)}")
        image, journal, policy, calls, episode.submitted = episode.snapshots[name]
        episode.state.restore(image)
        episode.state.set_journal(journal)
        episode.policy = policy.copy()  # the branch abandoned since the snapshot leaves no trace
        del episode.calls[calls:]

    def reset(self, episode_id: str) -> None:
        """Back to the episode's initial state; costs what the episode changed, not the state's size."""
        episode = self.episode(episode_id)
        episode.state.reset()
        episode.calls.clear()
        episode.submitted = NOT_SUBMITTED
        episode.policy = PolicyMonitor(self.spec, episode.policy.actor_id)

    def diff(self, episode_id: str) -> StateDiff:
        """What the episode changed, from its journal."""
        return self.episode(episode_id).state.changes()

    def verify(self, episode_id: str, answer: str | None = None, *, mode: RewardMode = DEFAULT_MODE) -> Verification:
        """Reward (in ``mode``; every mode is reported), per-check detail and policy violations."""
        episode = self.episode(episode_id)
        if episode.task is None:
            raise EpisodeConflict(f"episode {episode_id!r} has no task to verify against")
        evidence = Evidence(message=answer, submitted=episode.submitted, read=episode.policy.read, channel=episode.channel)
        return evaluate_checks(
            episode.task.checks, episode.state.changes(), episode.state, violations=episode.policy.violations, mode=mode, evidence=evidence
        )

    def end(self, episode_id: str) -> None:
        episode = self.episode(episode_id)
        if episode.awake is not None:
            episode.awake.close()
        episode.awake = episode.dormant = None
        self._hot.pop(episode_id, None)
        del self.episodes[episode_id]


def _seeded(spec: DomainSpec, seed: int) -> bytes:
    """The image of the domain seeded with ``seed``."""
    state = seed_state(spec, seed=seed)
    try:
        return state.snapshot()
    finally:
        state.close()
