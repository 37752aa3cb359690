"""``python -m bench.studies.glibc_tunables``: see the package docstring."""

from bench.studies.glibc_tunables.measure import main

if __name__ == "__main__":
    main()
