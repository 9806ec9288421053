#!/usr/bin/env python3
"""Whole-process conversion speed and peak memory of nb2svc, against
`jupyter nbconvert --to script` and `jupytext --to py:percent` on the same notebooks.

Usage (after `cargo build --release` and `bash scripts/provision.sh --no-docker --bench`):

    python3 scripts/bench-convert.py [--runs 5] [--corpus ../shared/corpus]

It measures each tool as a whole process (start-up included), one notebook per process:
a generated notebook of 10+ MB with PNG outputs, and every notebook of the corpus. Wall time is
the median over the runs; peak memory is the maximum resident set size reported by
/usr/bin/time. Prints a Markdown table and the two targets of the issue: nb2svc at least 20
times faster than jupytext, and peak memory under the notebook's size plus 20 MB.
"""

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def big_notebook(path: Path, megabytes: int) -> None:
    """The penguins example with PNG outputs attached until the file passes `megabytes`."""
    notebook = json.loads((ROOT / "examples/penguins/penguins.ipynb").read_text())
    rng = random.Random(42)
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    png_bytes = 400 * 1024
    count = megabytes * 1024 * 1024 * 3 // 4 // png_bytes + 1
    for index in range(count):
        blob = b"\x89PNG\r\n\x1a\n" + rng.randbytes(png_bytes)
        cell = code_cells[index % len(code_cells)]
        cell["execution_count"] = 1
        cell["outputs"].append(
            {
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(blob).decode(), "text/plain": ["<Figure>"]},
                "metadata": {},
            }
        )
    path.write_text(json.dumps(notebook, indent=1))


def measure(command: list, cwd: Path) -> tuple:
    """(seconds, peak KiB, exit code) of one whole process.

    The time comes from a run of the command itself, so that /usr/bin/time's own start-up is
    not counted; the peak memory from a second run under /usr/bin/time.
    """
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    timed = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = int(timed.stderr.strip().splitlines()[-1]) if timed.stderr.strip() else 0
    return elapsed, peak, result.returncode


def commands(nb2svc: str, notebook: Path, out: Path) -> dict:
    return {
        "nb2svc": [nb2svc, str(notebook), "--out", str(out / "svc"), "--force", "--quiet"],
        "nbconvert": ["jupyter", "nbconvert", "--to", "script", str(notebook), "--output-dir", str(out / "nbconvert")],
        "jupytext": ["jupytext", "--to", "py:percent", str(notebook), "-o", str(out / "jupytext.py")],
    }


def run_set(name: str, notebooks: list, nb2svc: str, runs: int, work: Path) -> dict:
    """Median total wall time over `runs`, and the peak memory of the largest process, per tool."""
    totals = {tool: [] for tool in ("nb2svc", "nbconvert", "jupytext")}
    peaks = {tool: 0 for tool in totals}
    failures = {tool: 0 for tool in totals}
    for _ in range(runs):
        sums = {tool: 0.0 for tool in totals}
        for notebook in notebooks:
            for tool, command in commands(nb2svc, notebook, work).items():
                seconds, peak, code = measure(command, work)
                sums[tool] += seconds
                peaks[tool] = max(peaks[tool], peak)
                failures[tool] += code != 0
        for tool in totals:
            totals[tool].append(sums[tool])
    return {
        "set": name,
        "notebooks": len(notebooks),
        "bytes": sum(n.stat().st_size for n in notebooks),
        "largest": max(n.stat().st_size for n in notebooks),
        "median": {tool: statistics.median(values) for tool, values in totals.items()},
        "peak_kib": peaks,
        "failed_runs": {tool: count // runs for tool, count in failures.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus")
    parser.add_argument("--nb2svc", default=str(ROOT / "target/release/nb2svc"))
    parser.add_argument("--megabytes", type=int, default=12)
    args = parser.parse_args()
    if not Path(args.nb2svc).exists():
        print(f"build it first: cargo build --release ({args.nb2svc} is missing)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = work / "big_penguins.ipynb"
        big_notebook(big, args.megabytes)
        sets = [run_set("10+ MB notebook with PNG outputs", [big], args.nb2svc, args.runs, work)]
        corpus = sorted(args.corpus.rglob("*.ipynb")) if args.corpus.is_dir() else []
        if corpus:
            sets.append(run_set("corpus, one process per notebook", corpus, args.nb2svc, args.runs, work))
    print(f"runs: {args.runs}; machine: {os.cpu_count()} cores\n")
    print("| set | notebooks | size | tool | median wall time | peak RSS | failed |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    ok = True
    for result in sets:
        for tool in ("nb2svc", "nbconvert", "jupytext"):
            print(
                f"| {result['set']} | {result['notebooks']} | {result['bytes'] / 1e6:.1f} MB | {tool} "
                f"| {result['median'][tool] * 1000:.1f} ms | {result['peak_kib'][tool] / 1024:.1f} MiB "
                f"| {result['failed_runs'][tool]} |"
            )
        speedup = result["median"]["jupytext"] / result["median"]["nb2svc"]
        limit_kib = (result["largest"] + 20 * 1024 * 1024) / 1024
        memory_ok = result["peak_kib"]["nb2svc"] < limit_kib
        ok &= speedup >= 20 and memory_ok
        print(
            f"\n{result['set']}: nb2svc is {speedup:.1f}x faster than jupytext (target >= 20); "
            f"peak {result['peak_kib']['nb2svc'] / 1024:.1f} MiB vs limit {limit_kib / 1024:.1f} MiB "
            f"(largest notebook + 20 MB): {'ok' if memory_ok else 'OVER'}\n"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
