"""Tasks and trajectories as a Hugging Face ``datasets`` folder with a dataset card, ready to publish.

``scaleenv export tasks|trajectories --to hf-dataset --out DIR`` writes what
``DatasetDict.save_to_disk`` writes (``dataset_dict.json`` and one folder of Arrow files per
split) plus ``README.md``: a dataset card whose YAML header is what the Hub and
``huggingface_hub.DatasetCard`` read (license, task categories, size, the configs and their
splits with features and counts, the source domains) and whose text says how the records were
made, how they were split and how rewards are computed. ``datasets.load_from_disk(DIR)`` loads
the folder; pushed to the Hub as it is, ``load_dataset(REPO, "prompts")`` loads each config from
the same Arrow files, because the card's ``configs`` point at them.

Splits are only the ones that exist. The task dataset has two configs, one per kind of record:
``prompts`` (what the policy sees) and ``grading`` (checks, reference solutions, the user's facts:
what the reward side needs and the policy must never see), with the columns of :mod:`.tasks`, so
nothing that grades is in ``prompts``; the two have different columns. Each config has the
``train``, ``validation`` and ``test`` splits its tasks fall in (by the seed of each task's
state, and ``test`` for held-out domains), saved as folders ``prompts-train``, ``grading-test``, ... Trajectories are one kind of
record, one split, ``trajectories``; the card says so rather than calling it ``train``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._version import __version__
from ..compiler.pipeline import HELD_OUT_DOMAINS, SHIPPED_SEEDS, SPLIT
from ..serving.server import openai_tools
from ..spec.model import DomainSpec
from ..spec.task import TaskSpec
from .tasks import grading_row, prompt_row, task_features
from .trajectories import ExportError, Trajectory, hf_features, hf_row

__all__ = ["LICENSE", "HfDataset", "write_task_dataset", "write_trajectory_dataset"]

LICENSE = "apache-2.0"  # the project's license (LICENSE), as the Hub spells it; the generated data is the project's output
REPOSITORY = "https://github.com/scaleenv/scaleenv-mcp"
TAGS = ["tool-use", "function-calling", "agents", "mcp", "synthetic", "scaleenv"]


@dataclass(frozen=True)
class HfDataset:
    """What was written: the folder, each split's row count, and the card's path."""

    path: Path
    splits: dict[str, int]
    card: Path


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ExportError("--to hf-dataset needs the `datasets` package: pip install 'scaleenv-mcp[export]'") from None
    datasets.disable_progress_bars()  # a file write, not a long job: no bar in the CLI's output
    return datasets


TASK_SPLITS = ("train", "validation", "test")


def write_task_dataset(domains: Sequence[tuple[DomainSpec, Sequence[TaskSpec]]], out: Path) -> HfDataset:
    """The tasks of ``domains`` as ``prompts`` and ``grading`` configs, each split into train,
    validation and test by the task's seed (only the splits that have tasks), with a card."""
    datasets = _datasets()
    prompts = [prompt_row(spec, task, openai_tools(spec, task)) for spec, tasks in domains for task in tasks]
    grading = [grading_row(spec, task) for spec, tasks in domains for task in tasks]
    if not prompts:
        raise ExportError("these domains have no tasks; nothing written (run `scaleenv synth` first)")
    prompt_features, grading_features = task_features(datasets)
    splits: dict[str, Any] = {}
    configs: dict[str, dict[str, str]] = {"prompts": {}, "grading": {}}
    for config, rows, features in (("prompts", prompts, prompt_features), ("grading", grading, grading_features)):
        for split in TASK_SPLITS:
            part = [r for r in rows if r["split"] == split]
            if part:
                splits[f"{config}-{split}"] = datasets.Dataset.from_list(part, features=features)
                configs[config][split] = f"{config}-{split}"
    card = _task_card(domains, splits, configs, datasets)
    return _save(datasets, splits, card, out)


