"""``python -m bench.studies.platform_forms``: see the package docstring."""

from bench.studies.platform_forms.measure import main

if __name__ == "__main__":
    main()
