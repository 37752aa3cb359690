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

The mesh holds this process's local devices (single-process data parallelism).
With ``mesh=None`` (or a single local device and the default ``"auto"``) every
function here is the identity or plain ``jax.jit``: the one-device path is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "data"

MeshSpec = str | bool | int | Mesh | Sequence[jax.Device] | None


def resolve_mesh(mesh: MeshSpec = "auto") -> Mesh | None:
    """The 1-D mesh to split batches over, or ``None`` for the one-device path.

    Args:
      mesh: ``"auto"`` (default) or ``True``: all local devices when there is more
        than one, else ``None``; an ``int`` ``k``: the first ``k`` local devices
        (``1`` gives ``None``); a sequence of devices: a mesh over exactly those
        (even one); a 1-D ``jax.sharding.Mesh``: used as it is (its axis becomes
        ``Auto`` if it was ``Explicit``); ``None`` or ``False``: no mesh.

    Returns:
      A ``jax.sharding.Mesh`` with one ``Auto`` axis, or ``None``.

    Raises:
      ValueError: for a mesh with more than one axis, an unknown string, or a
        device count outside ``[1, jax.local_device_count()]``.

    >>> import jax
    >>> resolve_mesh(None) is None
    True
    >>> resolve_mesh("auto") is None or resolve_mesh("auto").size == jax.local_device_count()
    True
    >>> one = resolve_mesh(jax.local_devices()[:1])
    >>> one.axis_names, one.size
    (('data',), 1)
    """
    if mesh is None or mesh is False:
        return None
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
        devices = jax.local_devices()
        return _mesh_over(devices) if len(devices) > 1 else None
    if isinstance(mesh, (int, np.integer)):
        available = jax.local_device_count()
        if not 1 <= mesh <= available:
            raise ValueError(f"`mesh={mesh}` devices requested, but {available} local devices exist.")
        return _mesh_over(jax.local_devices()[:mesh]) if mesh > 1 else None
    devices = list(mesh)
    if not devices or not all(isinstance(device, jax.Device) for device in devices):
        raise ValueError(f"`mesh` as a sequence must hold jax devices, got {mesh!r}.")
    return _mesh_over(devices)


def _mesh_over(devices: Sequence[jax.Device]) -> Mesh:
    return Mesh(np.array(devices), (BATCH_AXIS,), axis_types=(AxisType.Auto,))


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

    Leaves already replicated on ``mesh`` are returned as they are (no copy).
    """
    if mesh is None:
        return tree
    return jax.device_put(tree, replicated(mesh))


def put_batch(tree: Any, mesh: Mesh | None) -> Any:
    """Move a batch to the device(s): split along the first axis over ``mesh``.

    Args:
      tree: a pytree of host arrays that all share the batch size as first axis.
      mesh: the mesh from :func:`resolve_mesh`; ``None`` places the batch on the
        default device (``jax.device_put``), the one-device path.

    Returns:
      The batch as device arrays; split over the mesh when its size divides the
      device count, else replicated on every device (same values, no split).

    >>> import numpy as np
    >>> batch = put_batch({"x": np.ones((4, 3), np.float32)}, None)
    >>> batch["x"].shape
    (4, 3)
    """
    if mesh is None:
        return jax.device_put(tree)
    sizes = {np.shape(leaf)[0] for leaf in jax.tree.leaves(tree)}
    divisible = all(size % mesh.size == 0 for size in sizes)
    return jax.device_put(tree, batch_sharded(mesh) if divisible else replicated(mesh))


def jit(fn: Callable, mesh: Mesh | None, *, replicated_outputs: bool) -> Callable:
    """``jax.jit(fn)``; on a mesh with every output replicated when ``replicated_outputs``.

    Replicated outputs keep the state and the accumulators in the placement that
    :func:`replicate` gives their inputs, so the next call is not traced again.
    """
    if mesh is None or not replicated_outputs:
        return jax.jit(fn)
    return jax.jit(fn, out_shardings=replicated(mesh))
