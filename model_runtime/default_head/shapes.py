"""The 52 ARKit shape keys of the default head as vertex offsets (numpy only).

Each shape is a sum of smooth, localised displacements over the rest vertices, using the
per-vertex attributes default_head.geometry records (which part, which mouth ring and angle, which
eyelid and where on it). 'Left' is the person's own left (+X), as ARKit names it.
"""
from __future__ import annotations

import numpy as np

from ..channels import ARKIT_BLENDSHAPES
from . import geometry as geo
from .geometry import gauss, smoothstep

JAW_DEGREES = 17.0      # jawOpen = 1 turns the lower face this far about the jaw pivot
SIDES = {"Left": 1.0, "Right": -1.0}


class Face:
    """Rest vertices plus derived region weights shared by the shapes."""

    def __init__(self, verts: np.ndarray, attrs: dict):
        self.p = verts
        self.n = len(verts)
        part = attrs["part"]
        self.head = part == geo.HEAD
        self.lid_upper, self.lid_lower = part == geo.LID_UPPER, part == geo.LID_LOWER
        self.teeth_lower, self.tongue = part == geo.TEETH_LOWER, part == geo.TONGUE
        self.attrs = attrs
        ring = np.nan_to_num(attrs["ring"], nan=99).astype(int)
        self.ring = ring
        self.phi = np.nan_to_num(attrs["phi"])
        self.s = np.nan_to_num(attrs["s"])
        x, y, z = verts.T
        self.v = z - geo.MOUTH_Z
        front = smoothstep(-0.035, -0.065, y)
        mouth = self.head & (ring <= 4)
        # Lip weight: 1 on the lips, fading over the surrounding skin and into the mouth.
        bag_w = np.interp(ring, [-6, -5, -4, -3, -2, -1], [0.2, 0.2, 0.3, 0.5, 0.8, 1.0])
        skin_w = np.exp(-0.5 * ((self.s - 0.032) / 0.012) ** 2) * front
        self.lip = np.where(mouth, np.where(ring < 0, bag_w, np.where(ring == 4, 0.85, 1.0)), skin_w) * self.head
        up_ring = smoothstep(-0.25, 0.25, np.sin(self.phi))
        up_skin = smoothstep(-0.006, 0.006, self.v)
        blend = smoothstep(0.032, 0.05, self.s)
        self.upper = np.where(self.head, up_ring * (1 - blend) + up_skin * blend, 0.0)
        self.lower = np.where(self.head, 1 - self.upper, 0.0)
        jaw_z = smoothstep(geo.MOUTH_Z + 0.004, geo.MOUTH_Z - 0.02, z) * smoothstep(0.03, -0.01, y)
        jaw = self.lower * (1 - blend) + jaw_z * blend
        self.jaw = np.where(self.head, jaw, 0.0) + self.teeth_lower + self.tongue
        self.front = front * (self.head | (part == geo.BROW))
        self.mouth = mouth

    def zeros(self) -> np.ndarray:
        return np.zeros((self.n, 3))

    def side(self, sign: float, width=0.006) -> np.ndarray:
        return smoothstep(-width, width, sign * self.p[:, 0])

    def corner(self, sign: float, radius=0.011) -> np.ndarray:
        return gauss(self.p, sign * 0.026, geo.MOUTH_Z, radius, radius) * self.front

    def rotate_jaw(self, weight: np.ndarray, degrees: float) -> np.ndarray:
        """Offsets that turn weighted vertices about the jaw pivot (X axis): chin down, back."""
        ang = np.radians(degrees) * weight
        rel = self.p - geo.JAW_PIVOT
        out = self.zeros()
        out[:, 1] = rel[:, 1] * np.cos(ang) - rel[:, 2] * np.sin(ang) - rel[:, 1]
        out[:, 2] = rel[:, 1] * np.sin(ang) + rel[:, 2] * np.cos(ang) - rel[:, 2]
        return out

    def ring_reshape(self, width: float, heights: dict, forward: dict) -> np.ndarray:
        """Reshape the mouth rings: scale widths, set half heights per ring, push forward."""
        out = self.zeros()
        x = self.p[:, 0]
        lip_ring = self.mouth & (self.ring >= -3)
        scale = np.where(lip_ring, width, 1 - (1 - width) * 0.7 * self.lip)
        out[:, 0] = x * (scale - 1)
        for ring, h in heights.items():
            sel = self.head & (self.ring == ring)
            out[sel, 2] = np.sin(self.phi[sel]) * h - self.v[sel]
        skin = self.head & ~lip_ring
        out[skin, 2] += self.v[skin] * 0.15 * self.lip[skin]
        fwd = np.array([forward.get(int(r), 0.0) for r in np.clip(self.ring, -6, 5)])
        out[:, 1] = -np.where(self.mouth, fwd, forward.get(5, 0.0) * self.lip) * self.head
        return out

    def lids(self, sign: float, upper_deg: float = 0.0, lower_deg: float = 0.0, close: float = 0.0,
             azimuth_deg: float = 0.0) -> np.ndarray:
        """Offsets moving one eye's lid edges: degrees up (+) / down, or closing (0..1)."""
        out = self.zeros()
        a = geo.LID_AZIMUTH
        up_edge, lo_edge, prof = geo.lid_edges(a)
        shut = lo_edge + 0.35 * (geo.EYE_MID - lo_edge)
        center = geo.EYE_CENTERS["L" if sign > 0 else "R"]
        shift = np.full_like(a, np.radians(azimuth_deg)) * prof
        for part, edge, deg in ((geo.LID_UPPER, up_edge, upper_deg), (geo.LID_LOWER, lo_edge, lower_deg)):
            sel = (self.attrs["part"] == part) & (self.attrs["side"] == sign)
            new_edge = edge + np.radians(deg) * prof
            new_edge = new_edge + close * (shut - new_edge)
            out[sel] = geo.lid_positions(center, part, new_edge, shift) - self.p[sel]
        return out


