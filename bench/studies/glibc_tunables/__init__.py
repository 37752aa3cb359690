"""Page faults, time and resident memory of fresh XLA:CPU buffers under glibc settings.

Two small workloads, each in one child process per allocator setting (the names of
:data:`bench.common.allocators.NAMES`: ``glibc``, ``glibc-tunables``, ``glibc-hugetlb``,
``glibc-nommap``, ``mimalloc``, ``tcmalloc``), the children run round-robin ``--rounds`` times:

- ``x2``: a jitted ``x * 2`` on a 524 MB float32 array, whose output XLA allocates
  afresh on every call: milliseconds (wall and CPU), minor page faults per call;
- ``varying``: 40 arrays of 48 to 600 MB (sizes from a fixed seed) copied from
  NumPy, doubled by XLA and freed, as a program with data of changing sizes does:
  the resident memory at the end and at its peak, which shows what a setting that
  keeps freed memory costs.

Run from the repository root::

    python -m bench.studies.glibc_tunables --allocators glibc,glibc-tunables,glibc-nommap,mimalloc
"""