def write_trajectory_dataset(
    trajectories: Iterable[Trajectory], runs: Sequence[Path], out: Path, *, filters: Sequence[str] = ()
) -> HfDataset:
    """Eval trajectories (the ``hf`` rows: messages with arguments as objects, tools, reward) as one
    ``trajectories`` split, with a card naming the runs they came from and the ``filters`` applied
    (as given on the command line, e.g. ``--success-only``)."""
    datasets = _datasets()
    kept = list(trajectories)
    if not kept:
        raise ExportError("no episode passed the filter; nothing written")
    rows = [hf_row(t) for t in kept]
    splits = {"trajectories": datasets.Dataset.from_list(rows, features=hf_features(datasets))}
    card = _trajectory_card(kept, runs, splits, datasets, filters)
    return _save(datasets, splits, card, out)


def _save(datasets: Any, splits: dict[str, Any], card: str, out: Path) -> HfDataset:
    """Write into a fresh sibling folder and swap it in, so a failed export leaves the old one whole
    and a new export never keeps a split an old one had. A non-empty folder that is not an earlier
    dataset export is refused: its files would be deleted."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "dataset_dict.json").is_file())):
        raise ExportError(f"{out} exists and is not a dataset folder written by this command; pass another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's folder is private; the dataset is meant to be shared
        datasets.DatasetDict(splits).save_to_disk(str(staging))
        (staging / "README.md").write_text(card, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return HfDataset(out, {name: len(ds) for name, ds in splits.items()}, out / "README.md")


def _size_category(rows: int) -> str:
    """The Hub's size bucket for a row count."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def _metadata(splits: dict[str, Any], configs: dict[str, dict[str, str]], datasets: Any, **extra: Any) -> dict[str, Any]:
    """The card's YAML: the Hub's keys, plus ``configs`` (config -> split -> saved folder) pointing
    at the saved Arrow files and ``dataset_info`` (features, split sizes) as ``datasets`` writes
    them when it pushes."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    infos = {}
    for config, names in configs.items():
        split_dict = SplitDict()
        for name, folder in names.items():
            split_dict.add(SplitInfo(name=name, num_bytes=splits[folder].data.nbytes, num_examples=len(splits[folder])))
        infos[config] = DatasetInfo(features=splits[next(iter(names.values()))].features, splits=split_dict)
    data = DatasetCardData(
        license=LICENSE,
        language=["en"],
        pretty_name=extra.pop("pretty_name"),
        size_categories=[_size_category(max(len(ds) for ds in splits.values()))],
        task_categories=extra.pop("task_categories"),
        tags=TAGS,
        **extra,
    )
    DatasetInfosDict(infos).to_dataset_card_data(data)
    MetadataConfigs(
        {config: {"data_files": [{"split": n, "path": f"{folder}/data-*.arrow"} for n, folder in names.items()]}
         for config, names in configs.items()}
    ).to_dataset_card_data(data)
    metadata: dict[str, Any] = data.to_dict()  # type: ignore[no-untyped-call]  # huggingface_hub leaves it unannotated
    return metadata


def _card(metadata: dict[str, Any], body: str) -> str:
    header = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{header}---\n\n{body.strip()}\n"


_REWARDS = """\
## How rewards are computed

A reward is decided by what the agent did, on the episode's own seeded state: the end state, the
calls it made, the rows it was shown and the answer it submitted (never by its words alone). Each
task's checks are derived from executing its reference solution on a fork of the initial state:

- **goals**: a field equals a value (money to the cent), a number moved by an amount, a new row
  exists with given fields and links, a row was removed, a typed answer equals the expected value,
  and for a refusal that the agent read the row that decides it;
- **gates**, which pay nothing unless they hold: nothing else changed, a refusal's reply does not
  claim the refused action was done, and the policy was kept (no write or read of a user's records
  before the user is identified, no write to another user's rows, no broken agent-kept rule; a
  violation counts when it happens, even if undone later).

