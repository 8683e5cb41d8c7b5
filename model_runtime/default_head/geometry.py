"""Procedural geometry of the default head (numpy only; the add-on's rig_builder turns it into
Blender data).

Armature space, metres, the face looking down -Y, +X is the person's left, Z up.
The head is one closed surface whose rings circle the mouth: the innermost rings form the
mouth interior, then the lip edge (a closed slit), the lips, and the skin out to a pole at
the back. That topology gives the lips a natural ring for jawOpen/funnel/pucker shapes.
Eyelids, teeth and tongue are loose parts of the same mesh so its shape keys move them too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HEAD_CENTER = np.array([0.0, 0.0, 0.18])
HEAD_AXES = np.array([0.074, 0.094, 0.112])    # half width, half depth, half height
MOUTH_Z = 0.118
EYE_RADIUS = 0.0125
LID_RADIUS = 0.0137
IPD = 0.063                                      # matches gaze.INTERPUPILLARY_DISTANCE
EYE_Y, EYE_Z = -0.067, 0.200
EYE_CENTERS = {"L": np.array([IPD / 2, EYE_Y, EYE_Z]), "R": np.array([-IPD / 2, EYE_Y, EYE_Z])}
JAW_PIVOT = np.array([0.0, 0.0, 0.16])
SEGMENTS = 112
_R = 0.079            # metres of face per radian around the mouth pole

# Part ids per vertex.
HEAD, LID_UPPER, LID_LOWER, TEETH_UPPER, TEETH_LOWER, TONGUE, BROW = range(7)
# Materials (indices into rig_builder.MATERIALS).
MAT_SKIN, MAT_LIPS, MAT_MOUTH, MAT_BROW, MAT_TEETH, MAT_TONGUE = range(6)

# Mouth rings: (half width, upper half height, lower half height, forward bulge).
BAG = [(0.008, 0.006, 0.006, -0.030), (0.016, 0.011, 0.011, -0.024), (0.021, 0.013, 0.013, -0.015),
       (0.023, 0.008, 0.008, -0.007), (0.0235, 0.002, 0.002, -0.003)]
LIPS = [(0.024, 0.0002, 0.0002, 0.0024), (0.0255, 0.0037, 0.0042, 0.0038),
        (0.027, 0.0075, 0.0095, 0.0033), (0.029, 0.0105, 0.0130, 0.0012),
        (0.032, 0.0140, 0.0175, 0.0)]
LIP_MATERIAL_RINGS = 3          # faces between lip rings 0..3 are lips
EYE_OPEN_UP, EYE_OPEN_LOW, EYE_MID, EYE_CORNER = np.radians([30.0, 22.0, -4.0, 56.0])


@dataclass
class HeadGeometry:
    verts: list = field(default_factory=list)     # arrays (n, 3)
    faces: list = field(default_factory=list)
    face_mat: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)    # per-vertex arrays, see add()
    count: int = 0

    def add(self, pts: np.ndarray, **attrs) -> int:
        """Append vertices with per-vertex attributes (missing ones default to 0/nan)."""
        start, n = self.count, len(pts)
        self.verts.append(np.asarray(pts, float))
        for key in set(self.attrs) | set(attrs):
            col = self.attrs.setdefault(key, [np.full(start, np.nan)] if start else [])
            col.append(np.broadcast_to(np.asarray(attrs.get(key, np.nan), float), (n,)).copy())
        self.count += n
        return start

    def quad_grid(self, start: int, rows: int, cols: int, mats, closed: bool) -> None:
        """Quads between consecutive rows of a row-major vertex grid; mats[r] per row gap."""
        for r in range(rows - 1):
            for c in range(cols if closed else cols - 1):
                c2 = (c + 1) % cols
                a, b = start + r * cols + c, start + r * cols + c2
                self.faces.append((a, b, b + cols, a + cols))
                self.face_mat.append(mats[r])

    def arrays(self):
        verts = np.concatenate(self.verts)
        attrs = {k: np.concatenate(v) for k, v in self.attrs.items()}
        return verts, self.faces, np.asarray(self.face_mat, int), attrs


def smoothstep(e0, e1, x):
    t = np.clip((np.asarray(x, float) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss(p, x0, z0, sx, sz):
    return np.exp(-((p[:, 0] - x0) ** 2 / (2 * sx * sx) + (p[:, 2] - z0) ** 2 / (2 * sz * sz)))


def _ellipsoid_hit(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Where rays from a point inside the head ellipsoid leave it."""
    o = (origin - HEAD_CENTER) / HEAD_AXES
    d = dirs / HEAD_AXES
    a = (d * d).sum(1)
    b = 2 * (d @ o)
    c = o @ o - 1.0
    t = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return origin + dirs * t[:, None]


