"""The demo GAN over seeds: is a setting's score the setting's, or its seed's?

Run from the repository root (idle machine; each run is the demo's ~75 s training and ~20 s of scoring, two at a time):

    .venv/bin/python benchmarks/gan_seeds.py [--seeds 0 1 2 3] [--set lr=0.002,iterations=360 ...] [--workdir DIR]

Each ``--set`` is one setting: comma-separated ``key=value`` overrides of ``gan.demo`` in config/config.yaml (values
read as YAML; no ``--set``: the demo as configured). The workflow itself trains every setting once per seed (one
``gan`` run each, on the demo's simulated images) and ``gan_evaluate`` scores it, its C2ST cut to 10 critic steps
(not what this measures). The table gives each run's domain FID, precision, coverage, mode TV, class agreement and
training seconds (the rule's benchmark file); the summary, per setting, how many seeds drew every class (mode TV ≤
0.1) and the median FID. A setting whose seeds disagree gives its demo numbers by luck (docs/images.md).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SCORES = ("fid", "precision", "coverage", "mode_tv", "class_agreement")
DRAWN = 0.1  # mode TV at or below this: every class drawn in about its share


def parse_setting(text):
    """``lr=0.002,iterations=360,classes=[Alp14, Tea1]`` → ``{"lr": 0.002, "iterations": 360, "classes": [...]}``
    (commas inside brackets belong to the value)."""
    pairs = (item.split("=", 1) for item in re.split(r",(?![^\[]*\])", text) if item)
    return {key.strip(): yaml.safe_load(value) for key, value in pairs}


def sweep_config(settings, seeds):
    """The demo config with only its images, one gan run per setting × seed and a short C2ST; and the run names."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    demo = config["gan"]["demo"]
    runs = {f"set{i}_seed{s}": demo | setting | {"seed": s} for i, setting in enumerate(settings) for s in seeds}
    evaluation = config["evaluation"] | {"c2st": config["evaluation"]["c2st"] | {"iterations": 10}}
    return {"images": config["images"], "gan": runs, "evaluation": evaluation}, list(runs)


def run_row(workdir, name, setting, seed):
    result = workdir / "results/gan" / name
    row = {"setting": ",".join(f"{k}={v}" for k, v in setting.items()) or "demo", "seed": seed}
    if not (result / "evaluation.json").exists():
        return row | {"failed": True}
    scores = json.loads((result / "evaluation.json").read_text())
    seconds = pd.read_csv(result / "train.benchmark.tsv", sep="\t")["s"].iloc[0]
    return row | {key: scores[key] for key in SCORES} | {"train_s": seconds, "failed": False}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    settings = args.settings or [{}]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dlbio-gan-seeds-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config, names = sweep_config(settings, args.seeds)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/gan/{name}/evaluation.json" for name in names]
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", "config.yaml", "--cores", str(args.cores), "--resources", f"gpu={args.cores}",
           "--keep-going", "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=False, cwd=workdir)
    pairs = [(setting, seed) for setting in settings for seed in args.seeds]
    table = pd.DataFrame([run_row(workdir, name, *pair) for name, pair in zip(names, pairs)])
    print(f"runs in {workdir}\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    scored = table[~table["failed"]]
    if scored.empty:
        sys.exit(f"no run was scored: see the logs in {workdir}/logs/gan")
    summary = scored.groupby("setting", sort=False).agg(
        seeds=("seed", "size"),
        every_class_drawn=("mode_tv", lambda tv: int((tv <= DRAWN).sum())),
        median_fid=("fid", "median"),
        median_train_s=("train_s", "median"),
    )
    print(f"\nper setting (every class drawn: mode TV ≤ {DRAWN})\n")
    print(summary.to_string(float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