def _mouth_shapes(f: Face) -> dict:
    jaw_open = f.rotate_jaw(f.jaw, JAW_DEGREES)
    close = -f.rotate_jaw(f.jaw * f.lip, JAW_DEGREES * 0.85)
    funnel = f.ring_reshape(0.62, {-3: 0.010, -2: 0.009, -1: 0.007, 0: 0.0065, 1: 0.0095, 2: 0.0125, 3: 0.015},
                            {-3: 0.004, -2: 0.006, -1: 0.008, 0: 0.011, 1: 0.011, 2: 0.010, 3: 0.007, 4: 0.004, 5: 0.004})
    pucker = f.ring_reshape(0.5, {0: 0.0008, 1: 0.0045, 2: 0.0105, 3: 0.0145},
                            {-1: 0.008, 0: 0.012, 1: 0.013, 2: 0.012, 3: 0.009, 4: 0.005, 5: 0.005})
    shapes = {"jawOpen": jaw_open, "mouthClose": close, "mouthFunnel": funnel, "mouthPucker": pucker}
    lower_jaw = f.jaw[:, None]
    shapes["jawForward"] = lower_jaw * [0, -0.007, 0]
    shapes["jawLeft"] = lower_jaw * [0.008, 0, 0]
    shapes["jawRight"] = lower_jaw * [-0.008, 0, 0]
    region = (f.lip + 0.5 * f.corner(1, 0.02) + 0.5 * f.corner(-1, 0.02))[:, None]
    shapes["mouthLeft"] = np.clip(region, 0, 1) * [0.008, 0.001, 0]
    shapes["mouthRight"] = np.clip(region, 0, 1) * [-0.008, 0.001, 0]
    lip_lo, lip_up = (f.lip * f.lower)[:, None], (f.lip * f.upper)[:, None]
    shapes["mouthRollLower"] = lip_lo * [0, 0.005, 0.003]
    shapes["mouthRollUpper"] = lip_up * [0, 0.005, -0.003]
    shapes["mouthShrugLower"] = lip_lo * [0, -0.002, 0.004] + (f.jaw * f.front)[:, None] * [0, -0.002, 0.002]
    shapes["mouthShrugUpper"] = lip_up * [0, -0.001, 0.003]
    for name, sign in SIDES.items():
        c = f.corner(sign)[:, None]
        wide = f.corner(sign, 0.02)[:, None]
        half = (f.side(sign) * f.lip)[:, None]
        cheek = (gauss(f.p, sign * 0.038, 0.15, 0.018, 0.016) * f.front)[:, None]
        shapes[f"mouthSmile{name}"] = c * [sign * 0.009, 0.004, 0.013] + cheek * [sign * 0.002, -0.002, 0.004]
        shapes[f"mouthFrown{name}"] = c * [sign * 0.001, 0.0, -0.006] + wide * [0, 0, -0.002]
        shapes[f"mouthDimple{name}"] = c * [sign * 0.004, 0.004, 0.0]
        shapes[f"mouthStretch{name}"] = c * [sign * 0.007, 0.001, -0.003] + half * f.lower[:, None] * [0, 0, -0.002]
        press = half * np.array([0, 0.002, 0]) + (half[:, 0] * -f.v * 0.4)[:, None] * [0, 0, 1]
        shapes[f"mouthPress{name}"] = press
        shapes[f"mouthLowerDown{name}"] = half * f.lower[:, None] * [0, -0.001, -0.005]
        shapes[f"mouthUpperUp{name}"] = half * f.upper[:, None] * [0, -0.001, 0.004]
        shapes[f"cheekSquint{name}"] = (gauss(f.p, sign * 0.036, 0.177, 0.014, 0.01) * f.front)[:, None] * [0, -0.001, 0.003]
        shapes[f"cheekSquint{name}"] += f.lids(sign, lower_deg=6.0)
        sneer = (gauss(f.p, sign * 0.011, 0.152, 0.007, 0.012) * f.front)[:, None]
        shapes[f"noseSneer{name}"] = sneer * [sign * 0.001, 0, 0.004] + half * f.upper[:, None] * [0, 0, 0.0015]
    puff = gauss(f.p, 0.045, geo.MOUTH_Z + 0.01, 0.016, 0.02) + gauss(f.p, -0.045, geo.MOUTH_Z + 0.01, 0.016, 0.02)
    out_dir = np.stack([np.sign(f.p[:, 0]), -0.6 * np.ones(f.n), np.zeros(f.n)], 1)
    shapes["cheekPuff"] = (puff * f.front)[:, None] * out_dir * 0.009 + f.lip[:, None] * [0, -0.002, 0]
    tip = np.nan_to_num(f.attrs["lid_t"]) * f.tongue
    shapes["tongueOut"] = f.tongue[:, None] * [0, -0.032, -0.004] + (tip * f.tongue)[:, None] * [0, -0.006, 0] \
        + (f.lip * f.lower)[:, None] * [0, -0.001, -0.004]
    return shapes


