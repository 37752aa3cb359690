"""``python -m bench.studies.precise_cost``: see the package docstring."""

from bench.studies.precise_cost.measure import main

if __name__ == "__main__":
    main()