Three reward modes are computed for every episode: `fraction` (the default: the share of goals
passed, times the gates), `binary` (1 only when every goal and gate passes) and `product` (the
product over components of each one's share, times the gates). Success is the same in every mode.
Doing nothing earns 0 on every task. A task was kept only if its checks pass on the reference end
state, fail on the initial state, and every write of the reference is needed."""


def _task_card(
    domains: Sequence[tuple[DomainSpec, Sequence[TaskSpec]]], splits: dict[str, Any], configs: dict[str, dict[str, str]], datasets: Any
) -> str:
    names = [spec.name for spec, _ in domains]
    kinds = Counter(task.kind for _, tasks in domains for task in tasks)
    metadata = _metadata(
        splits, configs, datasets,
        pretty_name=f"scaleenv-mcp tasks ({', '.join(names)})" if len(names) <= 3 else f"scaleenv-mcp tasks ({len(names)} domains)",
        task_categories=["reinforcement-learning", "text-generation"],
        source_domains=names,
        scaleenv={"version": __version__, "record_kinds": {"prompts": "what the policy sees", "grading": "what the reward side needs"},
                  "split": {"by": "seed", "cycle": SHIPPED_SEEDS, "offsets": {k: list(v) for k, v in SPLIT.items()},
                            "held_out_domains": list(HELD_OUT_DOMAINS)},
                  "domains": {spec.name: {"version": spec.version, "spec_sha256": spec.content_hash(), "tasks": len(tasks)}
                              for spec, tasks in domains}},
    )  # fmt: skip
    table = "\n".join(
        f"| {spec.name} | {spec.version} | `{spec.content_hash()[:12]}` | {len(tasks)} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(t.kind for t in tasks).items()))
        + " |"
        for spec, tasks in domains
    )
    total = sum(kinds.values())
    split_counts = ", ".join(f"{split} {len(splits[folder])}" for split, folder in configs["prompts"].items())
    body = f"""
# scaleenv-mcp tasks

Verified tool-use tasks from {len(names)} synthesized environment{'s' if len(names) != 1 else ''} of
[scaleenv-mcp]({REPOSITORY}) {__version__}: {total} tasks ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}).
Each task is one request by a user of a service (retail orders, airline bookings, ...) that an
agent serves by calling the domain's tools under its policy. The environment itself (the tools, the
seeded state, the grader) is the domain's MCP server: `scaleenv serve DOMAIN --task TASK_ID`.

## Source domains

| domain | version | spec sha256 | tasks | kinds |
| --- | --- | --- | --- | --- |
{table}

Each domain is compiled deterministically from its blueprint (entities, tools with preconditions and
effects, a policy) and passed the procedural tests before any task was generated. Tasks were made by
walking the tool dependency graph from an entry tool, binding goals to real rows of the seeded state,
and executing the reference solution to derive the checks.

## Splits

Every task starts from its own seeded state, and its split follows from that seed: of each eight
consecutive seeds from a domain's own, six are `train`, one `validation` and one `test`, so no
state is seen in two splits; every task of a held-out domain ({', '.join(f'`{d}`' for d in HELD_OUT_DOMAINS)})
is `test`, to measure a policy on tools and rules it never trained on. Here: {split_counts}.

The folder has one config per kind of record, joined by `task_id`, each with those splits:

- `prompts` ({sum(len(splits[f]) for f in configs['prompts'].values())} rows): what the policy sees at the start of an episode:
  `task_id`, `domain`, `split`, `kind`, `difficulty`, `prompt` (the policy brief as the system message and
  the user's whole request) and `tools` (OpenAI function definitions; a question adds its
  `submit_answer` tool).
- `grading` ({sum(len(splits[f]) for f in configs['grading'].values())} rows): what the reward side needs and the policy must never
  see: the initial state's seed, the `checks`, the reference `solution`, the user's facts (`user`),
  the `actor`, and for refusals what decides them (`decides`, `refused`). Feed it to the reward
  function only; no column of `prompts` carries a check, an answer or a reference call.

```python
import datasets
tasks = datasets.load_from_disk("DIR")          # this folder; or load_dataset(REPO, "prompts", split="train")
prompts, grading = tasks["prompts-train"], tasks["grading-train"]
```

