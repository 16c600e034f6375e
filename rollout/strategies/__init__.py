"""Rollout strategies: presets of primitives, pilot selection and the controller that runs them."""
