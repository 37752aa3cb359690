"""The benchmark harness runs and writes well-formed results (no timing assertions).

One quick run of ``python -m bench.suite --quick`` in a subprocess (glibc only, to stay fast;
PyTorch and TensorFlow are measured where installed, else recorded as "not installed"), then
the report's logic on hand-made results.
"""

import copy
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from bench.common import device_study
from bench.common.allocators import recorded_library_path
from bench.suite import cases as cases_lib
from bench.suite import report, run_all

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = "# demo\n\n## Benchmarks\n\n<!-- bench-table -->\n\n## Next\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("bench")
    readme = out_dir / "README.md"
    readme.write_text(README)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    subprocess.run([sys.executable, "-m", "bench.suite", "--quick", "--name", "quick",
                    "--allocators", "glibc", "--out-dir", str(out_dir), "--readme", str(readme)],
                   cwd=REPO_ROOT, env=env, check=True, timeout=300)
    return out_dir


def test_json_records_every_peer(quick_run):
    results = json.loads((quick_run / "quick.json").read_text())
    assert results["machine"]["cpu_model"] and results["machine"]["cores"] >= 1
    runs = {run["framework"]: run for run in results["runs"]}
    assert set(runs) == set(run_all.FRAMEWORKS)
    assert runs["jax"]["status"] == "ok" and runs["jax"]["allocator"] == "glibc"
    assert runs["jax"]["bandwidth"]["gb_per_s"] > 0
    assert all(record["probe_ms"] > 0 for record in runs["jax"]["records"])
    assert runs["jax"]["versions"]["devices"]
    for framework, module in (("torch", "torch"), ("tensorflow", "tensorflow")):
        installed = importlib.util.find_spec(module) is not None
        assert runs[framework]["status"] == ("ok" if installed else "not installed")

    import jaxloss

    expected = {(case.family, tuple(case.shape)) for case in cases_lib.cases("quick")}
    for peer in ("jaxloss", "optax", "keras_jax"):
        got = [r for r in runs["jax"]["records"] if r["peer"] == peer]
        assert {(r["family"], tuple(r["shape"])) for r in got} == expected
        for record in got:
            if peer == "jaxloss" and not hasattr(jaxloss, record["family"]):
                assert record["status"] == "not available"
            elif peer == "optax" and record["family"] == "softmax_focal_loss":
                assert record["status"] == "no such kernel"
            else:
                assert record["status"] == "ok", record
                assert record["median_ms"] > 0 and record["repeats"] >= 1
                assert record["temp_bytes"] >= 0 and record["compile_s"] > 0
                assert np.isfinite(record["loss"])
                assert (record["grad_l1"] is None) == (record["mode"] == "forward")
    assert report.checks(results) == []