def _sculpt(p: np.ndarray) -> np.ndarray:
    """Turn the ellipsoid into a head: narrower jaw, chin, muzzle, nose, sockets, brows."""
    p = p.copy()
    front = smoothstep(-0.035, -0.07, p[:, 1])
    low = smoothstep(HEAD_CENTER[2] + 0.01, HEAD_CENTER[2] - 0.09, p[:, 2])
    p[:, 0] *= 1 - 0.15 * low
    p[:, 1] -= front * (0.014 * gauss(p, 0, 0.083, 0.022, 0.014) + 0.010 * gauss(p, 0, 0.125, 0.03, 0.03))
    p[:, 2] -= 0.010 * gauss(p, 0, 0.072, 0.03, 0.014) * smoothstep(-0.01, -0.05, p[:, 1])
    # Nose: a ridge that grows from the bridge to the tip, then tucks in above the lip.
    z = p[:, 2]
    amp = np.interp(z, [0.143, 0.154, 0.160, 0.200], [0.0, 0.021, 0.020, 0.003])
    amp *= smoothstep(0.139, 0.147, z)
    width = np.interp(z, [0.143, 0.156, 0.2], [0.011, 0.011, 0.0065])
    p[:, 1] -= front * amp * np.exp(-p[:, 0] ** 2 / (2 * width ** 2))
    for s in (-1, 1):
        p[:, 1] -= front * 0.009 * gauss(p, s * 0.012, 0.150, 0.006, 0.006)      # nostril wings
        p[:, 1] -= front * 0.008 * gauss(p, s * 0.030, 0.222, 0.022, 0.007)      # brow ridge
        p[:, 1] -= front * 0.006 * gauss(p, s * 0.040, 0.172, 0.016, 0.012)      # cheekbones
        e = EYE_CENTERS["L" if s > 0 else "R"]
        w = np.exp(-((p[:, 0] - e[0]) ** 2 / (2 * 0.0155 ** 2) + (p[:, 2] - e[2] + 0.001) ** 2 / (2 * 0.0125 ** 2)))
        p[:, 1] += front * w * np.maximum(0.0, (e[1] + 0.004) - p[:, 1])        # eye socket
    return p


def _mouth_ring_points(ring, phi: np.ndarray) -> np.ndarray:
    """(x, z) offsets from the mouth centre for an ellipse ring (upper/lower halves differ)."""
    hw, up, lo = ring[:3]
    return np.stack([hw * np.cos(phi), np.where(np.sin(phi) >= 0, up, lo) * np.sin(phi)], 1)


def _surface_from_offsets(xz: np.ndarray) -> np.ndarray:
    """Map offsets around the mouth (metres) onto the head by the exponential map at the mouth."""
    s = np.linalg.norm(xz, axis=1)
    ang = s / _R
    dx = np.where(s > 0, xz[:, 0] / np.maximum(s, 1e-12), 0.0)
    dz = np.where(s > 0, xz[:, 1] / np.maximum(s, 1e-12), 0.0)
    dirs = np.stack([np.sin(ang) * dx, -np.cos(ang), np.sin(ang) * dz], 1)
    return _ellipsoid_hit(np.array([0.0, 0.0, MOUTH_Z]), dirs)


def _skin_rings() -> list:
    """Outer rings (half width, upper, lower, bulge): ellipses that become circles."""
    last = LIPS[-1]
    rings = []
    radii = list(np.arange(0.036, 0.14, 0.004)) + list(np.arange(0.15, np.pi * _R - 0.006, 0.012))
    for r in radii:
        t = smoothstep(last[0], 0.075, r)
        rings.append((r, r * (last[1] / last[0] * (1 - t) + t), r * (last[2] / last[0] * (1 - t) + t), 0.0))
    return rings


