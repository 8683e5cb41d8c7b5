"""Which moments of a generated conversation to show, and how to caption them (no bpy).

Used by render_conversation.py; every function takes the result (model_runtime's
ConversationResult) and the scene's frame rate, whose frame 1 is the audio's start.
"""
from __future__ import annotations

import numpy as np

from model_runtime.channels import HEAD_CHANNELS, ROLE_BOTH, ROLE_SPEAKING
from model_runtime.masks import runs

NOD_WINDOW_S = 1.0       # a nod: the head dips and comes back within about a second
STRIP_BEFORE_S = 0.6     # the reaction strip starts this long before the nod's lowest point
STRIP_AFTER_S = 0.6
STRIP_FRAMES = 6


def result_index(result, scene_fps: float, frame: int) -> int:
    return int(round((frame / scene_fps - result.start_time) * result.fps))


def scene_frame(result, scene_fps: float, index: int) -> int:
    return int(round((result.start_time + index / result.fps) * scene_fps))


def roles_at(result, scene_fps: float, frame: int) -> tuple[int, int] | None:
    """Both people's role ids at a scene frame, or None outside the result."""
    i = result_index(result, scene_fps, frame)
    if not 0 <= i < result.num_frames:
        return None
    return int(result.people[0].roles[i]), int(result.people[1].roles[i])


def caption(result, scene_fps: float, frame: int) -> str:
    head = f"frame {frame} ({frame / scene_fps:.1f} s): "
    roles = roles_at(result, scene_fps, frame)
    if roles is None:
        return head + "after the audio"
    a, b = (r in (ROLE_SPEAKING, ROLE_BOTH) for r in roles)
    if a and b:
        return head + "A and B speak at once"
    if a:
        return head + "A speaks, B listens"
    if b:
        return head + "B speaks, A listens"
    return head + "pause, nobody speaks"


def speaking_masks(result) -> list[np.ndarray]:
    return [np.isin(p.roles, (ROLE_SPEAKING, ROLE_BOTH)) for p in result.people]


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True (the first of equals); length 0 when there is none."""
    starts, ends = runs(mask)
    if not len(starts):
        return 0, 0
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


def pick_frames(result, scene_fps: float) -> list[int]:
    """A frame in A's longest solo turn and in B's (the widest-open mouth in the turn's middle
    half) and the middle of the longest pause, as scene frames in time order."""
    speaks = speaking_masks(result)
    frames = []
    for who, mask in ((0, speaks[0] & ~speaks[1]), (1, speaks[1] & ~speaks[0]),
                      (None, ~speaks[0] & ~speaks[1])):
        start, length = longest_run(mask)
        if not length:
            continue
        i = start + length // 2
        if who is not None:     # a speaker: the widest-open mouth in the turn's middle half
            lo, hi = start + length // 4, start + max(1, 3 * length // 4)
            i = lo + int(np.argmax(result.people[who].face_curve("jawOpen")[lo:hi]))
        frames.append(scene_frame(result, scene_fps, i))
    return sorted(set(frames)) or [1]


def nod_depth(pitch: np.ndarray, window: int) -> np.ndarray:
    """Per frame, how far the head has dipped below both the highest pitch in the window
    before it and in the window after it (radians; a nod is down then back up)."""
    n = len(pitch)
    before = np.array([pitch[max(0, i - window):i + 1].max() for i in range(n)])
    after = np.array([pitch[i:i + window + 1].max() for i in range(n)])
    return np.minimum(before, after) - pitch


def listener_reaction_frames(result, scene_fps: float, frames: int = STRIP_FRAMES) -> list[int]:
    """A strip of scene frames around the listener's deepest nod while only the other speaks:
    from STRIP_BEFORE_S before its lowest point to STRIP_AFTER_S after. Falls back to
    pick_frames when nobody listens. Positive headPitch lifts the chin, so a nod dips it."""
    speaks = speaking_masks(result)
    window = max(1, int(round(NOD_WINDOW_S / 2 * result.fps)))
    room = np.zeros(result.num_frames, bool)     # the whole strip fits inside the result
    room[int(STRIP_BEFORE_S * result.fps):result.num_frames - int(STRIP_AFTER_S * result.fps)] = True
    best, depth = None, 0.0
    for listener in (0, 1):
        listening = speaks[1 - listener] & ~speaks[listener] & room
        pitch = result.people[listener].head[:, HEAD_CHANNELS.index("headPitch")]
        d = np.where(listening, nod_depth(pitch, window), 0.0)
        i = int(np.argmax(d))
        if d[i] > depth:
            best, depth = i, float(d[i])
    if best is None:
        return pick_frames(result, scene_fps)
    times = np.linspace(-STRIP_BEFORE_S, STRIP_AFTER_S, frames)
    indices = np.clip(best + np.round(times * result.fps).astype(int), 0, result.num_frames - 1)
    return sorted({max(1, scene_frame(result, scene_fps, int(i))) for i in indices})
