"""``jaxloss.train`` under ``jax.distributed``: 2 processes x 2 CPU devices on 127.0.0.1 (gloo).

One module fixture starts the process groups of ``multiprocess_workers/train_distributed.py``
side by side and collects what they wrote:

* ``parity``: fit/evaluate/predict on the 4-device mesh with ``inputs="global"`` and
  ``inputs="process_local"``, against the same runs on one device in the same process,
  and the bad setups (each caught in the worker);
* ``killed``: a checkpointed fit in which process 1 is SIGKILLed mid-epoch; the survivor
  must be terminated by the JAX runtime after the heartbeat timeout (5 s), not hang;
* ``resumed``: both processes restarted on the same checkpoint directory, then an
  uninterrupted run for comparison;
* ``lonely``: process 0 of 2 alone, with a 3 s ``initialization_timeout``.

Every group is bounded by the harness's timeout; past it the processes are SIGKILLed,
which the return-code checks below would report.
"""

import json
import re
import signal

import numpy as np
import pytest
from process_group import run_processes, start_processes, wait_processes

from jaxloss.train import checkpoint, initialize_distributed, parallel

WORKER = "train_distributed.py"
TOLERANCE = 1e-5


def _read(directory, name):
    return [json.loads((directory / f"{name}-{i}.json").read_text()) for i in range(2)]


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    checkpoints = root / "checkpoints"
    started = {
        "parity": start_processes(WORKER, root / "parity", args=("parity",)),
        "killed": start_processes(WORKER, root / "killed", args=("checkpoint", str(checkpoints), "kill")),
        "lonely": start_processes(WORKER, root / "lonely", process_ids=[0], args=("never_joins",)),
    }
    finished = {}
    try:
        finished["killed"] = wait_processes(started.pop("killed"), timeout=120, check=False)
        saved_after_kill = checkpoint.saved_epochs(checkpoints)
        finished["resumed"] = run_processes(
            WORKER, root / "resumed", args=("checkpoint", str(checkpoints)), timeout=120)
        finished["lonely"] = wait_processes(started.pop("lonely"), timeout=60, check=False)
        finished["parity"] = wait_processes(started.pop("parity"), timeout=120)
    finally:
        for processes in started.values():  # a failure above: stop what still runs
            wait_processes(processes, timeout=0, check=False)
    return {
        "finished": finished,
        "parity": _read(root / "parity", "parity"),
        "resumed": _read(root / "resumed", "checkpoint"),
        "saved_after_kill": saved_after_kill,
    }


def _flat(leaves):
    return np.concatenate([np.ravel(leaf) for leaf in leaves])


def _assert_close(got, expected):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                               rtol=TOLERANCE, atol=TOLERANCE)


def test_the_mesh_spans_every_process(groups):
    assert [r["mesh"] for r in groups["parity"]] == [{"size": 4, "processes": [0, 1]}] * 2


@pytest.mark.parametrize("inputs", ["global", "local"])
def test_four_devices_of_two_processes_match_one_device(groups, inputs):
    first, second = groups["parity"]
    # Every process ends with the same history, parameters, evaluation and predictions...
    assert first[inputs] == second[inputs]
    run, reference = first[inputs], first[f"{inputs}_reference"]
    # ... equal to one process on one device, to float32 rounding.
    assert run["history"].keys() == reference["history"].keys()
    for name, values in reference["history"].items():
        _assert_close(run["history"][name], values)
    _assert_close(_flat(run["params"]), _flat(reference["params"]))
    # predict returns the whole result in every process (process 0's rows first).
    _assert_close(run["predict"], reference["predict"])


def test_global_evaluate_matches_one_device(groups):
    run, reference = groups["parity"][0]["global"], groups["parity"][0]["global_reference"]
    for name, value in reference["evaluate"].items():
        assert run["evaluate"][name] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE)


def test_only_process_zero_prints(groups):
    first, second = (r.stdout for r in groups["finished"]["parity"])
    assert "Epoch 2/2" in first and "3/3 - " in first
    assert "callback says: epoch 2 done" in first
    assert "Epoch" not in second and "callback says" not in second


@pytest.mark.parametrize(("case", "message"), [
    ("lengths", r"the number of training samples differs between the processes: \[20, 19\]"),
    ("batch_split", r"`batch_size=7` is the global batch and must split evenly over the 2 processes"),
    ("seed", r"seed differs between the processes: \[0, 1\]"),
    ("global_data", "the training data differs between the processes"),
    ("unpadded_split", r"local batches of \[2, 3\] rows .* do not split over each process's 2 devices"),
])
def test_a_bad_setup_raises_the_same_error_in_every_process(groups, case, message):
    first, second = (r["errors"][case] for r in groups["parity"])
    assert first == second
    assert first is not None and re.search(message, first), first


def test_an_error_in_one_process_stops_every_process(groups):
    first, second = (r["errors"]["one_process"] for r in groups["parity"])
    assert "rejected in process(es) [1]" in first
    assert "`x` and `y` must have the same number of samples, got 40 and 39" in second
    # The processes still run their collectives together afterwards.
    results = groups["parity"]
    assert results[0]["after_errors"] == results[1]["after_errors"] == results[0]["local"]["evaluate"]


def test_the_survivor_of_a_killed_process_is_terminated_after_the_heartbeat_timeout(groups):
    survivor, killed = groups["finished"]["killed"]
    assert killed.returncode == -signal.SIGKILL
    # Not killed by the harness's bound (that would be SIGKILL): aborted by the JAX runtime.
    assert survivor.returncode == -signal.SIGABRT, survivor.stderr[-3000:]
    assert "Terminating process because the JAX distributed service detected fatal errors" in survivor.stderr
    assert "stopped sending heartbeats" in survivor.stderr
    # The first epoch was saved; the second, interrupted, was not.
    assert groups["saved_after_kill"] == [1]


def test_the_restarted_processes_end_bitwise_equal_to_an_uninterrupted_run(groups):
    first, second = groups["resumed"]
    assert first == second
    assert first["epochs"] == [0, 1, 2]
    assert first["history"] == first["uninterrupted_history"]
    for resumed, uninterrupted in zip(first["params"], first["uninterrupted_params"]):
        np.testing.assert_array_equal(np.asarray(resumed), np.asarray(uninterrupted))
    assert "Restored" in groups["finished"]["resumed"][0].stdout


def test_a_process_that_never_joins_stops_the_others_at_the_initialization_timeout(groups):
    (lonely,) = groups["finished"]["lonely"]
    assert lonely.returncode == -signal.SIGABRT, lonely.stderr[-3000:]
    assert "DEADLINE_EXCEEDED" in lonely.stderr and "RegisterTask" in lonely.stderr


@pytest.mark.parametrize("timeouts", [{"initialization_timeout": 0}, {"heartbeat_timeout": 2.5}])
def test_initialize_distributed_rejects_bad_timeouts(timeouts):
    name = next(iter(timeouts))
    with pytest.raises(ValueError, match=f"`{name}` must be a positive number of seconds"):
        initialize_distributed("127.0.0.1:1", 2, 0, **timeouts)


def test_one_process_checks_raise_their_own_error():
    with pytest.raises(ValueError, match="`inputs` must be 'global' or 'process_local'"):
        parallel.check_inputs("per_host")
    error = ValueError("the process's own problem")
    with pytest.raises(ValueError, match="own problem"):
        parallel.check_processes_agree(None, {"batch_size": 8}, error)
    parallel.check_processes_agree(None, {"batch_size": 8})  # nothing to compare with
