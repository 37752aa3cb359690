"""Data parallel training: batches split over a 1-D device mesh, state replicated.

The trainer's steps are ordinary ``jax.jit`` programs over the *global* batch;
GSPMD partitions them from the placement of their inputs. Rules:

* The mesh is 1-D (axis ``"data"`` by default, :data:`BATCH_AXIS`) with
  ``AxisType.Auto`` axes, so that any model code compiles unchanged. Parameters,
  the rest of the NNX state, the optimizer state and the metric accumulators are
  replicated on every device; each batch leaf is split along its first axis.
* Every reduction in a step (the loss's sum and divisor, metric sums, batch
  statistics) is written over the global batch, so XLA turns it into a global
  sum (all-reduce): the result equals the one-device result up to float32
  summation order. There is no mean of per-shard means anywhere.
* A batch whose size does not divide the device count is padded up to the next
  multiple with zero-weight rows (see ``jaxloss.train.batching.batch_indices``);
  the trainer's loss rescaling (``jaxloss.train.objectives.padding_rescale``)
  makes padded rows count neither in the numerator nor in the denominator, also
  for a loss with its own mask (``ignore_class``). A batch that cannot be padded
  (a loss that reduces over the batch itself or pairs its examples,
  ``couples_examples``; a model with batch statistics) and does not divide the
  device count is replicated instead: exact, but not split.
* Inputs are placed explicitly (:func:`replicate`, :func:`put_batch`) before each
  call, so every call sees the same shardings and the step is traced once per
  batch shape, as on one device.

Under ``jax.distributed`` (several processes, :func:`initialize_distributed`) the
default mesh holds every process's devices, in process order. The steps are the same
programs; each process places only its addressable shards of every batch
(:func:`put_batch`), from the full arrays (``inputs="global"``: every process passes
the same data) or from its own rows (``inputs="process_local"``: a per-host input
pipeline; the global batch is the processes' local batches in process order). The
state stays replicated on every device of every process, so each process holds the
whole model, reads the same logs and gets the same history. The settings that decide
the batches are compared between processes before the first step
(:func:`check_processes_agree`): a difference is the same ``ValueError`` in every
process, not a hang in the first collective.

With ``mesh=None`` (or a single device and the default ``"auto"``) every function
here is the identity or plain ``jax.jit``: the one-device path is unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "data"
#: How ``fit``/``evaluate``/``predict`` read their arrays under ``jax.distributed``.
INPUTS = ("global", "process_local")
Inputs = Literal["global", "process_local"]

MeshSpec = str | bool | int | Mesh | Sequence[jax.Device] | None


def resolve_mesh(mesh: MeshSpec = "auto") -> Mesh | None:
    """The 1-D mesh to split batches over, or ``None`` for the one-device path.

    Args:
      mesh: ``"auto"`` (default) or ``True``: all devices (``jax.devices()``: every
        process's under ``jax.distributed``) when there is more than one, else
        ``None``; an ``int`` ``k``: the first ``k`` devices (``1`` gives ``None``); a
        sequence of devices: a mesh over exactly those (even one); a 1-D
        ``jax.sharding.Mesh``: used as it is (its axis becomes ``Auto`` if it was
        ``Explicit``); ``None`` or ``False``: no mesh (with several processes, each
        then trains alone on its first local device).

    Returns:
      A ``jax.sharding.Mesh`` with one ``Auto`` axis, or ``None``.

    Raises:
      ValueError: for a mesh with more than one axis, an unknown string, a
        device count outside ``[1, jax.device_count()]``, or, with several
        processes, a mesh that does not hold the same number of devices of every process.

    >>> import jax
    >>> resolve_mesh(None) is None
    True
    >>> resolve_mesh("auto") is None or resolve_mesh("auto").size == jax.device_count()
    True
    >>> one = resolve_mesh(jax.local_devices()[:1])
    >>> one.axis_names, one.size
    (('data',), 1)
    """
    if mesh is None or mesh is False:
        return None
    resolved = _resolve(mesh)
    if resolved is not None and jax.process_count() > 1:
        _check_spans_processes(resolved)
    return resolved


def _resolve(mesh: MeshSpec) -> Mesh | None:
    if isinstance(mesh, Mesh):
        if len(mesh.axis_names) != 1:
            raise ValueError(
                f"`mesh` must be 1-D (batches are split along one axis), got axes "
                f"{mesh.axis_names} of sizes {tuple(mesh.devices.shape)}."
            )
        if mesh.axis_types != (AxisType.Auto,):
            mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))
        return mesh
    if mesh is True or isinstance(mesh, str):
        if mesh not in (True, "auto"):
            raise ValueError(f"`mesh` must be 'auto', a Mesh, devices, an int or None, got {mesh!r}.")
        devices = jax.devices()
        return _mesh_over(devices) if len(devices) > 1 else None
    if isinstance(mesh, (int, np.integer)):
        available = jax.device_count()
        if not 1 <= mesh <= available:
            raise ValueError(
                f"`mesh={mesh}` devices requested, but {available} devices exist in "
                f"{jax.process_count()} process(es) ({jax.local_device_count()} local devices here)."
            )
        return _mesh_over(jax.devices()[:mesh]) if mesh > 1 else None
    devices = list(mesh)
    if not devices or not all(isinstance(device, jax.Device) for device in devices):
        raise ValueError(f"`mesh` as a sequence must hold jax devices, got {mesh!r}.")
    return _mesh_over(devices)


def _mesh_over(devices: Sequence[jax.Device]) -> Mesh:
    return Mesh(np.array(devices), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


def _check_spans_processes(mesh: Mesh) -> None:
    """With several processes, every process must own the same number (>= 1) of the mesh's devices."""
    per_process = {index: 0 for index in range(jax.process_count())}
    for device in mesh.devices.flat:
        per_process[device.process_index] += 1
    if len(set(per_process.values())) != 1:
        raise ValueError(
            f"`mesh` must hold the same number of devices of every process (each process feeds "
            f"its own devices), got {per_process} (process index: devices)."
        )


def spans_processes(mesh: Mesh | None) -> bool:
    """Whether ``mesh`` holds devices of other processes (``jax.distributed`` training).

    >>> spans_processes(None), spans_processes(resolve_mesh(jax.local_devices()[:1]))
    (False, False)
    """
    return mesh is not None and any(
        device.process_index != jax.process_index() for device in mesh.devices.flat
    )


def local_device_count(mesh: Mesh | None) -> int:
    """How many of ``mesh``'s devices this process feeds (1 without a mesh)."""
    if mesh is None:
        return 1
    return sum(device.process_index == jax.process_index() for device in mesh.devices.flat)


def num_processes(mesh: Mesh | None) -> int:
    """How many processes feed ``mesh`` (1 without a mesh or on one process)."""
    return len({device.process_index for device in mesh.devices.flat}) if mesh is not None else 1


def process_order(mesh: Mesh) -> list[int]:
    """The process indices in the order their devices (and their rows of a batch) come in ``mesh``."""
    order: list[int] = []
    for device in mesh.devices.flat:
        if device.process_index not in order:
            order.append(device.process_index)
    return order


def check_inputs(inputs: Any) -> str:
    """``inputs`` as ``"global"`` or ``"process_local"``, or ``ValueError``.

    >>> check_inputs("process_local")
    'process_local'
    """
    if inputs not in INPUTS:
        raise ValueError(f"`inputs` must be 'global' or 'process_local', got {inputs!r}.")
    return inputs


def num_devices(mesh: Mesh | None) -> int:
    """How many devices a batch is split over (1 without a mesh)."""
    return 1 if mesh is None else mesh.size


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits the first axis over the mesh's axis."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    """``tree`` with every leaf copied to every device of ``mesh`` (unchanged without a mesh).

    Leaves already replicated on ``mesh`` are returned as they are (no copy). With
    several processes every process must pass the same values (each places its own copies).
    """
    if mesh is None:
        return tree
    sharding = replicated(mesh)
    if not spans_processes(mesh):
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda leaf: _put_replicated(leaf, sharding), tree)


def _put_replicated(leaf: Any, sharding: NamedSharding) -> Any:
    if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
        return leaf
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
        # Keys cannot be placed on other processes' devices directly; their data can.
        data = jax.device_put(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    return jax.device_put(leaf, sharding)


def put_batch(tree: Any, mesh: Mesh | None, inputs: Inputs = "global") -> Any:
    """Move a batch to the device(s): split along the first axis over ``mesh``.

    Args:
      tree: a pytree of host arrays that all share the batch size as first axis.
      mesh: the mesh from :func:`resolve_mesh`; ``None`` places the batch on the
        default device (``jax.device_put``), the one-device path.
      inputs: on a mesh that spans processes, what ``tree`` holds: ``"global"``, the
        whole batch (the same in every process; each process places the rows of its
        own devices), or ``"process_local"``, this process's rows of the batch (the
        global batch is the processes' rows in the order of their devices in the mesh).

    Returns:
      The batch as device arrays; split over the mesh when its size divides the
      device count, else replicated on every device (same values, no split).

    Raises:
      ValueError: ``inputs="process_local"`` and a size that this process's device
        count does not divide (such a batch cannot be replicated from one process's rows).

    >>> import numpy as np
    >>> batch = put_batch({"x": np.ones((4, 3), np.float32)}, None)
    >>> batch["x"].shape
    (4, 3)
    """
    if mesh is None:
        return jax.device_put(tree)
    sizes = {np.shape(leaf)[0] for leaf in jax.tree.leaves(tree)}
    if spans_processes(mesh) and inputs == "process_local":
        local = local_device_count(mesh)
        if any(size % local for size in sizes):
            raise ValueError(
                f"inputs='process_local': a local batch of {sorted(sizes)} rows cannot be split "
                f"over this process's {local} devices, and this loss or model does not allow "
                "padding; choose a batch size whose share per process divides its device count."
            )
        sharding = batch_sharded(mesh)
        return jax.tree.map(lambda leaf: jax.make_array_from_process_local_data(sharding, leaf), tree)
    divisible = all(size % mesh.size == 0 for size in sizes)
    sharding = batch_sharded(mesh) if divisible else replicated(mesh)
    if not spans_processes(mesh):
        return jax.device_put(tree, sharding)
    return jax.tree.map(
        lambda leaf: jax.make_array_from_callback(np.shape(leaf), sharding, lambda index: leaf[index]),
        tree,
    )


def jit(fn: Callable, mesh: Mesh | None, *, replicated_outputs: bool) -> Callable:
    """``jax.jit(fn)``; on a mesh with every output replicated when ``replicated_outputs``.

    Replicated outputs keep the state and the accumulators in the placement that
    :func:`replicate` gives their inputs, so the next call is not traced again. On a
    mesh that spans processes every output is replicated, so that each process can
    read all of it (``predict`` returns the whole result in every process).
    """
    if mesh is None or not (replicated_outputs or spans_processes(mesh)):
        return jax.jit(fn)
    return jax.jit(fn, out_shardings=replicated(mesh))


def _code(value: Any) -> int:
    """``value`` as an int32: itself when it is a small int, else a CRC-32 of its ``repr``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and -(2**31) < value < 2**31:
        return int(value)
    return int(np.array(zlib.crc32(repr(value).encode()), np.uint32).view(np.int32))


def check_processes_agree(
    mesh: Mesh | None, values: Mapping[str, Any], error: ValueError | None = None, *, where: str = "fit"
) -> None:
    """Check that every process of ``mesh`` has the same ``values``, and that none failed.

    Every process must call this at the same point (it is a collective over
    ``mesh``'s processes). ``values`` maps a name to what this process has (an int,
    shown in the message, or anything with a ``repr``, compared through a CRC-32);
    ``error`` is the ``ValueError`` this process's own checks raised, if any. Without
    a mesh that spans processes it only re-raises ``error``.

    Raises:
      ValueError: ``error`` in the process that raised it; in every other process, a
        ``ValueError`` naming the process(es) that failed; when no process failed
        but a value differs, the same ``ValueError`` in every process, naming the
        first value that differs and, for ints, each process's value.

    On one process there is nothing to compare; this process's own error is raised:

    >>> check_processes_agree(None, {"batch_size": 32})
    >>> check_processes_agree(None, {}, ValueError("`x` is empty"))
    Traceback (most recent call last):
    ...
    ValueError: `x` is empty
    """
    if not spans_processes(mesh):
        if error is not None:
            raise error
        return
    names = list(values)
    # First a fixed-size exchange (did each process fail? which values does it have?), so
    # that the second one has the same size in every process.
    header = np.array([int(error is not None), len(names), _code(tuple(names))], np.int32)
    headers = np.asarray(multihost_utils.process_allgather(header))
    failed = np.flatnonzero(headers[:, 0]).tolist()
    if error is not None:
        raise error
    if failed:
        raise ValueError(
            f"`{where}` stopped in every process: the arguments were rejected in process(es) "
            f"{failed}; see the error raised there."
        )
    if len({(int(row[1]), int(row[2])) for row in headers}) > 1:
        raise ValueError(f"`{where}` was called with different kinds of arguments in the processes.")
    codes = np.array([_code(values[name]) for name in names], np.int32)
    gathered = np.asarray(multihost_utils.process_allgather(codes))
    for column, name in enumerate(names):
        if len(set(gathered[:, column].tolist())) > 1:
            value = values[name]
            shown = (
                f": {gathered[:, column].tolist()} (by process index)"
                if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and _code(value) == value
                else ""
            )
            raise ValueError(f"`{where}`: {name} differs between the processes{shown}.")


def data_fingerprint(tree: Any) -> tuple[Any, ...]:
    """Shapes, dtypes and a CRC-32 of the first and last rows of every leaf (a cheap identity).

    >>> data_fingerprint(np.zeros((3, 2), np.float32)) == data_fingerprint(np.ones((3, 2), np.float32))
    False
    """
    parts = []
    for leaf in jax.tree.leaves(tree):
        array = np.asarray(leaf)
        ends = np.concatenate([array[:8].ravel(), array[-8:].ravel()]) if array.ndim else array
        parts.append((array.shape, str(array.dtype), zlib.crc32(np.ascontiguousarray(ends).tobytes())))
    return tuple(parts)


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    initialization_timeout: int = 300,
    heartbeat_timeout: int = 100,
    cpu_collectives: str | None = "gloo",
    **kwargs: Any,
) -> None:
    """Join a multi-process JAX run: ``jax.distributed.initialize`` with its timeouts named.

    Call it first, in every process, before any other JAX work. With no arguments
    JAX finds the cluster itself (SLURM, Cloud TPU, Open MPI, ...); elsewhere pass
    the coordinator's ``host:port`` (process 0's), the number of processes and this
    process's index.

    Args:
      coordinator_address: ``"host:port"`` of process 0, or ``None`` (auto-detected).
      num_processes: how many processes take part, or ``None`` (auto-detected).
      process_id: this process's index in ``[0, num_processes)``, or ``None``.
      initialization_timeout: seconds to wait for every process to join; past it
        ``jax.distributed.initialize`` raises (a process that never joins).
      heartbeat_timeout: seconds without a heartbeat after which a process counts
        as dead. When a process dies during training, the others are blocked in a
        collective; after this time the JAX runtime terminates every survivor
        (``SIGABRT``, with ``Terminating process because the JAX distributed service
        detected fatal errors`` on stderr). Restart all processes: ``fit`` resumes
        from its ``checkpoint_dir``.
      cpu_collectives: the CPU backend's cross-process collectives (``"gloo"``, or
        ``None`` to keep JAX's setting); GPU and TPU collectives are not affected.
      **kwargs: passed to ``jax.distributed.initialize`` (``local_device_ids``, ...).

    Raises:
      ValueError: a timeout that is not a positive integer.

    >>> initialize_distributed("127.0.0.1:1234", 2, 0, heartbeat_timeout=0)
    Traceback (most recent call last):
    ...
    ValueError: `heartbeat_timeout` must be a positive number of seconds (int), got 0.
    """
    for name, value in (("initialization_timeout", initialization_timeout),
                        ("heartbeat_timeout", heartbeat_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive number of seconds (int), got {value!r}.")
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id,
        initialization_timeout=int(initialization_timeout),
        heartbeat_timeout_seconds=int(heartbeat_timeout), **kwargs,
    )
