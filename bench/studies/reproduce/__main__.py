"""``python -m bench.studies.reproduce``: see the package docstring."""

from bench.studies.reproduce.measure import main

if __name__ == "__main__":
    main()
