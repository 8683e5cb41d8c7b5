"""The one source of truth for what the runtime generates, per person and per frame.

Two vectors matter:

* the *motion* vector the diffusion model denoises (``MOTION_CHANNELS``): the ARKit face
  shapes except the eight ``eyeLook*`` ones, head rotation, and a cyclopean gaze direction
  relative to the head;
* the *output* parameters handed to users and the bake (``OUTPUT_FACE_CHANNELS`` plus head
  and per-eye angles): all 52 ARKit shapes, the ``eyeLook*`` ones derived from gaze, and each
  eye's own yaw/pitch converging on the fixation point (see ``gaze.py``).

Angles are radians. Yaw turns left (about the head's up axis), pitch looks up, roll tilts the
head toward its right shoulder. Head angles are relative to the rig's rest pose; gaze and
each eye's angles are relative to the (rotated) head.
"""
from __future__ import annotations

import numpy as np

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)
assert len(ARKIT_BLENDSHAPES) == 52

EYE_LOOK_SHAPES: tuple[str, ...] = tuple(n for n in ARKIT_BLENDSHAPES if n.startswith("eyeLook"))
# Face shapes the model generates; eyeLook* are derived from gaze so shapes and bones agree.
MODEL_FACE_CHANNELS: tuple[str, ...] = tuple(n for n in ARKIT_BLENDSHAPES if n not in EYE_LOOK_SHAPES)
OUTPUT_FACE_CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES

HEAD_CHANNELS: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
GAZE_CHANNELS: tuple[str, ...] = ("gazeYaw", "gazePitch")          # cyclopean, relative to head
EYE_CHANNELS: tuple[str, ...] = ("eyeYawLeft", "eyePitchLeft", "eyeYawRight", "eyePitchRight")

MOTION_CHANNELS: tuple[str, ...] = MODEL_FACE_CHANNELS + HEAD_CHANNELS + GAZE_CHANNELS
MOTION_DIM = len(MOTION_CHANNELS)  # 49

FACE_SLICE = slice(0, len(MODEL_FACE_CHANNELS))
HEAD_SLICE = slice(FACE_SLICE.stop, FACE_SLICE.stop + len(HEAD_CHANNELS))
GAZE_SLICE = slice(HEAD_SLICE.stop, HEAD_SLICE.stop + len(GAZE_CHANNELS))
HEAD_AND_GAZE_SLICE = slice(HEAD_SLICE.start, GAZE_SLICE.stop)     # adjacent: where a person looks

# Columns inside a head vector (HEAD_CHANNELS), a gaze vector (GAZE_CHANNELS) and an eyes
# vector (EYE_CHANNELS: each eye's yaw then pitch).
HEAD_PITCH, HEAD_YAW, HEAD_ROLL = (HEAD_CHANNELS.index(n) for n in ("headPitch", "headYaw", "headRoll"))
GAZE_YAW, GAZE_PITCH = (GAZE_CHANNELS.index(n) for n in ("gazeYaw", "gazePitch"))
EYE_LEFT = slice(EYE_CHANNELS.index("eyeYawLeft"), EYE_CHANNELS.index("eyePitchLeft") + 1)
EYE_RIGHT = slice(EYE_CHANNELS.index("eyeYawRight"), EYE_CHANNELS.index("eyePitchRight") + 1)

# The layout condition of one person, seen from their own rest head (geometry.layout_features):
# unit direction to the partner's eyes, log distance in metres, the partner's facing direction.
LAYOUT_CHANNELS: tuple[str, ...] = ("partnerDirX", "partnerDirY", "partnerDirZ", "partnerLogDistance",
                                    "partnerFacingX", "partnerFacingY", "partnerFacingZ")
LAYOUT_DIM = len(LAYOUT_CHANNELS)
LAYOUT_PARTNER_DIRECTION = slice(0, 3)
LAYOUT_LOG_DISTANCE = 3
LAYOUT_PARTNER_FACING = slice(4, 7)

# Physical ranges (radians for angles). Values outside are clipped after sampling.
HEAD_LIMITS = {"headPitch": (-0.6, 0.6), "headYaw": (-1.3, 1.3), "headRoll": (-0.5, 0.5)}
GAZE_LIMITS = {"gazeYaw": (-0.8, 0.8), "gazePitch": (-0.6, 0.6)}


def channel_index(name: str) -> int:
    """Index of a motion channel by name (KeyError names the unknown channel)."""
    try:
        return MOTION_CHANNELS.index(name)
    except ValueError:
        raise KeyError(f"unknown motion channel {name!r}") from None


def motion_limits() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound per motion channel."""
    lo = np.zeros(MOTION_DIM, dtype=np.float32)
    hi = np.ones(MOTION_DIM, dtype=np.float32)
    for name, (a, b) in {**HEAD_LIMITS, **GAZE_LIMITS}.items():
        i = channel_index(name)
        lo[i], hi[i] = a, b
    return lo, hi


def clip_motion(motion: np.ndarray) -> np.ndarray:
    """Clip a (..., MOTION_DIM) array into the physical ranges."""
    lo, hi = motion_limits()
    return np.clip(motion, lo, hi)


def pack_motion(face: dict[str, np.ndarray], head: np.ndarray, gaze: np.ndarray) -> np.ndarray:
    """Build a (T, MOTION_DIM) array from named face curves (missing ones are 0), head (T, 3)
    and gaze (T, 2)."""
    head = np.asarray(head, dtype=np.float32)
    t = head.shape[0]
    out = np.zeros((t, MOTION_DIM), dtype=np.float32)
    unknown = set(face) - set(MODEL_FACE_CHANNELS)
    if unknown:
        raise KeyError(f"not model face channels: {sorted(unknown)}")
    for name, curve in face.items():
        out[:, MODEL_FACE_CHANNELS.index(name)] = curve
    out[:, HEAD_SLICE] = head
    out[:, GAZE_SLICE] = gaze
    return out


# Per-frame conversational role of one person, as the role embedding sees it.
ROLE_SILENT, ROLE_SPEAKING, ROLE_LISTENING, ROLE_BOTH = 0, 1, 2, 3
ROLE_NAMES = ("silent", "speaking", "listening", "both")


def roles_from_activity(own: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Per-frame role ids of a person from two boolean voice-activity tracks."""
    own = np.asarray(own, dtype=bool)
    partner = np.asarray(partner, dtype=bool)
    roles = np.full(own.shape, ROLE_SILENT, dtype=np.int64)
    roles[own & ~partner] = ROLE_SPEAKING
    roles[~own & partner] = ROLE_LISTENING
    roles[own & partner] = ROLE_BOTH
    return roles