def test_markdown_png_and_readme(quick_run):
    results = json.loads((quick_run / "quick.json").read_text())
    text = (quick_run / "quick.md").read_text()
    assert results["machine"]["cpu_model"] in text
    assert "allocator: glibc malloc" in text and "| kernel | shape |" in text
    assert "Compute probe before each case" in text and "jax/glibc " in text
    header = next(line for line in text.splitlines() if line.startswith("| kernel | shape | jax"))
    widths = {line.count("|") for line in text.splitlines()
              if line.startswith("|") and line.count("|") == header.count("|")}
    assert widths == {header.count("|")}
    png = (quick_run / "quick.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    image = matplotlib.image.imread(str(quick_run / "quick.png"))
    assert image.shape[0] > 300 and image.shape[1] > 300
    readme = (quick_run / "README.md").read_text()
    assert readme.count(report.BEGIN) == 1 and readme.count(report.END) == 1
    assert report.LONE not in readme and readme.endswith("## Next\n")
    assert "![benchmark plot](quick.png)" in readme


def test_readme_section_is_rewritten_in_place(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    report.write_readme(str(readme), "first\n")
    report.write_readme(str(readme), "second\n")
    text = readme.read_text()
    assert "first" not in text and text.count("second") == 1
    assert text == README.replace(report.LONE, f"{report.BEGIN}\nsecond\n{report.END}")
    (tmp_path / "OTHER.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="bench-table"):
        report.write_readme(str(tmp_path / "OTHER.md"), "x")


def _record(peer, family, mode, median_ms, allocator="glibc", temp_bytes=100):
    return {"peer": peer, "family": family, "shape": [8, 4], "mode": mode, "status": "ok",
            "allocator": allocator, "median_ms": median_ms, "p25_ms": 0.95 * median_ms,
            "p75_ms": 1.05 * median_ms, "min_ms": 0.9 * median_ms, "repeats": 5,
            "loss": 1.0, "grad_l1": 1.0, "temp_bytes": temp_bytes, "compile_s": 0.1,
            "min_bytes": 10**8, "inputs_crc32": "0"}


def _results(records):
    return {"runs": [{"framework": "jax", "allocator": "glibc", "status": "ok",
                      "bandwidth": {"gb_per_s": 10.0}, "records": records}]}


def test_report_flags_a_slower_kernel_and_missed_targets():
    family = "sparse_softmax_cross_entropy"
    results = _results([
        _record("jaxloss", family, "forward_backward", 10.0, temp_bytes=200),
        _record("optax", family, "forward_backward", 8.0),
        _record("torch", family, "forward_backward", 30.0),
    ])
    table = "\n".join(report.timing_table(results, "glibc", "forward_backward"))
    assert "**0.80× slower**" in table and "3.00×" in table
    assert "| 10 | 100% |" in table  # 0.1 GB at 10 GB/s: 10 ms, the time of jaxloss
    targets = "\n".join(report.target_lines(results))
    assert "faster than optax on sparse_softmax_cross_entropy, softmax_cross_entropy " \
           "forward+backward: **missed** (worst 0.80×" in targets
    assert "faster than PyTorch on sparse_softmax_cross_entropy, softmax_cross_entropy " \
           "forward+backward: met (worst 3.00×" in targets
    assert "TensorFlow on sparse_softmax_cross_entropy, softmax_cross_entropy forward+backward:" \
           " not measured" in targets
    assert f"slower than optax beyond noise: {family} 8×4 forward+backward (0.80×)" in targets
    assert "≤ optax's: **missed**" in targets


def test_report_checks_catch_disagreeing_peers():
    family = "huber_loss"
    good = [_record("jaxloss", family, "forward", 2.0), _record("optax", family, "forward", 2.0)]
    assert report.checks(_results(good)) == []
    bad = copy.deepcopy(good)
    bad[1]["loss"] = 1.01
    bad[1]["inputs_crc32"] = "1"
    problems = report.checks(_results(bad))
    assert any("inputs differ" in p for p in problems)
    assert any("loss disagrees" in p for p in problems)


def test_a_library_path_is_recorded_without_the_machines_directories():
    inside = os.path.join(sysconfig.get_path("platlib"), "cmeel.prefix", "lib", "libmimalloc.so")
    assert recorded_library_path(inside) == "site-packages/cmeel.prefix/lib/libmimalloc.so"
    assert recorded_library_path("/opt/lib/libtcmalloc.so.4") == "libtcmalloc.so.4"
    assert recorded_library_path(None) is None


def test_missing_mimalloc_is_recorded_not_fatal(tmp_path):
    run = run_all.run_worker("jax", "mimalloc", "quick", 1, None, None, str(tmp_path))
    assert run["status"] == "not installed" and run["records"] == []


@pytest.mark.parametrize("case", cases_lib.cases("full"), ids=lambda case: case.key)
def test_min_bytes_reads_inputs_and_writes_the_gradient(case):
    elements = int(np.prod(case.shape))
    labels = 4 * case.shape[0] if case.family == "sparse_softmax_cross_entropy" else 4 * elements
    assert case.min_bytes("forward") == 4 * elements + labels
    assert case.min_bytes("forward_backward") == 8 * elements + labels


def test_precise_cost_quick_run_is_well_formed(tmp_path):
    from bench.studies.precise_cost import measure as precise_cost

    precise_cost.main(["--quick", "--out", str(tmp_path)])
    record = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    assert len(record["rows"]) == 2 * 2 * len(device_study.QUICK_SHAPES)
    for row in record["rows"]:
        assert row["mode"] in ("forward", "forward+backward")
        assert min(row["default_ms"], row["precise_ms"], row["optax_ms"]) > 0
        # The same loss from all three (random logits: no loss near the default's floor).
        np.testing.assert_allclose(row["precise_loss"], row["default_loss"], rtol=1e-5)
        np.testing.assert_allclose(row["precise_loss"], row["optax_loss"], rtol=1e-5)
    table = next(tmp_path.glob("*-quick.md")).read_text()
    assert table.count("\n| ") == len(record["rows"]) + 1


def _gpu_results():
    """A run on a GPU as the workers write it: device bandwidths, Liger-Kernel measured,
    TensorFlow not installed."""
    family = "sparse_softmax_cross_entropy"
    jax_records = [_record("jaxloss", family, "forward_backward", 2.0),
                   _record("optax", family, "forward_backward", 2.5)]
    torch_records = [_record("torch", family, "forward_backward", 3.0),
                     _record("liger_kernel", family, "forward_backward", 1.0),
                     {**_record("liger_kernel", "huber_loss", "forward", 1.0),
                      "status": "no such kernel"}]
    return {
        "name": "gpu-nvidia-h200", "size": "full", "threads": 16, "git_commit": "abc",
        "started": "2026-11-26T00:00:00+00:00", "finished": "2026-11-26T00:05:00+00:00",
        "machine": {"accelerator": "NVIDIA H200", "cpu_model": "Xeon", "cores": 16,
                    "memory_gib": 128.0},
        "runs": [
            {"framework": "jax", "allocator": "glibc", "status": "ok",
             "versions": {"devices": ["cuda:0"]}, "loadavg_start": [1.0], "loadavg_end": [1.0],
             "bandwidth": {"gb_per_s": 20.0, "device_gb_per_s": 4000.0},
             "records": jax_records},
            {"framework": "torch", "allocator": "glibc", "status": "ok",
             "versions": {"devices": ["NVIDIA H200"]}, "loadavg_start": [1.0],
             "loadavg_end": [1.0], "bandwidth": {"gb_per_s": 21.0, "device_gb_per_s": 3900.0},
             "records": torch_records},
            {"framework": "tensorflow", "allocator": "glibc", "allocator_requested": "glibc",
             "status": "not installed", "error": "ModuleNotFoundError: tensorflow",
             "records": []},
        ],
    }


def test_gpu_report_uses_device_bandwidth_and_its_own_readme_section(tmp_path):
    results = _gpu_results()
    assert report.roofline_bandwidth(results) == 4000.0
    assert report.present_peers(results) == ("jaxloss", "optax", "torch", "liger_kernel")
    table = report.timing_table(results, "glibc", "forward_backward")
    assert table[0] == ("| kernel | shape | jaxloss | optax | PyTorch | Liger-Kernel | jaxloss "
                        "speed-up vs optax | vs PyTorch | vs Liger-Kernel | roofline ms | "
                        "jaxloss % of roofline |")
    assert {line.count("|") for line in table} == {table[0].count("|")}
    assert "| 1.25× | 1.50× | **0.50× slower** | 0.025 | 1% |" in table[2]
    path = tmp_path / "gpu-nvidia-h200.json"
    path.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text(README + "\n<!-- bench-table-gpu -->\n")
    report.write_all(str(path), readme=str(readme))
    text = readme.read_text()
    assert text.count(report.LONE) == 1  # the CPU section is left alone
    begin, end, _ = report.markers(report.GPU_SECTION)
    section = text.split(begin, 1)[1].split(end, 1)[0]
    assert "**NVIDIA H200 (host: Xeon, 16 cores, 128.0 GiB)**" in section
    assert "JAX (XLA in-place update) 4000.0 GB/s, PyTorch (copy_) 3900.0 GB/s" in section
    assert "The roofline uses 4000.0 GB/s" in section
    assert "set for the 2-core CPU" in section and "TensorFlow |" not in section
    assert (tmp_path / "gpu-nvidia-h200.png").read_bytes().startswith(b"\x89PNG")


def test_default_name_names_the_gpu_where_there_is_one():
    facts = {"cpu_model": "AMD EPYC", "cores": 2, "accelerator": None}
    assert run_all.default_name(facts, quick=False) == "cpu-amd-epyc-2-cores"
    facts["accelerator"] = "NVIDIA H200"
    assert run_all.default_name(facts, quick=True) == "gpu-nvidia-h200-quick"


def test_accelerator_model_asks_nvidia_smi(tmp_path, monkeypatch):
    from bench.common import machine

    monkeypatch.setenv("PATH", str(tmp_path))
    assert machine.accelerator_model() is None  # no nvidia-smi on the PATH
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA H200'\necho 'NVIDIA H200'\n")
    script.chmod(0o755)
    assert machine.accelerator_model() == "NVIDIA H200"


def test_liger_kernel_has_only_the_integer_label_cross_entropy():
    from bench.suite import peers_torch

    assert "liger_kernel" in peers_torch.PEERS
    for family in cases_lib.FAMILIES:
        if family != "sparse_softmax_cross_entropy":
            assert peers_torch._liger_kernel(family) is None


def test_platform_forms_quick_run_is_well_formed(tmp_path):
    from bench.studies.platform_forms import measure as platform_forms
    from jaxloss._src import platform

    platform_forms.main(["--quick", "--out", str(tmp_path)])
    assert platform.FORCED_FORMS is None  # left as found
    record = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    assert len(record["rows"]) == 2 * len(platform_forms.KERNELS) * len(device_study.QUICK_SHAPES)
    for row in record["rows"]:
        assert min(row["cpu_forms_ms"], row["accelerator_forms_ms"]) > 0
        # Both forms compute the same loss (and optax's, where it has the kernel).
        np.testing.assert_allclose(row["accelerator_forms_loss"], row["cpu_forms_loss"],
                                   rtol=1e-5)
        if "optax_loss" in row:
            np.testing.assert_allclose(row["optax_loss"], row["cpu_forms_loss"], rtol=1e-5)
    table = next(tmp_path.glob("*-quick.md")).read_text()
    assert table.count("\n| ") == len(record["rows"]) + 1


def test_superset_quick_run_records_provenance_and_finite_ratios(tmp_path):
    import jax

    from bench.studies.superset import measure as superset
    from bench.studies.superset.cases import OPTAX_CASES

    with jax.numpy_dtype_promotion("standard"):  # optax's sparsemax mixes int32 and float32
        superset.main(["--quick", "--out", str(tmp_path)])
    record = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    facts = record["provenance"]
    for field in ("machine", "date", "finished", "commit", "command", "versions",
                  "load_average_1min"):
        assert facts[field], field
    assert facts["command"] == f"python -m bench.studies.superset --quick --out {tmp_path}"
    assert {"jax", "optax"} <= set(facts["versions"])
    assert [row["case"] for row in record["optax_rows"]] == [case for case, *_ in OPTAX_CASES]
    for row in record["optax_rows"]:
        for side in ("jaxloss", "optax"):
            assert row[side]["temp_bytes"] >= 0 and row[side]["median_cpu_s"] > 0
        assert np.isfinite(row["cpu_ratio"]) and np.isfinite(row["wall_ratio"])
        # The same loss from both: the drop-in layer keeps the peer's semantics.
        np.testing.assert_allclose(row["jaxloss"]["loss"], row["optax"]["loss"], rtol=2e-5,
                                   atol=1e-6)
    assert np.isfinite(record["cpu_ratio_geomean_vs_optax"])
    assert "not run" in record["torch_status"]
    table = next(tmp_path.glob("*-quick.md")).read_text()
    assert table.count("\n| `") == len(OPTAX_CASES) and facts["command"] in table


def test_bench_pages_read_the_recorded_provenance(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "docs"))
    try:
        import bench_pages
    finally:
        sys.path.pop(0)
    study = tmp_path / "bench" / "results" / "some_study"
    study.mkdir(parents=True)
    facts = {"machine": {"accelerator": None, "cpu_model": "Some CPU", "cores": 2},
             "date": "2026-12-01T10:00:00+00:00", "finished": "2026-12-01T10:05:00+00:00",
             "commit": "abc1234", "command": "python -m bench.studies.some_study --size 3",
             "versions": {"jax": "0.1"}, "load_average_1min": {"start": 1.5, "end": 2.5}}
    (study / "run.json").write_text(json.dumps({"provenance": facts, "rows": []}))
    bench_pages.write_pages(tmp_path, tmp_path / "pages")
    page = (tmp_path / "pages" / "some_study.md").read_text()
    command = "`python -m bench.studies.some_study --size 3`"
    for text in ("Some CPU, 2 cores", "commit abc1234", command, "jax 0.1",
                 "1.5 at the start, 2.5 at the end"):
        assert text in page


def test_provenance_names_a_program_outside_the_checkout_by_its_role(tmp_path):
    from bench.common import provenance

    python = tmp_path / "peer-env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    command = provenance.command_line("bench.studies.x", ["--torch-python", str(python),
                                                          "--out", str(tmp_path)])
    # The output folder is an argument the reader may reuse; the interpreter's location is not.
    assert command == f"python -m bench.studies.x --torch-python …/bin/python --out {tmp_path}"


