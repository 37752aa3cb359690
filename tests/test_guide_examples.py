"""The code of docs/guides/contrastive_distillation_preference.md runs, and says what it shows."""

import re
from pathlib import Path

import numpy as np
import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "contrastive_distillation_preference.md"


# About 15 CPU seconds of op-by-op compilation (the guide calls the kernels eagerly): run by
# `make test-slow`, not `make test`.
@pytest.mark.slow
def test_contrastive_distillation_preference_guide_runs():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(blocks) >= 6
    namespace = {}
    exec(compile("\n".join(blocks), str(GUIDE), "exec"), namespace)  # noqa: S102
    per_example = np.asarray(namespace["per_example"])
    assert per_example.shape == (8,) and np.all(np.isfinite(per_example))
    np.testing.assert_allclose(namespace["chunked"], per_example, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(namespace["sharded"], per_example, rtol=1e-5, atol=1e-5)
    assert float(np.abs(namespace["d_teacher"]).max()) == 0.0
    assert float(np.abs(namespace["d_student"]).max()) > 0.0
    rewards = [np.asarray(namespace[name]) for name in ("chosen_rewards", "rejected_rewards")]
    np.testing.assert_allclose(
        np.asarray(namespace["margins"]), rewards[0] - rewards[1], rtol=1e-6
    )
