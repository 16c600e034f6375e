"""Calibration: fitting a config's uncertain parameters to the reported rollout.

- ``calibrate``: approximate Bayesian computation by rejection (prior draws, one run each,
  distances to the reported targets, the accepted sample and its medians);
- ``output``: what a calibration leaves behind (the report, the calibrated config with its
  record, every draw as CSV, the fit figure);
- ``workflow``: a config file's whole calibration, as ``rollout calibrate`` runs it.

It sits on the model and on the experiment layer (``rollout.experiment``: the settable config
paths, the executors that run the draws).
"""
