"""Command line: ``python -m jaxloss`` (see :mod:`jaxloss.cli`)."""

from jaxloss.cli import main
from jaxloss.cli.allocator import reexec_under_allocator

if __name__ == "__main__":
    # Re-run under mimalloc/tcmalloc when one is installed, else under glibc tunables
    # (JAXLOSS_NO_PRELOAD=1 opts out): XLA:CPU's fresh buffers then stop faulting in page by
    # page (see jaxloss/cli/allocator.py).
    reexec_under_allocator()
    raise SystemExit(main())
