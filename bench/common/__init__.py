"""What the suite and the studies share; it measures nothing by itself and has no command.

- :mod:`bench.common.timing`: the interleaved measuring loop and its budgets;
- :mod:`bench.common.machine`: the machine a result names, its copy bandwidth and pace;
- :mod:`bench.common.allocators`: the allocator of a process, children under another;
- :mod:`bench.common.jax_entries`: a JAX loss kernel compiled and ready to time;
- :mod:`bench.common.device_study`: the command line and files of a single-device study;
- :mod:`bench.common.markdown`: the tables of the result files;
- :mod:`bench.common.provenance`: machine, date, commit, command, versions and load that
  every results file records.
"""