def _eye_shapes(f: Face) -> dict:
    shapes = {}
    for name, sign in SIDES.items():
        inward = -sign    # toward the nose
        shapes[f"eyeBlink{name}"] = f.lids(sign, close=1.0)
        shapes[f"eyeSquint{name}"] = f.lids(sign, upper_deg=-5.0, lower_deg=10.0)
        shapes[f"eyeWide{name}"] = f.lids(sign, upper_deg=11.0, lower_deg=-3.0)
        shapes[f"eyeLookUp{name}"] = f.lids(sign, upper_deg=8.0, lower_deg=4.0)
        shapes[f"eyeLookDown{name}"] = f.lids(sign, upper_deg=-12.0, lower_deg=-3.0)
        shapes[f"eyeLookIn{name}"] = f.lids(sign, azimuth_deg=6.0 * inward)
        shapes[f"eyeLookOut{name}"] = f.lids(sign, azimuth_deg=-6.0 * inward)
    return shapes


def _brow_shapes(f: Face) -> dict:
    shapes = {}
    inner = np.zeros(f.n)
    for name, sign in SIDES.items():
        brow = (gauss(f.p, sign * 0.03, 0.224, 0.02, 0.012) * f.front)[:, None]
        outer = (gauss(f.p, sign * 0.045, 0.222, 0.013, 0.012) * f.front)[:, None]
        inner += gauss(f.p, sign * 0.013, 0.222, 0.011, 0.011) * f.front
        shapes[f"browDown{name}"] = brow * [-sign * 0.0015, 0.001, -0.005] + f.lids(sign, upper_deg=-3.0)
        shapes[f"browOuterUp{name}"] = outer * [0, 0, 0.006]
    shapes["browInnerUp"] = inner[:, None] * [0, 0, 0.006]
    return shapes


def shape_offsets(verts: np.ndarray, attrs: dict) -> dict[str, np.ndarray]:
    """Offsets (N, 3) per ARKit shape name, in ARKit order."""
    f = Face(verts, attrs)
    shapes = {**_mouth_shapes(f), **_eye_shapes(f), **_brow_shapes(f)}
    names = ARKIT_BLENDSHAPES
    missing = set(names) - set(shapes)
    if missing:
        raise RuntimeError(f"default head lacks shapes {sorted(missing)}")
    return {n: shapes[n] for n in names}
