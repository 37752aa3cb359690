"""bench.studies.mnist_step: the interleaved measuring loop, the table, and (slow) a real run."""

from __future__ import annotations

import pytest

from bench.common.allocators import allocator_environment
from bench.studies.mnist_step import measure as mnist_step
from bench.studies.mnist_step.peers import Peer


def test_measure_interleaves_rotates_and_reports_ratio():
    calls = []

    def peer(name, loss):
        return lambda: calls.append(name) or loss

    peers = {
        "keras.train_on_batch": Peer(peer("k", 1.0)),
        "fit": Peer(peer("f", 2.0), steps_per_call=2),
    }
    result = mnist_step.measure(peers, warmup=1, rounds=2, steps=4)
    # first call, warm-up, round 0 (k then f), round 1 rotated (f then k)
    assert calls == ["k", "f", "k", "f"] + ["k"] * 4 + ["f"] * 2 + ["f"] * 2 + ["k"] * 4
    assert result["keras.train_on_batch"]["ratio_to_keras"] == 1.0
    assert result["fit"]["last_loss"] == 2.0 and result["fit"]["median_ms"] > 0
    table = mnist_step.markdown(
        [
            {
                "allocator": "glibc",
                "load_average_1min": 1.0,
                "machine": {"cpu_model": "CPU", "cores": 2, "memory_gib": None},
                "rounds": 2,
                "steps_per_round": 4,
                "jax": "0",
                "notes": [],
                "peers": result,
            }
        ]
    )
    assert "| fit | glibc |" in table and "CPU, 2 cores" in table


@pytest.mark.slow
@pytest.mark.standard_promotion
def test_jax_peers_train(capsys):
    mnist_step.main(["--peers", "jax", "--rounds", "1", "--steps", "1", "--warmup", "0"])
    table = capsys.readouterr().out
    for peer in ("flax", "jaxloss.nn", "jaxloss.nn+jax.jit"):
        assert f"| {peer} |" in table


@pytest.mark.parametrize("cpus", ["0", "100000"])
def test_cpus_outside_the_usable_range_is_refused(cpus, capsys):
    with pytest.raises(SystemExit):
        mnist_step.main(["--cpus", cpus, "--peers", "jax"])
    assert "--cpus must be in [1," in capsys.readouterr().err


@pytest.mark.parametrize(
    "allocator, tunables",
    [
        ("glibc", None),
        ("glibc-hugetlb", "glibc.malloc.hugetlb=1"),
        ("glibc-tunables", "glibc.malloc.mmap_threshold=67108864"),
        ("glibc-nommap", "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776"),
    ],
)
def test_allocator_environment_for_glibc_settings(allocator, tunables):
    parent = {
        "LD_PRELOAD": "/x/libmimalloc.so",
        "GLIBC_TUNABLES": "glibc.malloc.perturb=1",
        "A": "b",
    }
    env = allocator_environment(allocator, parent)
    assert (env.get("GLIBC_TUNABLES") or "").startswith(tunables or "") and env["A"] == "b"
    assert "LD_PRELOAD" not in env and (tunables is not None or "GLIBC_TUNABLES" not in env)


def test_unknown_allocator_is_refused(capsys):
    with pytest.raises(SystemExit):
        mnist_step.main(["--allocators", "glibc,jemalloc", "--peers", "jax"])
    assert "--allocators: unknown ['jemalloc']" in capsys.readouterr().err
