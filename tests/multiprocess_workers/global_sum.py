"""Worker: each process contributes its rows to one global array; every process sums all."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from process_group import initialize

worker = initialize()

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

mesh = Mesh(np.array(jax.devices()), ("data",))
local = np.arange(4.0, dtype=np.float32) + 4 * worker.process_id
rows = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("data")), local)
total = float(jax.jit(jnp.sum)(rows))
(worker.out_dir / f"result-{worker.process_id}.json").write_text(json.dumps(
    {"total": total, "devices": jax.device_count(), "local_devices": jax.local_device_count()}))
