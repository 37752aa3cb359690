"""``python -m bench.studies.superset``: see the package docstring."""

from bench.studies.superset.measure import main

if __name__ == "__main__":
    main()