def _add_head_surface(g: HeadGeometry) -> float:
    """The head surface; returns the lip edge's mean y (teeth and tongue sit behind it)."""
    phi = np.linspace(0, 2 * np.pi, SEGMENTS, endpoint=False)
    outer = LIPS + _skin_rings()
    rows = []
    for ring in outer:
        p = _surface_from_offsets(_mouth_ring_points(ring, phi))
        rows.append(p)
    pts = _sculpt(np.concatenate(rows))
    # Lips bulge forward (less at the corners so they taper).
    bulge = np.concatenate([np.full(SEGMENTS, r[3]) for r in outer])
    taper = 0.45 + 0.55 * np.sqrt(np.abs(np.sin(np.tile(phi, len(outer)))))
    pts[:, 1] -= bulge * taper
    # The mouth interior hangs behind the lip edge, ending in a pole deep in the head.
    edge = pts[:SEGMENTS]
    y0 = edge[:, 1].mean()
    bag = []
    for ring in BAG:
        xz = _mouth_ring_points(ring, phi)
        bag.append(np.stack([xz[:, 0], np.full(SEGMENTS, y0 - ring[3]), MOUTH_Z + xz[:, 1]], 1))
    all_rings = np.concatenate(bag + [pts])
    ring_ids = np.repeat(np.arange(-len(BAG), len(outer)), SEGMENTS)   # 0 = lip edge
    radius = np.repeat([r[0] for r in BAG + outer], SEGMENTS)
    start = g.add(all_rings, part=HEAD, ring=ring_ids, phi=np.tile(phi, len(BAG) + len(outer)), s=radius)
    nrings = len(BAG) + len(outer)
    mats = [MAT_MOUTH] * (len(BAG) - 1) + [MAT_LIPS] * (1 + LIP_MATERIAL_RINGS) + [MAT_SKIN] * nrings
    g.quad_grid(start, nrings, SEGMENTS, mats, closed=True)
    front_pole = g.add(np.array([[0.0, y0 + 0.033, MOUTH_Z]]), part=HEAD, ring=-len(BAG) - 1, phi=0, s=0)
    back_pole = g.add(np.array([[0.0, HEAD_CENTER[1] + HEAD_AXES[1], MOUTH_Z + 0.02]]), part=HEAD,
                      ring=len(outer), phi=0, s=np.pi * _R)
    last = start + (nrings - 1) * SEGMENTS
    for c in range(SEGMENTS):
        c2 = (c + 1) % SEGMENTS
        g.faces.append((front_pole, start + c2, start + c))
        g.face_mat.append(MAT_MOUTH)
        g.faces.append((last + c, last + c2, back_pole))
        g.face_mat.append(MAT_SKIN)
    return float(y0)


def lid_edges(a: np.ndarray):
    """Upper and lower lid edge elevations (radians) by azimuth: an almond opening."""
    prof = np.clip(1 - (a / EYE_CORNER) ** 2, 0, 1) ** 0.6
    return EYE_MID + EYE_OPEN_UP * prof, EYE_MID - EYE_OPEN_LOW * prof, prof


def lid_point(center, a, e, r):
    """A point on a sphere around the eye: azimuth a (toward +X), elevation e (up)."""
    a, e = np.broadcast_arrays(a, e)
    d = np.stack([np.sin(a), -np.cos(a) * np.cos(e), np.cos(a) * np.sin(e)], -1)
    return center + np.asarray(r)[..., None] * d


LID_AZIMUTH = np.radians(np.linspace(-82, 82, 29))
LID_T = np.array([-1.0, 0.0, 0.12, 0.27, 0.45, 0.65, 0.85, 1.0])   # -1: the lid margin (thickness)
LID_FAR = {LID_UPPER: np.radians(78.0), LID_LOWER: np.radians(-72.0)}


def lid_elevations(edge: np.ndarray, far: float, t: np.ndarray) -> np.ndarray:
    """(rows, cols) elevations from the lid edge (t=0) to the far rim (t=1)."""
    tt = np.clip(t, 0, 1)[:, None] ** 0.8
    return edge[None, :] * (1 - tt) + far * tt


def lid_positions(center, part, edge, a_shift=None) -> np.ndarray:
    """All vertices of one lid given its edge elevations per azimuth column."""
    a = LID_AZIMUTH[None, :] + (0 if a_shift is None else a_shift[None, :] * (1 - np.clip(LID_T, 0, 1))[:, None])
    e = lid_elevations(edge, LID_FAR[part], LID_T)
    r = np.where(LID_T < 0, EYE_RADIUS + 0.0004, LID_RADIUS)[:, None]
    return lid_point(center, a, e, r).reshape(-1, 3)


def _add_lids(g: HeadGeometry) -> None:
    up, lo, _ = lid_edges(LID_AZIMUTH)
    for side, center in EYE_CENTERS.items():
        sign = 1.0 if side == "L" else -1.0
        for part, edge in ((LID_UPPER, up), (LID_LOWER, lo)):
            pts = lid_positions(center, part, edge)
            start = g.add(pts, part=part, side=sign, lid_t=np.repeat(LID_T, len(LID_AZIMUTH)),
                          lid_a=np.tile(LID_AZIMUTH, len(LID_T)))
            g.quad_grid(start, len(LID_T), len(LID_AZIMUTH), [MAT_SKIN] * len(LID_T), closed=False)


