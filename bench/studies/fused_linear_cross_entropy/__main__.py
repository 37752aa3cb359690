"""``python -m bench.studies.fused_linear_cross_entropy``: see the package docstring."""

from bench.studies.fused_linear_cross_entropy.measure import main

if __name__ == "__main__":
    main()
