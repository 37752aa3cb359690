"""What is measured: the kernel families, their sizes, their inputs and the bytes they must move.

Every framework's worker process builds its inputs from :func:`make_inputs`, a seeded NumPy
generator, so all peers see byte-identical data (the worker records a CRC32 of the inputs and the
report checks that they agree). Every peer computes the same quantity: the *mean* of the
per-example loss (forward), and that mean together with its gradient with respect to the first
argument (forward+backward).
"""

from __future__ import annotations

import dataclasses
import functools
import zlib

import numpy as np

# Families whose first argument is a [batch, classes] matrix of logits.
SOFTMAX_FAMILIES = ("sparse_softmax_cross_entropy", "softmax_cross_entropy", "softmax_focal_loss")
# Families that are elementwise over the whole array.
ELEMENTWISE_FAMILIES = ("sigmoid_binary_cross_entropy", "sigmoid_focal_loss", "squared_error",
                        "huber_loss")
FAMILIES = SOFTMAX_FAMILIES + ELEMENTWISE_FAMILIES
MODES = ("forward", "forward_backward")

# Hyperparameters shared by every peer (the defaults of the focal paper and of Huber).
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
HUBER_DELTA = 1.0

# Sizes: [batch, classes] for the softmax families, a 2-D array for the elementwise ones.
SIZES = {
    "full": {
        "softmax": ((4096, 32000), (8192, 1000), (65536, 10)),
        "elementwise": ((10_000, 1_000),),  # 10 million elements
    },
    "quick": {
        "softmax": ((64, 384),),
        "elementwise": ((100, 100),),
    },
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One kernel family at one shape, float32."""

    family: str
    shape: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.family}[{'x'.join(map(str, self.shape))}]"

    @property
    def is_softmax(self) -> bool:
        return self.family in SOFTMAX_FAMILIES

    def input_names(self) -> tuple[str, str]:
        """Names of the two arrays this case passes, in the jaxloss argument order."""
        if self.family == "sparse_softmax_cross_entropy":
            return "logits", "labels_int"
        if self.is_softmax:
            return "logits", "labels_onehot"
        if self.family in ("squared_error", "huber_loss"):
            return "predictions", "targets"
        return "logits", "labels_binary"

    def min_bytes(self, mode: str) -> int:
        """The fewest bytes of memory traffic any implementation must move.

        Each input is read once; the forward writes a scalar (nothing worth counting); the
        forward+backward also writes the float32 gradient of the first argument once. A row of
        32000 float32 logits (128 KB) fits in L2, so a second pass over a row (softmax after the
        logsumexp) needs no second trip to memory: this is the strict lower bound.
        """
        first, second = self.input_names()
        num_elements = int(np.prod(self.shape))
        read = 4 * num_elements
        read += 4 * self.shape[0] if second == "labels_int" else 4 * num_elements
        write = 4 * num_elements if mode == "forward_backward" else 0
        return read + write


# Liger-Kernel's published H100 reference point (B·T = 16384, V = 131072, float32): fused
# cross-entropy forward+backward 14.3 ms against 33.9 ms for PyTorch. Only run on an accelerator.
LIGER_CASE_SHAPE = (16384, 131072)
LIGER_REFERENCE_MS = {"Liger-Kernel (H100, published)": 14.3, "PyTorch (H100, published)": 33.9}


def cases(size: str, accelerator: bool = False) -> list[Case]:
    """Every (family, shape) case of the ``full`` or ``quick`` suite; on an accelerator the
    full suite adds sparse softmax cross-entropy at Liger-Kernel's reference size."""
    sizes = SIZES[size]
    out = [Case(family, shape) for shape in sizes["softmax"] for family in SOFTMAX_FAMILIES]
    out += [Case(family, shape) for shape in sizes["elementwise"]
            for family in ELEMENTWISE_FAMILIES]
    if accelerator and size == "full":
        out.append(Case("sparse_softmax_cross_entropy", LIGER_CASE_SHAPE))
    return out


def make_inputs(case: Case) -> dict[str, np.ndarray]:
    """The two float32/int32 input arrays of ``case``, from a generator seeded by its shape.

    Cases of the same shape share their arrays (the sparse and dense cross-entropies see the
    same logits and the same labels, integer and one-hot).
    """
    first, second = case.input_names()
    arrays = _random_arrays(case.shape, case.is_softmax, first == "predictions")
    if second == "labels_onehot":
        labels = arrays["labels_int"]
        onehot = np.zeros(case.shape, np.float32)
        onehot[np.arange(case.shape[0]), labels] = 1.0
        return {first: arrays[first], second: onehot}
    return {first: arrays[first], second: arrays[second]}


@functools.lru_cache(maxsize=1)
def _random_arrays(shape: tuple[int, ...], softmax: bool, regression: bool):
    rng = np.random.default_rng(zlib.crc32(repr((shape, softmax, regression)).encode()))
    if softmax:
        logits = rng.standard_normal(shape, dtype=np.float32)
        labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
        return {"logits": logits, "labels_int": labels}
    if regression:
        return {"predictions": rng.standard_normal(shape, dtype=np.float32),
                "targets": rng.standard_normal(shape, dtype=np.float32)}
    logits = 2.0 * rng.standard_normal(shape, dtype=np.float32)
    labels = (rng.random(shape, dtype=np.float32) < 0.3).astype(np.float32)
    return {"logits": logits, "labels_binary": labels}


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """CRC32 of the inputs' bytes, to prove every framework measured the same data."""
    crc = 0
    for name in sorted(arrays):
        crc = zlib.crc32(np.ascontiguousarray(arrays[name]).data, crc)
    return f"{crc:08x}"
