"""Command line: ``python -m jaxloss`` (see jaxloss/cli.py)."""

if __name__ == "__main__":
    from jaxloss._src.allocator import reexec_under_allocator

    # Re-run under mimalloc/tcmalloc when one is installed, else under glibc tunables
    # (JAXLOSS_NO_PRELOAD=1 opts out): XLA:CPU's fresh buffers then stop faulting in page by
    # page (see jaxloss/_src/allocator.py).
    reexec_under_allocator()

    from jaxloss.cli import main

    raise SystemExit(main())
