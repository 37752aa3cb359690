"""The sharded losses on a mesh spanning two JAX processes (2 CPU devices each, gloo on
127.0.0.1) equal their one-device forms in values and gradients."""

import numpy as np
import pytest
from process_group import run_processes

FUSED_MESHES = ("vocab", "tokens_by_process", "vocab_by_process", "forward_schedule")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded_losses")
    run_processes("sharded_losses.py", out, num_processes=2, devices_per_process=2, timeout=180)
    return [dict(np.load(out / f"result-{i}.npz")) for i in range(2)]


def close(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_allclose(actual, expected, rtol=1e-5,
                               atol=1e-5 * max(np.max(np.abs(expected)), 1e-30))


@pytest.mark.parametrize("mesh", FUSED_MESHES)
@pytest.mark.parametrize("quantity", ["loss", "dh", "dw", "db"])
def test_fused_vocabulary_parallel_across_processes(results, mesh, quantity):
    for process in results:
        close(process[f"fused_{mesh}_{quantity}"], process[f"fused_reference_{quantity}"])


@pytest.mark.parametrize("quantity", ["loss", "dq", "dk"])
def test_chunked_contrastive_across_processes(results, quantity):
    for process in results:
        close(process[f"contrastive_{quantity}"], process[f"contrastive_reference_{quantity}"])
    # The masked-out pair has loss 0 in the sharded form too.
    assert results[0]["contrastive_loss"][3] == 0.0
