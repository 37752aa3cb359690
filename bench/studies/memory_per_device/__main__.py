"""``python -m bench.studies.memory_per_device``: see the package docstring."""

import os

# Before jax is imported: the host's CPU becomes 8 devices, the largest mesh measured.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

from bench.studies.memory_per_device.measure import main  # noqa: E402

if __name__ == "__main__":
    main()
