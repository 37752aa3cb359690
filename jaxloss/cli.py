"""Command line: ``python -m jaxloss [reproduce NAME]``.

``python -m jaxloss`` and ``python -m jaxloss reproduce losses`` print the seed
document's five loss examples: the printed value, the value jaxloss computes, and
whether the document is wrong. ``reproduce all`` runs every reproduction in
:data:`REPRODUCTIONS`, in order. To add one, write a function ``(args) -> int``
(0 on success) and register it in :data:`REPRODUCTIONS`; the parser picks it up.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from jaxloss import document


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


# Name -> function run by `python -m jaxloss reproduce NAME`; "all" runs each in turn.
REPRODUCTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "losses": reproduce_losses,
}


def reproduce_all(args: argparse.Namespace) -> int:
    """Run every registered reproduction; the status is the first failure's, else 0."""
    status = 0
    for name, run in REPRODUCTIONS.items():
        print(f"== reproduce {name} ==")
        result = run(args)
        status = status or result
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jaxloss``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        return reproduce_losses(args)
    if args.what == "all":
        return reproduce_all(args)
    return REPRODUCTIONS[args.what](args)
