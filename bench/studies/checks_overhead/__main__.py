"""``python -m bench.studies.checks_overhead``: see the package docstring."""

from bench.studies.checks_overhead.measure import main

if __name__ == "__main__":
    main()
