"""Command line: ``python -m jaxloss`` (see jaxloss/cli.py)."""

if __name__ == "__main__":
    from jaxloss.cli import main

    raise SystemExit(main())
