"""``python -m bench.suite``: see the package docstring."""

from bench.suite.run_all import main

if __name__ == "__main__":
    main()