def test_memory_per_device_quick_run_divides_the_sharded_inputs(tmp_path):
    """The study makes its own 8 CPU devices (a subprocess, as users run it); each device's
    arguments shrink as the mesh grows, since the weight (fused) and the batch
    (contrastive) are split over it."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    env.pop("XLA_FLAGS", None)
    subprocess.run([sys.executable, "-m", "bench.studies.memory_per_device", "--quick",
                    "--out", str(tmp_path)], cwd=REPO_ROOT, env=env, check=True, timeout=300,
                   capture_output=True)
    record = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    assert record["provenance"]["command"].startswith("python -m bench.studies.memory_per_device")
    one, two = record["rows"]
    assert (one["devices"], two["devices"]) == (1, 2)
    for loss in ("fused", "contrastive"):
        assert 0 < two[loss]["argument_bytes"] < one[loss]["argument_bytes"]
        assert two[loss]["temp_bytes"] > 0
    table = next(tmp_path.glob("*-quick.md")).read_text()
    assert table.count("\n| ") == 3


def test_fused_gpu_driver_quick_run_records_every_step_and_its_roofline(tmp_path):
    """The GPU driver's smoke run on this machine's device, JAX side only: every step has a
    row, the fused steps agree with the explicit logits, and the roofline fields are there
    (with no peak where the device is not in the table)."""
    from bench.studies.fused_linear_cross_entropy import gpu

    gpu.main(["--quick", "--no-torch", "--out", str(tmp_path)])
    record = json.loads(next(tmp_path.glob("gpu-*-quick.json")).read_text())
    assert record["provenance"]["command"].startswith(f"python -m {gpu.MODULE} --quick")
    tokens, hidden, vocab = record["shape"]
    assert "jax_default_matmul_precision" in record
    expected_peak = gpu.device_peaks(record["device"])[1]
    rows = {(row["side"], row["step"], row["dtype"]): row for row in record["rows"]}
    dtypes = ("bfloat16", "float32")
    assert set(rows) == {("jax", step, dtype) for step in gpu.JAX_STEPS for dtype in dtypes} | {
        ("torch", step, dtype) for step in gpu.torch_peers.PEERS for dtype in dtypes}
    for (side, step, dtype), row in rows.items():
        assert row["roofline_flops"] == 6 * tokens * hidden * vocab
        assert row["peak"] in ("bfloat16 dense", "tf32 dense", "float32 dense")
        assert row["peak_tflops"] == (None if expected_peak is None
                                      else expected_peak[row["peak"].split()[0]])
        if side == "torch":
            assert row["status"] == "not run (--no-torch)" and row["fraction_of_peak"] is None
        elif step == "tokamax" and importlib.util.find_spec("tokamax") is None:
            assert row["status"] == "not installed"
        else:
            assert row["status"] == "ok" and row["achieved_tflops"] > 0
            assert (row["fraction_of_peak"] is None) == (expected_peak is None)
            np.testing.assert_allclose(row["loss"], rows["jax", "explicit", dtype]["loss"],
                                       rtol=2e-2 if dtype == "bfloat16" else 1e-5)
    assert rows["jax", "explicit", "float32"]["ratio_to_reference"] == 1.0
    table = next(tmp_path.glob("gpu-*-quick.md")).read_text()
    assert table.count("\n| ") == len(rows) + 1


def test_gpu_peaks_follow_the_device_name():
    from bench.studies.fused_linear_cross_entropy import gpu

    assert gpu.device_peaks("NVIDIA H100 80GB HBM3") == ("H100 SXM", gpu.PEAK_TFLOPS["H100 SXM"])
    assert gpu.device_peaks("NVIDIA H200")[1]["bfloat16"] == gpu.PEAK_TFLOPS["H100 SXM"]["bfloat16"]
    assert gpu.device_peaks("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert gpu.device_peaks("cpu") == (None, None)
    assert gpu.float32_runs_in_tf32(None) and not gpu.float32_runs_in_tf32("highest")


@pytest.mark.parametrize("jax_precision, jax_peak", [(None, "tf32"), ("highest", "float32")])
def test_gpu_roofline_takes_the_peak_of_the_dtype_and_precision(jax_precision, jax_peak):
    from bench.studies.fused_linear_cross_entropy import gpu

    rows = [{"side": "jax", "step": "explicit", "dtype": "float32", "median_s": 0.5},
            {"side": "jax", "step": "fused_forward", "dtype": "float32", "median_s": 1.0},
            {"side": "jax", "step": "explicit", "dtype": "bfloat16", "median_s": 0.25},
            {"side": "torch", "step": "torch_unfused", "dtype": "float32", "median_s": 2.0}]
    peaks = gpu.PEAK_TFLOPS["H100 SXM"]
    gpu.add_roofline(rows, 1000, 100, 10000, peaks, jax_precision, torch_tf32=False)
    flops = 6 * 1000 * 100 * 10000
    expected = [(jax_peak, 0.5, 1.0), (jax_peak, 1.0, 2.0), ("bfloat16", 0.25, 1.0),
                ("float32", 2.0, 1.0)]
    for row, (peak, seconds, ratio) in zip(rows, expected, strict=True):
        assert row["peak"] == f"{peak} dense" and row["peak_tflops"] == peaks[peak]
        assert row["ratio_to_reference"] == ratio
        np.testing.assert_allclose(row["fraction_of_peak"], flops / seconds / 1e12 / peaks[peak])


def test_reproduce_table_shows_each_row_and_marks_a_repeated_reason():
    from bench.studies.reproduce import measure as reproduce_study

    rows = [{"run": "custom", "quantity": f"epoch {n} loss", "document": 0.8, "ours": 1.0 / n,
             "why": "noise"} for n in (1, 2)]
    rows.append({"run": "l2", "quantity": "epoch 1 loss", "document": 0.7, "ours": 0.9,
                 "why": "noise"})
    lines = reproduce_study.table_lines(rows)
    assert lines[2] == "| custom | epoch 1 loss | 0.8000 | 1.0000 | noise |"
    assert lines[3] == '| custom | epoch 2 loss | 0.8000 | 0.5000 | " |'
    assert lines[4].endswith("| noise |")  # another run says its reason again
