"""``python -m bench [--quick] [--json] [--only CASE ...] [--markdown PATH]``

Prints a table (median [min..max] per figure, the baseline measured in the same run, the
ratio, the target) and writes the figures as JSON to bench/last-run.json. ``--quick`` is
a smoke run for CI (under a minute); it never fails on timing, only on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .cases import CASES, Row, Timing, missing_extra


def machine() -> dict[str, str]:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(), "platform": platform.platform()}


def cell(value: Timing | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.text()


def markdown(rows: list[Row], info: dict[str, str], quick: bool) -> str:
    lines = [
        f"Machine: {info['cpu']} ({info['cores']} cores), Python {info['python']}, {info['platform']}",
        f"Date: {dt.date.today().isoformat()}; mode: {'quick' if quick else 'full'}. Medians over repeated runs, [min..max].",
        "",
        "| group | figure | ours | baseline (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        base = f"{cell(r.baseline)} ({r.baseline_name})" if r.baseline is not None else r.baseline_name
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.group} | {r.figure} | {cell(r.ours)} | {base} | {ratio} | {r.target} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI smoke run)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    info = machine()
    rows: list[Row] = []
    for name in args.only or list(CASES):
        start = time.perf_counter()
        reason = missing_extra(name)
        if reason is not None:  # one case without its extra must not lose the whole table
            rows.append(Row(name, "(case not run)", reason))
            print(f"[bench] {name}: {reason}", file=sys.stderr)
            continue
        rows += CASES[name](args.quick)
        print(f"[bench] {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    data = {"machine": info, "quick": args.quick, "rows": [asdict(r) for r in rows]}
    Path(__file__).with_name("last-run.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    table = markdown(rows, info, args.quick)
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
