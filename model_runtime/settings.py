"""What an artist or a script chooses for one generation, its defaults, and its checks.

No PyTorch here: the Blender panel, the add-on's API and the CLI take their defaults from
``GenerationSettings()`` and check the same way before any work starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .blinks import NATURAL_PER_MINUTE
from .errors import TalkingTogetherError

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_STEPS = 200
MAX_GUIDANCE = 10.0
STEP_SPACING_RANGE = (0.25, 4.0)
MAX_BLINKS_PER_MINUTE = 60.0
OUTPUT_FPS_RANGE = (1.0, 1000.0)


@dataclass
class GenerationSettings:
    seed: int = 0
    steps: int = 6                 # sampler steps ("quality")
    # Classifier-free guidance of head and gaze: the panel's "Expressiveness" (1 = off). 2 gives
    # the shipped pair people's amount of head turning and head speed
    # (docs/evaluation/OBJECTIVE.md, "Expressiveness").
    guidance: float = 2.0
    # ... and of the face: lips are closest to people's at low guidance, so the face keeps its own
    face_guidance: float = 1.5
    # Head yaw, head pitch and gaze each take their measured share of the guidance above 1
    # (pipeline.AXIS_GUIDANCE_SHARES); off: one scale for all of head and gaze.
    guidance_per_axis: bool = True
    eta: float = 0.0               # fresh noise per sampler step: 0 deterministic DDIM, 1 ancestral
    # Where the steps fall (sampling.ddim_timesteps): above 1 more at high noise, where the
    # conversation is decided. 1.5 brings the shipped pair's looking away and nodding close to
    # people's at no extra cost (docs/evaluation/OBJECTIVE.md, "Steps where the conversation is decided").
    step_spacing: float = 1.5
    device: str = "auto"           # auto | cpu | cuda | mps
    checkpoint: str | None = None  # None: the shipped default weights
    window_seconds: float = 10.24  # frames per model call: memory is bounded by this
    overlap_seconds: float = 2.56
    # Gaze this close to the partner's eyes is snapped exactly onto them: the lock corrects aim,
    # so it stops where looking at someone stops (geometry.LOOK_AT_TOLERANCE_DEG) and never turns
    # a glance away into contact (docs/evaluation/OBJECTIVE.md: 12 degrees hid one in seven).
    gaze_lock_degrees: float = 8.0
    blinks_per_minute: float = NATURAL_PER_MINUTE  # at least this many (0: the model's own only)
    output_fps: float | None = None  # None: the model's own 25 fps

    def checked(self) -> "GenerationSettings":
        """These settings with numbers made plain; TalkingTogetherError names the first bad one."""
        def number(name, lo, hi):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TalkingTogetherError(f"{name.replace('_', ' ')} must be a number, got {value!r}") from None
            if not (math.isfinite(value) and lo <= value <= hi):
                raise TalkingTogetherError(f"{name.replace('_', ' ')} must be between {lo:g} and {hi:g}, "
                                           f"got {value!r}")
            return value

        steps = number("steps", 1, MAX_STEPS)
        if steps != int(steps):
            raise TalkingTogetherError(f"steps must be a whole number, got {self.steps!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise TalkingTogetherError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.device not in DEVICES:
            raise TalkingTogetherError(f"unknown device {self.device!r}; use {', '.join(DEVICES)}")
        return replace(
            self, steps=int(steps), guidance=number("guidance", 0.0, MAX_GUIDANCE),
            face_guidance=number("face_guidance", 0.0, MAX_GUIDANCE), eta=number("eta", 0.0, 1.0),
            step_spacing=number("step_spacing", *STEP_SPACING_RANGE),
            blinks_per_minute=number("blinks_per_minute", 0.0, MAX_BLINKS_PER_MINUTE),
            window_seconds=number("window_seconds", 1.0, 600.0),
            overlap_seconds=number("overlap_seconds", 0.0, 300.0),
            gaze_lock_degrees=number("gaze_lock_degrees", 0.0, 90.0),
            output_fps=None if self.output_fps is None else number("output_fps", *OUTPUT_FPS_RANGE))


DEFAULTS = GenerationSettings()
