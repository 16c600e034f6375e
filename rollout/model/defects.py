"""A defect's traits, drawn from its own keyed stream (MODEL.md section 4).

Each defect of a track (initial, or born in a release) has a kind, a severity and a
detectability (lognormal around the kind's medians), the contexts it manifests in, and one
pre-drawn uniform per release that decides whether that release fixes it. Its key (release index,
index within the release) names its stream, so every strategy meets the same defect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import RolloutConfig
from ..streams import stream

N_CONTEXTS = 6
CONTEXT_NAMES = ("low_urban", "low_rural", "mid_urban", "mid_rural", "high_urban", "high_rural")
FIX_ATTEMPTS = 64         # releases for which each defect carries a pre-drawn fix uniform


@dataclass(frozen=True)
class DefectTraits:
    """What one defect is; ``key`` = (release index that created it, index within the release)."""

    key: tuple[int, int]
    kind: int
    severity: float
    detectability: float
    tau_learn: float
    tau_unlearn: float
    contexts: np.ndarray      # bool (N_CONTEXTS,)
    fix_uniforms: np.ndarray  # (FIX_ATTEMPTS,) uniforms; fixed in release j if u[j-1] < q_fix



def draw_defect(config: RolloutConfig, seed: int, replicate: int, track: int,
                key: tuple[int, int], severity_factor: float = 1.0) -> DefectTraits:
    """Draw one defect's traits from its own stream (standardised draws, then the parameters)."""
    d = config.defects
    rng = stream(seed, replicate, "defect", track, key[0], key[1])
    u_kind, z_sev, z_det, u_univ = rng.random(), rng.standard_normal(), rng.standard_normal(), \
        rng.random()
    u_ctx = rng.random(N_CONTEXTS)
    fix = rng.random(FIX_ATTEMPTS)
    kinds = d.kinds.as_list()
    shares = np.array([k.share for k in kinds])
    kind = int(np.searchsorted(np.cumsum(shares) / shares.sum(), u_kind, side="right"))
    kind = min(kind, len(kinds) - 1)
    spec = kinds[kind]
    contexts = np.ones(N_CONTEXTS, bool) if u_univ < d.universal_prob else u_ctx < d.context_prob
    return DefectTraits(
        key=key, kind=kind,
        severity=float(d.severity_median * spec.severity_factor * severity_factor
                       * np.exp(d.severity_sigma * z_sev)),
        detectability=float(d.detectability_median * spec.detectability_factor
                            * np.exp(d.detectability_sigma * z_det)),
        tau_learn=spec.tau_learn, tau_unlearn=spec.tau_unlearn,
        contexts=contexts, fix_uniforms=fix,
    )
