"""What each workflow job pays before it computes: the seconds its script's imports take in a fresh interpreter.

Run from the repository root (idle machine; about a minute):

    .venv/bin/python benchmarks/script_imports.py [--scripts 'cells_*'] [--repeats 2]

Every job is one Python process (Snakemake's ``script:``), so a script's imports are paid once per job: on small
data they are most of a job's time (a py-spy profile of the 2-core demo: about a third of all its CPU time). For
each script in ``scripts/`` this runs its top-level ``import`` lines under ``python -X importtime`` and prints the
total and the cumulative seconds of the heavy packages it pulls in (a package counts where it is first imported, so
``torch_geometric`` includes the ``torch._dynamo`` it imports). Imports inside functions (``torch._dynamo`` when
the first optimiser is built, about 1.6 s; scanpy in a few functions) are not counted. The minimum over
``--repeats`` runs is printed.
"""

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

HEAVY = ["torch_geometric", "torch", "scanpy", "anndata", "sklearn", "scipy", "matplotlib", "pandas", "rdkit", "numba",
         "scvi", "lightning", "torchmetrics"]
LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)")


def import_seconds(script):
    """Total seconds of ``script``'s top-level imports and the cumulative seconds of each heavy package."""
    tree = ast.parse(Path(script).read_text())
    code = "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    stderr = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True).stderr
    rows = [(int(m.group(1)) / 1e6, len(m.group(2)), m.group(3)) for m in map(LINE.match, stderr.splitlines()) if m]
    seconds = {"total": sum(s for s, depth, _ in rows if depth == 1)}
    for s, _, name in rows:
        if name in HEAVY:
            seconds[name] = seconds.get(name, 0.0) + s
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default="*", help="glob over scripts/ (without .py)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    scripts = sorted(Path("scripts").glob(f"{args.scripts}.py"))
    if not scripts:
        raise SystemExit(f"no scripts/{args.scripts}.py: run from the repository root, --scripts a glob without .py")
    rows = {}
    for script in scripts:
        runs = [import_seconds(script) for _ in range(args.repeats)]
        rows[script.stem] = pd.DataFrame(runs).min()
    table = pd.DataFrame(rows).T.fillna(0.0).sort_values("total", ascending=False)
    print(table[["total", *[p for p in HEAVY if p in table]]].to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
