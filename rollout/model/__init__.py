"""The simulation model: world (units, defects, pre-drawn luck), state and event mechanisms."""
