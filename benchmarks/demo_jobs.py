"""The demo's jobs, slowest first, from Snakemake's own log: when each started and finished.

Run from the repository root after a workflow run (``make demo`` keeps its log in ``.snakemake/log/``):

    .venv/bin/python benchmarks/demo_jobs.py [LOG ...] [--top 20]

With no LOG the newest ``.snakemake/log/*.snakemake.log`` that ran jobs is read (``make report``
writes a log without jobs). With two logs (say before and
after a change, or two machines) the table puts them side by side by job (rule + wildcards) with
the ratio. Seconds are wall time from Snakemake's "rule ..." stamp to its "Finished job" stamp
(1-second resolution), so jobs that share the cores count their waits too.
"""

import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")


def parse_log(path):
    """One row per finished job: rule, wildcards, threads, start, end, seconds; plus the run's wall seconds."""
    started, rows, stamp, current, first = {}, [], None, None, None
    for line in Path(path).read_text().splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
        elif m := RULE.match(line):
            current = {"rule": m.group(1), "wildcards": "", "threads": 1, "start": stamp}
        elif current is not None and (m := re.match(r"^\s+(jobid|wildcards|threads): (.*)$", line)):
            key, value = m.groups()
            if key == "jobid":
                started[int(value)] = current
            else:
                current[key] = int(value) if key == "threads" else value
        elif m := FINISHED.match(line):
            job = started.pop(int(m.group(1)), None)
            if job is not None:
                rows.append(job | {"end": stamp, "seconds": (stamp - job["start"]).total_seconds()})
    table = pd.DataFrame(rows)
    wall = (table["end"].max() - first).total_seconds() if len(table) else 0.0
    return table, wall


def job_name(table):
    return table["rule"] + table["wildcards"].map(lambda w: f" [{w}]" if w else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="*", type=Path)
    parser.add_argument("--top", type=int, default=20, help="rows to print (slowest first)")
    args = parser.parse_args()
    newest_first = sorted(Path(".snakemake/log").glob("*.snakemake.log"), key=lambda p: -p.stat().st_mtime)
    logs = args.logs or [p for p in newest_first if len(parse_log(p)[0])][:1]
    if not logs:
        raise SystemExit("no Snakemake log with finished jobs in .snakemake/log/: run from the workflow's directory")
    columns = {}
    for i, path in enumerate(logs):
        table, wall = parse_log(path)
        if table.empty:
            raise SystemExit(f"{path}: no finished jobs in this log (a report or dry run?)")
        print(f"log {i + 1}: {path}: {len(table)} jobs, wall {wall / 60:.1f} min, sum of job times {table['seconds'].sum() / 60:.1f} min, "
              f"longest {table['seconds'].max():.0f} s")
        columns[f"s_{i + 1}"] = table.assign(job=job_name(table)).groupby("job")["seconds"].sum()
    joined = pd.DataFrame(columns).sort_values("s_1", ascending=False)
    if len(logs) == 2:
        joined["ratio_2/1"] = joined["s_2"] / joined["s_1"]
    print(joined.head(args.top).to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