{_REWARDS}

Grading runs on the environment, not on these rows alone: serve the domain
(`scaleenv serve DOMAIN --http`, or `--nemo-gym`) or use the trainer adapters, which replay the
episode's calls on the seeded state and apply the checks above.

## License and citation

Generated by scaleenv-mcp, licensed {LICENSE}. Cite the project with its `CITATION.cff`.
"""
    return _card(metadata, body)


def _run_summary(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _trajectory_card(kept: list[Trajectory], runs: Sequence[Path], splits: dict[str, Any], datasets: Any, filters: Sequence[str]) -> str:
    names = sorted({t.record.domain for t in kept})
    agents = sorted({t.record.agent for t in kept})
    successes = sum(t.record.success for t in kept)
    summaries = [(run, _run_summary(run)) for run in runs]
    channels = sorted({str(s.get("options", {}).get("answer_channel") or "typed") for _, s in summaries if s} or {"typed"})
    metadata = _metadata(
        splits, {"default": {"trajectories": "trajectories"}}, datasets,
        pretty_name=f"scaleenv-mcp trajectories ({', '.join(agents)})" if len(agents) <= 2 else "scaleenv-mcp trajectories",
        task_categories=["text-generation"],
        source_domains=names,
        scaleenv={"version": __version__, "agents": agents, "runs": [run.name for run in runs],
                  "episodes": len(kept), "successes": successes, "filters": list(filters)},
    )  # fmt: skip
    per_domain = Counter(t.record.domain for t in kept)
    table = "\n".join(
        f"| {name} | {per_domain[name]} | {sum(t.record.success for t in kept if t.record.domain == name)} | "
        f"{sum(t.record.reward for t in kept if t.record.domain == name) / per_domain[name]:.3f} |"
        for name in names
    )
    run_lines = "\n".join(
        f"- `{run.name}`: agent `{s.get('agent') or '?'}`" + (f", model `{s['model']}`" if s.get("model") else "")
        for run, s in summaries
    )
    body = f"""
# scaleenv-mcp trajectories

{len(kept)} agent episodes on tasks of [scaleenv-mcp]({REPOSITORY}) {__version__} environments, as chat
conversations with tool calls: `messages` (OpenAI roles; tool-call arguments as objects), the
`tools` offered, and each episode's `domain`, `task_id`, `agent`, `trial`, `reward` and `success`.
Agents: {', '.join(f'`{a}`' for a in agents)}. {successes} of {len(kept)} episodes succeeded.

## Source domains

| domain | episodes | successes | mean reward |
| --- | --- | --- | --- |
{table}

## Runs

{run_lines}

Each run is a `scaleenv eval` results folder. Infrastructure faults (a crashed server, an API
error that outlasted the retries, a timeout) are never exported; when a run was resumed, the last
record of an episode counts. {"Filters applied on export: " + ", ".join(f"`{f}`" for f in filters) + "." if filters else "No filter was applied on export: failed episodes are here too (see `success` and `reward`)."}

## Splits

One split, `trajectories`: every exported episode. There is no train/validation/test split; tasks
of one domain share its tools and policy, so split by `domain` or `task_id` (not by row) if you need
held-out data.

```python
import datasets
episodes = datasets.load_from_disk("DIR")["trajectories"]     # or load_dataset(REPO, split="trajectories")
```

{_REWARDS}

The `reward` column is the `fraction` mode, the one `scaleenv eval` records; questions were
answered on the {' and '.join(f'`{c}`' for c in channels)} answer channel (`typed`: a `submit_answer`
tool compared by equality; `prose`: the final message, read by a parser that pays no hedged,
negated or listed answer).

## License and citation

The conversations were generated by the agents named above in scaleenv-mcp environments, licensed
{LICENSE}; text an agent wrote may also be subject to its model's terms. Cite the project with its
`CITATION.cff`.
"""
    return _card(metadata, body)
