"""The experiment layer: running the model many times and keeping what it computed.

- ``designs``: which parameter values each design point of a sweep runs (grid, Latin hypercube,
  Sobol/Saltelli, scenarios) and the configuration of each point;
- ``runner``: a single run's config; replicates of every strategy in blocks, the unit of work;
- ``executors``: where blocks run (this process, or Dask workers);
- ``cube``: the result cube's schema and provenance, atomic writes, opening a cube;
- ``sweep`` and ``sweep_store``: loading a sweep config, a sweep streamed block by block into a
  resumable Zarr store, and its dry-run plan;
- ``verify``: recomputing stored blocks from a cube's own config and seed, bit for bit.

It sits on the model (``rollout.model``, ``rollout.strategies``) and the configuration
(``rollout.config``, ``rollout.data``); calibration and the command line sit on it, and the
analysis reads the cubes it writes.
"""
