"""Codes shared by the mechanisms: unit states, province stages and phases, event kinds."""

# Unit states (MODEL.md section 5).
NOT_STARTED, PREPARING, SHADOW, PAYING, SUSPENDED = range(5)
UNIT_STATES = ("not_started", "preparing", "shadow", "paying", "suspended")

# Province stages (reported) and phases (set by the strategy).
STAGES = ("waiting", "pilot", "evaluation", "recalibration", "scale_up", "complete", "suspended")
WAITING, PILOT, EVALUATION, RECALIBRATION, SCALE_UP, COMPLETE, SUSPENDED_STAGE = range(7)

# Event log kinds (docs/model.md section 6, "The event log"). Stored by name in the cube.
EVENT_KINDS = ("start", "ready", "shadow", "pay", "detect", "report", "patch", "release",
               "adopt", "suspend", "resume", "phase", "fix", "introduce", "cause",
               "cause_entrenched")