def _add_arc(g: HeadGeometry, part, z0, z1, mat, y_front, rows=3) -> None:
    """A curved strip (a row of teeth) behind the lips."""
    ang = np.radians(np.linspace(-62, 62, 17))
    rad = 0.021
    cy = y_front + rad
    grid = [np.stack([rad * np.sin(ang), cy - rad * np.cos(ang), np.full_like(ang, z)], 1)
            for z in np.linspace(z0, z1, rows)]
    start = g.add(np.concatenate(grid), part=part)
    g.quad_grid(start, rows, len(ang), [mat] * rows, closed=False)


def _add_tongue(g: HeadGeometry, y_front) -> None:
    u, v = np.meshgrid(np.linspace(0, np.pi, 9), np.linspace(0, 2 * np.pi, 16, endpoint=False), indexing="ij")
    pts = np.stack([0.016 * np.sin(u) * np.cos(v), -0.024 * np.cos(u), 0.005 * np.sin(u) * np.sin(v)], -1)
    pts = pts.reshape(-1, 3) + np.array([0.0, y_front + 0.030, MOUTH_Z - 0.008])
    start = g.add(pts, part=TONGUE, lid_t=np.repeat(-np.cos(u[:, 0]), 16))
    g.quad_grid(start, 9, 16, [MAT_TONGUE] * 9, closed=True)


def build_head() -> tuple[np.ndarray, list, np.ndarray, dict]:
    """(vertices (N, 3), faces, face material indices, per-vertex attributes)."""
    g = HeadGeometry()
    y_lip = _add_head_surface(g)
    _add_lids(g)
    _add_arc(g, TEETH_UPPER, MOUTH_Z + 0.0095, MOUTH_Z + 0.0012, MAT_TEETH, y_lip + 0.0055)
    _add_arc(g, TEETH_LOWER, MOUTH_Z - 0.0012, MOUTH_Z - 0.0085, MAT_TEETH, y_lip + 0.0065)
    _add_tongue(g, y_lip)
    _add_brows(g)
    return g.arrays()


def _add_brows(g: HeadGeometry) -> None:
    """Eyebrows: a tapered arch ribbon lying just above the skin over each eye."""
    head = np.concatenate(g.verts)[: g.attrs["part"][0].size]
    front = head[head[:, 1] < -0.02]
    x = np.linspace(0.010, 0.054, 16)
    arch = 0.2265 + 0.0035 * np.cos((x - 0.028) / 0.02) - 0.006 * smoothstep(0.035, 0.055, x)
    half = np.interp(x, [0.01, 0.03, 0.054], [0.0042, 0.0036, 0.0016])
    for s in (-1, 1):
        pts = np.concatenate([np.stack([s * x, np.zeros_like(x), arch + k * half], 1) for k in (-1, 0, 1)])
        pts[:, 1] = _surface_y(front, pts) - 0.0012
        start = g.add(pts, part=BROW)
        g.quad_grid(start, 3, len(x), [MAT_BROW] * 3, closed=False)


def _surface_y(surface: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Front surface depth at points' (x, z), by inverse-distance weighting of nearby verts."""
    d2 = (surface[None, :, 0] - pts[:, None, 0]) ** 2 + (surface[None, :, 2] - pts[:, None, 2]) ** 2
    near = np.argsort(d2, axis=1)[:, :6]
    w = 1.0 / (np.take_along_axis(d2, near, 1) + 1e-10)
    return (surface[near, 1] * w).sum(1) / w.sum(1)


def eyeball(center: np.ndarray, rings=24, segments=24):
    """An eyeball facing -Y: (verts, faces, face materials 0 white / 1 iris / 2 pupil)."""
    beta = np.radians(np.linspace(0, 180, rings + 1))[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    b, f = np.meshgrid(beta, phi, indexing="ij")
    pts = np.stack([np.sin(b) * np.cos(f), -np.cos(b), np.sin(b) * np.sin(f)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0, -1, 0]], pts, [[0, 1, 0]]]) * EYE_RADIUS + center
    faces, mats = [], []
    for r in range(len(beta) - 1):
        for c in range(segments):
            c2 = (c + 1) % segments
            a, bb = 1 + r * segments + c, 1 + r * segments + c2
            faces.append((a, bb, bb + segments, a + segments))
            mats.append(2 if r < 1 else 1 if r < 4 else 0)
    for c in range(segments):
        faces.append((0, 1 + (c + 1) % segments, 1 + c))
        mats.append(2)
        last = 1 + (len(beta) - 1) * segments
        faces.append((last + c, last + (c + 1) % segments, len(verts) - 1))
        mats.append(0)
    return verts, faces, np.array(mats)
