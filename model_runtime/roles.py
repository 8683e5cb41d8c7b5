"""Who speaks when: voice activity, per-track activity with crosstalk rejection, and
two-speaker diarization of a single mixed track, all at MODEL_FPS.

No training data and no downloaded models: the diarizer clusters short windows of MFCC and
pitch statistics into two voices, then re-segments frame by frame with per-voice Gaussian
models and a Viterbi pass with duration priors (resegment.py), so turns neither flicker nor
lag, short listener backchannels keep their own label, and a backchannel spoken over the
other's unbroken speech is overlap (both active).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .audio import ConversationAudio
from .audio_scan import mel_blocks
from .channels import roles_from_activity
from .features import N_MELS, SUBFRAMES, log_mel, mel_power, speech_band_db
from .masks import bridge_gaps, drop_short, runs
from .resegment import ACTIVE, HOLDER, resegment
from .timebase import MODEL_FPS

_GAP_BRIDGE = 3          # frames (120 ms): pauses shorter than ~150 ms stay inside speech
_MIN_BLIP = 3            # frames: runs of at most 80 ms (a click straddles 2) are not speech
_REACH_DB = 25.0         # a speech segment peaks within this of the file's loud level
_CROSSTALK_DB = 10.0     # a channel this far below the other (re its own level) is bleed
_N_MFCC = 20             # c1..c19 are used; c0 (level) is left out
_WINDOW_LENGTHS = (25, 31, 38, 44, 50)   # frames (1-2 s): embedding windows inside long speech
#                                          segments, one clustering per length, each window half
#                                          a length after the last (see _consensus_voice_labels)
_SHORT_SEG = 50          # segments up to 2 s are one window each (backchannels stay whole)


def _smooth(mask: np.ndarray) -> np.ndarray:
    return drop_short(bridge_gaps(mask, _GAP_BRIDGE), _MIN_BLIP)


# --------------------------------------------------------------------------- VAD
def _vad_from_db(e: np.ndarray, ref_db: float | None = None) -> np.ndarray:
    """Energy VAD with hysteresis. The noise floor (10th percentile) and speech level (98th)
    are estimated per file; thresholds sit between them. ref_db, the loudest level among
    related tracks, keeps a near-silent track from calling its own noise speech."""
    if e.size == 0:
        return np.zeros(0, dtype=bool)
    floor, peak = np.percentile(e, 10), np.percentile(e, 98)
    ref = peak if ref_db is None else max(peak, ref_db)
    dyn = peak - floor
    if dyn < 8.0:       # no quiet stretch at all: continuous sound, keep its loud part
        hi = lo = peak - 10.0
    else:
        hi = floor + max(6.0, 0.35 * dyn)
        lo = floor + max(3.0, 0.2 * dyn)
    # the conversation is the loudest thing recorded: far quieter voices are other people
    # in the room or noise, so a segment must reach within 25 dB of the loud level
    hi, lo = max(hi, ref - _REACH_DB), max(lo, ref - 55.0)
    above = e >= lo
    starts, ends = runs(above)
    out = np.zeros(e.shape, dtype=bool)
    for a, b in zip(starts, ends):
        if (e[a:b] >= hi).any():
            out[a:b] = True
    return _smooth(out)


def voice_activity(wave) -> np.ndarray:
    """(T,) bool voice activity at MODEL_FPS for one signal in memory."""
    return _vad_from_db(speech_band_db(mel_power(wave)))


def activity_from_tracks(tracks: np.ndarray) -> np.ndarray:
    """(2, T) bool activity from two per-person tracks (or a stereo pair) in memory."""
    tracks = np.asarray(tracks, dtype=np.float32)
    return _activity_from_track_levels(np.stack([speech_band_db(mel_power(t)) for t in tracks]))


def _activity_from_track_levels(e: np.ndarray) -> np.ndarray:
    """(2, T) bool activity from each track's speech-band level (2, T) in dB.

    Each track is gated by its own VAD; a frame where a track is much quieter than the other
    (each relative to its own speech level) is the other voice bleeding in, not speech."""
    ref = float(np.percentile(e, 98))
    vad = np.stack([_vad_from_db(e[i], ref) for i in range(2)])
    # a person's speech level comes from frames where their own mic is the louder one; a mic
    # that never is hears only the partner (bleed), so that person never speaks
    own = vad & (e > e[::-1])
    if min(own.sum(1)) < _MIN_BLIP:
        out = np.zeros_like(vad)
        k = int(own.sum(1).argmax())
        out[k] = vad[k]
        return out
    level = np.array([np.percentile(e[i][own[i]], 90) for i in range(2)])
    level = np.maximum(level, level.max() - 20.0)   # nobody is recorded 20 dB below the other
    rel = e - level[:, None]
    out = vad & (rel > rel[::-1] - _CROSSTALK_DB)
    return np.stack([_smooth(out[0]), _smooth(out[1])])


# --------------------------------------------------------------------------- features
@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    n = np.arange(N_MELS)
    k = np.arange(_N_MFCC)[:, None]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS)) * np.sqrt(2.0 / N_MELS)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def _speaker_features(audio: ConversationAudio, vad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per model frame: mean MFCC c1..c19 of its sub-frames (mean over speech removed), and
    log2 pitch (nan where unvoiced). One more pass over the mix, block by block."""
    # no spectral subtraction or noise masking: both cost more on clean AMI speech than
    # they won back at 20 dB SNR (see benchmarks/diarization_real_speech.py --snr)
    mfcc = np.empty((audio.scan.frames, _N_MFCC - 1), dtype=np.float32)
    dct = _dct_matrix()[1:].T
    with audio.reading() as read:
        for a, b, mp in mel_blocks(read, 0, audio.scan.frames):
            sub = log_mel(mp, audio.scan.levels.loudest).numpy() @ dct         # (4n, 19)
            mfcc[a:b] = sub.reshape(-1, SUBFRAMES, _N_MFCC - 1).mean(axis=1)   # (n, 19)
    mfcc -= mfcc[vad].mean(axis=0) if vad.any() else 0.0
    f0 = audio.scan.pitch[0].numpy()
    lf0 = np.where(f0 > 0, np.log2(np.maximum(f0, 1.0)), np.nan)
    return mfcc, lf0


