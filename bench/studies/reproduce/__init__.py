"""The document's training runs reproduced with jaxloss: each value it prints next to ours.

``python -m bench.studies.reproduce [--mnist-epochs N] [--seed S] [--out FOLDER]`` runs the
training reproductions of ``python -m jaxloss reproduce`` (binary, custom, mnist, l2) in one
process and writes their comparison rows (run, quantity, the document's value, jaxloss's,
why they differ) with the run's provenance to
``bench/results/reproduce/<machine>-<date>-<commit>.json`` and ``.md``. The training guide's
table and figures are read from the newest such file.
"""
