"""``python -m bench.studies.contrastive``: see the package docstring."""

from bench.studies.contrastive.measure import main

if __name__ == "__main__":
    main()
