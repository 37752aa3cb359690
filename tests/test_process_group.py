"""The multi-process harness itself: two JAX processes on 127.0.0.1 reduce one global array."""

import json

import pytest

from process_group import ProcessesFailed, run_processes, start_processes, wait_processes


def test_two_processes_sum_one_global_array(tmp_path):
    run_processes("global_sum.py", tmp_path, num_processes=2, devices_per_process=2, timeout=120)
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in range(2)]
    assert [r["total"] for r in results] == [28.0, 28.0]  # 0 + 1 + ... + 7, in both processes
    assert all(r["devices"] == 4 and r["local_devices"] == 2 for r in results)


def test_a_process_that_never_joins_fails_within_the_time_limit(tmp_path):
    # Only process 0 of 2 starts: it must not hang past the harness's bound.
    processes = start_processes("global_sum.py", tmp_path, num_processes=2, process_ids=[0])
    with pytest.raises(ProcessesFailed, match="ran past 5 s"):
        wait_processes(processes, timeout=5)
