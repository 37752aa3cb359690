"""Run the document's training reproductions and record each comparison row."""

from __future__ import annotations

import argparse
import dataclasses

from bench.common import provenance
from jaxloss import reproduce


def run(options: reproduce.Options) -> list[dict]:
    """Every training run's comparison rows, in ``reproduce.TRAINING_RUNS``'s order."""
    return [dataclasses.asdict(row) for training in reproduce.TRAINING_RUNS.values()
            for row in training(options)]


def table_lines(rows: list[dict]) -> list[str]:
    """The rows as a markdown table (a reason repeated by the next row of its run is ``"``)."""
    lines = ["| run | quantity | document | jaxloss | why they differ |",
             "|---|---|---:|---:|---|"]
    previous = None
    for row in rows:
        why = '"' if (row["run"], row["why"]) == previous else row["why"]
        previous = (row["run"], row["why"])
        lines.append(f"| {row['run']} | {row['quantity']} | {row['document']:.4f} "
                     f"| {row['ours']:.4f} | {why} |")
    return lines


def markdown(rows: list[dict], provenance_caption: str) -> str:
    """A caption naming the run, then the table."""
    return "\n".join([f"The document's printed training output and jaxloss's. "
                      f"{provenance_caption}", "", *table_lines(rows)]) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=__doc__)
    parser.add_argument("--mnist-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-path", default=None)
    parser.add_argument("--out", default="bench/results/reproduce")
    args = parser.parse_args(argv)
    options = reproduce.Options(mnist_path=args.mnist_path, mnist_epochs=args.mnist_epochs,
                                seed=args.seed, verbose=0)
    facts = provenance.start("bench.studies.reproduce", argv)
    rows = run(options)
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, "rows": rows},
                             markdown(rows, provenance.caption(facts)))