# --------------------------------------------------------------------------- clustering
def _windows(vad: np.ndarray, length: int) -> list[tuple[int, int]]:
    """Embedding windows inside speech segments: a short segment (a backchannel, a quick
    reply) is one window of its own; a long one is cut into windows of `length` frames that
    overlap by half."""
    out = []
    for a, b in zip(*runs(vad)):
        if b - a <= max(_SHORT_SEG, length):
            out.append((a, b))
            continue
        starts = list(range(a, b - length + 1, length // 2))
        if starts[-1] + length < b:
            starts.append(b - length)
        out.extend((s, s + length) for s in starts)
    return out


def _embed(mfcc: np.ndarray, lf0: np.ndarray, wins: list[tuple[int, int]]) -> np.ndarray:
    """(W, 20): mean MFCC and median log pitch per window (file median where unvoiced)."""
    c = np.concatenate([np.zeros((1, mfcc.shape[1])), np.cumsum(mfcc, axis=0)])
    a = np.array([w[0] for w in wins])
    b = np.array([w[1] for w in wins])
    means = (c[b] - c[a]) / (b - a)[:, None]
    med = np.nanmedian(lf0) if np.isfinite(lf0).any() else 0.0
    pitch = np.array([_nanmedian_or(lf0[s:e], med) for s, e in wins])
    return np.concatenate([means, pitch[:, None]], axis=1)


def _level_weights(e: np.ndarray, wins: list[tuple[int, int]]) -> np.ndarray:
    """Quiet windows (distant voices, noise) count less when the voices are clustered."""
    ref = np.percentile(e, 98)
    lvl = np.array([np.percentile(e[a:b], 90) for a, b in wins])
    return np.clip(1.0 - (ref - 10.0 - lvl) / 15.0, 0.1, 1.0)


def _embedding_pitch_weight(pitch: np.ndarray, w: np.ndarray) -> float:
    """Weight of the pitch dim: 1 (like one MFCC) unless the windows' pitch falls in two
    groups at least ~1/4 octave apart (a man and a woman, a low and a high voice), then up
    to 2.5, since there pitch is the clearest cue there is."""
    lab = _kmeans2(pitch[:, None], w, restarts=3)
    if min(w[lab == 0].sum(), w[lab == 1].sum()) < 0.1 * w.sum():
        return 1.0
    delta = abs(np.median(pitch[lab == 0]) - np.median(pitch[lab == 1]))
    return 1.0 + 1.5 * float(np.clip((delta - 0.25) / 0.25, 0.0, 1.0))


def _nanmedian_or(v: np.ndarray, default: float) -> float:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float(default)


def _standardize(x: np.ndarray, pitch_weight: float = 1.0) -> np.ndarray:
    """Robust z-scores (median, MAD), clipped so a few odd windows (a laugh, a cough, a
    pitch error) cannot pull a cluster centre onto themselves."""
    med = np.median(x, axis=0)
    mad = 1.4826 * np.median(np.abs(x - med), axis=0) + 1e-6
    z = np.clip((x - med) / mad, -3.0, 3.0)
    z[:, -1] *= pitch_weight     # >1 helps mixed-gender pairs, hurts same-gender ones
    return z


def _kmeans2(x: np.ndarray, w: np.ndarray, restarts: int = 10, iters: int = 30):
    """Weighted 2-means with k-means++ starts; deterministic (fixed seed)."""
    rng = np.random.default_rng(0)
    best, best_cost = None, np.inf
    p = w / w.sum()
    for _ in range(restarts):
        c0 = x[rng.choice(len(x), p=p)]
        d = ((x - c0) ** 2).sum(1) * w
        c1 = x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[0]
        centers = np.stack([c0, c1])
        for _ in range(iters):
            dist = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
            lab = dist.argmin(1)
            new = np.stack([np.average(x[lab == k], axis=0, weights=w[lab == k])
                            if (lab == k).any() else centers[k] for k in range(2)])
            if np.allclose(new, centers):
                break
            centers = new
        cost = (dist[np.arange(len(x)), lab] * w).sum()
        if cost < best_cost:
            best, best_cost = lab.copy(), cost
    return best


# --------------------------------------------------------------------------- diarization
def _frame_labels_from_windows(t: int, wins, wlab: np.ndarray) -> np.ndarray:
    """Per-frame label by majority of the windows covering it."""
    votes = np.zeros((t, 2))
    for (a, b), k in zip(wins, wlab):
        votes[a:b, k] += 1
    return votes.argmax(axis=1)


def _window_voice_labels(e, vad, mfcc, lf0, length: int) -> np.ndarray:
    """(T,) 0/1 voice per frame from 2-means of windows `length` frames long."""
    wins = _windows(vad, length)
    raw = _embed(mfcc, lf0, wins)
    w = np.array([b - a for a, b in wins], dtype=np.float64) * _level_weights(e, wins)
    emb = _standardize(raw, _embedding_pitch_weight(raw[:, -1], w))
    return _frame_labels_from_windows(len(vad), wins, _kmeans2(emb, w))


def _consensus_voice_labels(e, vad, mfcc, lf0) -> np.ndarray:
    """(T,) 0/1 voice per frame: the majority of the window clusterings of every length.

    Why several: on two similar voices which split the 2-means finds flips with the window
    length, and each length goes wrong on other conversations; the majority (consensus
    clustering) goes wrong less often than any one length. Whole turns given to the wrong
    person on seven synthetic sets, with the same re-segmentation after: 12 with 1 s windows
    alone, 5 with the majority of the five lengths; real recordings from the mix: turns 77.2 %
    against 75.0 % (docs/evaluation/DIARIZATION.md, "Consensus")."""
    return majority_voice([_window_voice_labels(e, vad, mfcc, lf0, n) for n in _WINDOW_LENGTHS],
                          vad.astype(bool))


def majority_voice(labels: list[np.ndarray], speech: np.ndarray) -> np.ndarray:
    """(T,) 0/1 per frame: what most of several 0/1 labellings (T,) say. The voices have no
    names, so each labelling is first named like the first one wherever there is speech."""
    votes = np.zeros(len(speech))
    for lab in labels:
        votes += lab if (lab[speech] == labels[0][speech]).mean() >= 0.5 else 1 - lab
    return (votes > len(labels) / 2).astype(np.int64)


def _two_voice_labels(audio: ConversationAudio, e: np.ndarray, vad: np.ndarray):
    """(speech frame indices, their speaker states: resegment.STATE_*) or None when too
    little speech."""
    if len(_windows(vad, _WINDOW_LENGTHS[0])) < 2:   # then two or more at every length
        return None
    mfcc, lf0 = _speaker_features(audio, vad)
    lab = _consensus_voice_labels(e, vad, mfcc, lf0)
    idx = np.flatnonzero(vad)
    return idx, resegment(mfcc, lf0, idx, lab[idx])


def diarize_two_speakers(mix: np.ndarray) -> np.ndarray:
    """diarize for a mixed track in memory."""
    return diarize(ConversationAudio.from_signals(mix))


def diarize(audio: ConversationAudio) -> np.ndarray:
    """(2, T) bool activity of two speakers in the conversation's mix; A is the first heard. Both
    are active where one talks over the other's unbroken speech (resegment.py).

    When the re-segmentation leaves one voice almost nothing (under 0.2 s, or 2 % of the
    speech), it is taken to be one voice and all speech goes to person A. No stronger
    one-voice test is made: on real recordings (AMI) every global statistic tried (BIC of
    the split on MFCCs or pitch, held-out likelihood) called half of the two-speaker
    excerpts one voice, and losing a real partner is worse than splitting a monologue."""
    e = audio.scan.speech_db[0]
    vad = _vad_from_db(e)
    out = np.zeros((2, len(vad)), dtype=bool)
    out[0] = vad
    res = _two_voice_labels(audio, e, vad)
    if res is None:
        return out
    idx, states = res
    lab = HOLDER[states]
    if min((lab == 0).sum(), (lab == 1).sum()) < max(5, 0.02 * len(lab)):
        return out
    first = _first_speaker(idx, lab, e[idx] >= np.percentile(e[idx], 98) - 10.0)
    act = ACTIVE[states].T                       # (2, n) voice 0 / voice 1 active
    out[:] = False
    out[0, idx] = act[first]
    out[1, idx] = act[1 - first]
    return out


def _first_speaker(idx: np.ndarray, lab: np.ndarray, loud: np.ndarray) -> int:
    """Label of the first stretch of at least 0.2 s of one voice with a frame at
    conversation level (a lone frame is no turn; a murmur far off is not the partner)."""
    run, has_loud = 1, bool(loud[0])
    for i in range(1, len(lab)):
        if lab[i] == lab[i - 1] and idx[i] == idx[i - 1] + 1:
            run, has_loud = run + 1, has_loud or bool(loud[i])
        else:
            run, has_loud = 1, bool(loud[i])
        if run >= 5 and has_loud:
            return int(lab[i])
    return int(lab[0])


def activity(audio: ConversationAudio) -> np.ndarray:
    """(2, T) bool activity of persons A and B for a conversation in any mode. Two tracks that
    are the same recording (a mono mix saved as stereo, one strip used twice) say nothing
    about who speaks: then the mix is diarized."""
    if not audio.has_tracks or audio.scan.correlation > 0.98:
        return diarize(audio)
    return _activity_from_track_levels(audio.scan.speech_db[1:])


def hold_through_pauses(act: np.ndarray, max_pause_s: float = 0.6) -> np.ndarray:
    """The pauses between a person's phrases still belong to their turn: the corpus, and so
    the model, counts them as speaking. (2, T) bool -> (2, T) bool."""
    frames = int(round(max_pause_s * MODEL_FPS))
    return np.stack([bridge_gaps(np.asarray(a, dtype=bool), frames) for a in act])


def role_tracks(act: np.ndarray) -> np.ndarray:
    """(2, T) int64 role ids (channels.ROLE_*) of persons A and B."""
    act = np.asarray(act, dtype=bool)
    return np.stack([roles_from_activity(act[0], act[1]), roles_from_activity(act[1], act[0])])
