"""``python -m bench.studies.mnist_step``: see the package docstring."""

from bench.studies.mnist_step.measure import main

if __name__ == "__main__":
    main()
