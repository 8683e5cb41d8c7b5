"""scripts/conversation_moments.py: which frames the render script shows."""
import sys
from pathlib import Path

import numpy as np

from model_runtime.channels import EYE_CHANNELS, HEAD_CHANNELS, OUTPUT_FACE_CHANNELS, ROLE_LISTENING, ROLE_SPEAKING
from model_runtime.result import ConversationResult, PersonTrack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import conversation_moments as moments  # noqa: E402

FPS = 25
PITCH = HEAD_CHANNELS.index("headPitch")


def person(n: int, roles: np.ndarray) -> PersonTrack:
    return PersonTrack(np.zeros((n, len(OUTPUT_FACE_CHANNELS)), np.float32), np.zeros((n, 3), np.float32),
                       np.zeros((n, len(EYE_CHANNELS)), np.float32), roles.astype(np.int64))


def nod(track: PersonTrack, at: int, depth: float) -> None:
    """A down-and-back dip of the head, lowest at frame ``at``."""
    k = np.arange(-8, 9)
    track.head[at + k, PITCH] -= depth * np.cos(k / 8 * np.pi / 2)


def test_the_strip_centres_on_the_listeners_nod_not_the_speakers():
    n = 250                                   # 10 s: A speaks 0-5 s, B speaks 5-10 s
    a_roles = np.where(np.arange(n) < 125, ROLE_SPEAKING, ROLE_LISTENING)
    b_roles = np.where(np.arange(n) < 125, ROLE_LISTENING, ROLE_SPEAKING)
    a, b = person(n, a_roles), person(n, b_roles)
    nod(a, 60, 0.20)          # the speaker's own prosodic nod, deeper: not a reaction
    nod(b, 80, 0.08)          # B nods while listening to A
    nod(a, 200, 0.05)         # A nods while listening to B, less deeply
    result = ConversationResult(FPS, (a, b))
    frames = moments.listener_reaction_frames(result, scene_fps=24)
    assert len(frames) == moments.STRIP_FRAMES
    lowest = 80 / FPS * 24
    assert frames[0] < lowest < frames[-1]
    assert abs((frames[0] + frames[-1]) / 2 - lowest) <= 1
    assert moments.caption(result, 24, frames[0]).endswith("A speaks, B listens")


def test_without_anyone_listening_the_strip_falls_back_to_the_usual_frames():
    n = 100
    silent = np.zeros(n, np.int64)
    result = ConversationResult(FPS, (person(n, silent), person(n, silent)))
    assert moments.listener_reaction_frames(result, FPS) == moments.pick_frames(result, FPS)
