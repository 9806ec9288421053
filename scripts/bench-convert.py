#!/usr/bin/env python3
"""Whole-process conversion speed and peak memory of nb2svc, against
`jupyter nbconvert --to script` and `jupytext --to py:percent` on the same notebooks.

Usage (after `cargo build --release` and `bash scripts/provision.sh --no-docker --bench`):

    python3 scripts/bench-convert.py [--runs 5] [--corpus ../shared/corpus] [--notebook big.ipynb]

It measures each tool as a whole process (start-up included), one notebook per process:
a big notebook with PNG outputs (`--notebook`, for example the one ../shared/bench/make_big.py
writes; else one of 10+ MB generated from the penguins example), and every notebook of the
corpus. The tools take turns, notebook by notebook, run by run, so a change in the machine's
load hits all three alike. Wall time is the median over the runs; peak memory is the maximum
resident set size reported by /usr/bin/time. nb2svc runs with --no-lock: locking asks uv and
the package index, which is not conversion (--lock measures it too). Prints a Markdown table,
the machine's load averages before and after, and the targets of the issue: nb2svc at least 30
times faster than jupytext and 50 times faster than nbconvert, and peak memory at most the
notebook's size plus 20 MiB.
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


def commands(nb2svc: str, notebook: Path, out: Path, lock: bool) -> dict:
    return {
        "nb2svc": [nb2svc, str(notebook), "--out", str(out / "svc"), "--force", "--quiet"]
        + ([] if lock else ["--no-lock"]),
        "nbconvert": ["jupyter", "nbconvert", "--to", "script", str(notebook), "--output-dir", str(out / "nbconvert")],
        "jupytext": ["jupytext", "--to", "py:percent", str(notebook), "-o", str(out / "jupytext.py")],
    }


def run_set(name: str, notebooks: list, nb2svc: str, runs: int, work: Path, lock: bool) -> dict:
    """Median total wall time over `runs`, and the peak memory of the largest process, per tool."""
    totals = {tool: [] for tool in ("nb2svc", "nbconvert", "jupytext")}
    peaks = {tool: 0 for tool in totals}
    failures = {tool: 0 for tool in totals}
    for _ in range(runs):
        sums = {tool: 0.0 for tool in totals}
        for notebook in notebooks:
            for tool, command in commands(nb2svc, notebook, work, lock).items():
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
    parser.add_argument("--notebook", type=Path, help="the big notebook to measure, instead of a generated one")
    parser.add_argument("--lock", action="store_true", help="let nb2svc lock with uv (network) as its default does")
    args = parser.parse_args()
    if not Path(args.nb2svc).exists():
        print(f"build it first: cargo build --release ({args.nb2svc} is missing)", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # The notebook sits alone in a fresh folder: nb2svc looks at the files beside it.
        big = work / "big.ipynb"
        if args.notebook:
            big.write_bytes(args.notebook.read_bytes())
            name = f"{args.notebook.name} with PNG outputs"
        else:
            big_notebook(big, args.megabytes)
            name = "10+ MB notebook with PNG outputs"
        sets = [run_set(name, [big], args.nb2svc, args.runs, work, args.lock)]
        corpus = sorted(args.corpus.rglob("*.ipynb")) if args.corpus.is_dir() else []
        if corpus:
            sets.append(run_set("corpus, one process per notebook", corpus, args.nb2svc, args.runs, work, args.lock))
    load_after = os.getloadavg()
    loads = lambda load: " ".join(f"{value:.2f}" for value in load)
    print(
        f"runs: {args.runs}; machine: {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{loads(load_before)} before, {loads(load_after)} after; nb2svc {'locks' if args.lock else '--no-lock'}\n"
    )
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
        jupytext = result["median"]["jupytext"] / result["median"]["nb2svc"]
        nbconvert = result["median"]["nbconvert"] / result["median"]["nb2svc"]
        limit_kib = (result["largest"] + 20 * 1024 * 1024) / 1024
        memory_ok = result["peak_kib"]["nb2svc"] <= limit_kib
        ok &= jupytext >= 30 and nbconvert >= 50 and memory_ok
        verdict = lambda met: "met" if met else "NOT MET"
        print(
            f"\n{result['set']}: nb2svc is {jupytext:.1f}x faster than jupytext (target >= 30: {verdict(jupytext >= 30)}), "
            f"{nbconvert:.1f}x faster than nbconvert (target >= 50: {verdict(nbconvert >= 50)}); "
            f"peak {result['peak_kib']['nb2svc'] / 1024:.1f} MiB vs limit {limit_kib / 1024:.1f} MiB "
            f"(largest notebook + 20 MiB): {verdict(memory_ok)}\n"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
