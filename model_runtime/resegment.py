"""Frame-level re-segmentation of two voices in one mixed track: per-voice frame models and a
Viterbi pass over the speaker states {A, B, A with B over it, B with A over it}, with
switching penalties and minimum durations, run over the speech frames (silence is the VAD's).

The overlap states model the commonest overlap in conversation: the listener's short
backchannel ("yeah", "mm-hm") or an early start spoken over the floor holder. Their frames
sound like the listener's voice while the holder's speech runs on without a pause; the
holder stays active and the listener is added (both speaking). A long stretch of the
listener's voice costs more per frame as overlap than a change of turn costs once, so a real
hand-over without a pause still becomes the other person's turn.
"""
from __future__ import annotations

import numpy as np

# Speaker states of the Viterbi pass; what each means for who is active (A, B).
STATE_A, STATE_B, STATE_A_OVER, STATE_B_OVER = 0, 1, 2, 3   # *_OVER: the holder, partner added
ACTIVE = np.array([[True, False], [False, True], [True, True], [True, True]])
HOLDER = np.array([0, 1, 0, 1])          # whose voice the floor is; the *_OVER frame sounds
VOICE = np.array([0, 1, 1, 0])           # like the partner, so its emission is their voice's

_SWITCH_CONTIGUOUS = 35.0   # nats to hand the floor over inside unbroken speech (a turn is one voice)
_SWITCH_GAP = 5.0           # nats to change voice across a pause (a reply may be short)
_OVERLAP_ONSET = 30.0       # nats for the partner to start talking over the holder: a few frames
#                             that sound like the partner are not yet an interjection. 20 scored
#                             better on the real recordings but lost a festival-voice turn in the
#                             evaluation; 30 loses nothing anywhere against the old pass
_OVERLAP_FRAME = 2.0        # nats per overlap frame: after a few frames plus the way back (~1 s)
#                             of the partner's voice, a hand-over is the cheaper story;
#                             backchannels ("yeah", "mm-hm") are shorter
_MIN_OVERLAP = 5            # frames (0.2 s): no backchannel is shorter; blips are not overlap
_PITCH_WEIGHT = 1.0         # most the pitch log-likelihood counts, for voices far apart. Not
#                             more: neighbouring frames' pitch is one contour, and a phrase's
#                             falling end sounds like the lower voice; at 2 the ends of turns
#                             went to the partner (docs/evaluation/DIARIZATION.md, "Consensus")
_RESEG_ITERS = 6            # refits of the voice models; most files settle in 2-4
_CHUNK = 1 << 15            # frames per block of the Gaussian sums and scores


def _gauss_loglik(mfcc: np.ndarray, rows: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Log-likelihood of mfcc[rows] under a full-covariance Gaussian fitted to mfcc[fit],
    chunk by chunk: an hour's speech frames never sit in float64 at once."""
    n, d = 0, mfcc.shape[1]
    total, outer = np.zeros(d), np.zeros((d, d))
    for s in range(0, len(fit), _CHUNK):
        x = mfcc[fit[s:s + _CHUNK]].astype(np.float64)
        n, total, outer = n + len(x), total + x.sum(0), outer + x.T @ x
    mu = total / n
    cov = (outer - n * np.outer(mu, mu)) / max(n - 1, 1) + 1e-3 * np.eye(d)
    cov += 0.05 * np.diag(np.diag(cov))          # shrink: few frames for a short partner
    chol = np.linalg.cholesky(cov)
    half_logdet = np.log(np.diag(chol)).sum()
    out = np.empty(len(rows))
    for s in range(0, len(rows), _CHUNK):
        z = np.linalg.solve(chol, (mfcc[rows[s:s + _CHUNK]] - mu).T)
        out[s:s + _CHUNK] = -0.5 * (z ** 2).sum(0) - half_logdet
    return out


def _pitch_loglik(lf0: np.ndarray, fit: np.ndarray) -> np.ndarray:
    fit = fit[np.isfinite(fit)]
    if fit.size < 5:
        return np.zeros_like(lf0)
    mu, sd = np.median(fit), max(1.4826 * np.median(np.abs(fit - np.median(fit))), 0.08)
    ll = -0.5 * ((lf0 - mu) / sd) ** 2 - np.log(sd)
    return np.where(np.isfinite(ll), np.maximum(ll, -20.0), 0.0)


def _pitch_weight(lf0: np.ndarray, fits: list[np.ndarray]) -> float:
    """Pitch helps only when the two voices' usual pitch differs (a man and a woman): for
    voices within ~3 semitones, intonation swamps the difference and pitch only adds noise."""
    med = [np.nanmedian(lf0[f]) if np.isfinite(lf0[f]).any() else np.nan for f in fits]
    if not np.isfinite(med).all():
        return 0.0
    return _PITCH_WEIGHT * float(np.clip((abs(med[0] - med[1]) - 0.2) / 0.3, 0.0, 1.0))


def frame_scores(mfcc, lf0, idx, voice) -> np.ndarray | None:
    """(len(idx), 2) log-likelihoods of each speech frame under each voice's models, fitted
    to the frames whose voice (0/1; -1 for overlap) is that one."""
    fits = [idx[voice == k] for k in range(2)]
    if min(len(f) for f in fits) < 3:
        return None
    ll = np.stack([_gauss_loglik(mfcc, idx, f) for f in fits], axis=1)
    pw = _pitch_weight(lf0, fits)
    if pw > 0:
        ll += pw * np.stack([_pitch_loglik(lf0[idx], lf0[f]) for f in fits], axis=1)
    return ll


# --------------------------------------------------------------------------- Viterbi
def _expanded_states() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each overlap state becomes a chain of _MIN_OVERLAP sub-states (its minimum duration).
    Returns per expanded state: its speaker state, whether it is the chain's first link, and
    whether it is the chain's last (the one that may stay or leave)."""
    state, first, last = [], [], []
    for s in (STATE_A, STATE_B, STATE_A_OVER, STATE_B_OVER):
        m = 1 if s in (STATE_A, STATE_B) else _MIN_OVERLAP
        state += [s] * m
        first += [True] + [False] * (m - 1)
        last += [False] * (m - 1) + [True]
    return np.array(state), np.array(first), np.array(last)


def _transitions(contiguous: bool) -> np.ndarray:
    """(S, S) log transition scores between expanded states, -inf where not allowed."""
    state, first, last = _expanded_states()
    t = np.full((len(state), len(state)), -np.inf)
    for i in range(len(state)):
        if not last[i] and contiguous:
            t[i, i + 1] = 0.0                       # inside a minimum-duration chain
            continue
        if last[i] and (contiguous or state[i] in (STATE_A, STATE_B)):
            t[i, i] = 0.0                           # stay (overlap ends at a pause)
        for j in np.flatnonzero(first & (state != state[i])):
            t[i, j] = _switch_score(state[i], state[j], contiguous)
    return t


def _switch_score(a: int, b: int, contiguous: bool) -> float:
    """Log score of leaving speaker state a for another one, b, between two speech frames."""
    overlap = (STATE_A_OVER, STATE_B_OVER)
    if not contiguous:            # after a pause a new stretch starts with one voice alone
        return -np.inf if b in overlap else (0.0 if HOLDER[a] == b else -_SWITCH_GAP)
    if b in overlap:              # only the holder, talking alone, can be talked over
        return -_OVERLAP_ONSET if a == HOLDER[b] else -np.inf
    if a in overlap:              # the interjection ends: the holder alone, or the partner
        return 0.0 if b == HOLDER[a] else -(_SWITCH_CONTIGUOUS - _OVERLAP_ONSET)  # takes over
    return -_SWITCH_CONTIGUOUS


def viterbi(ll: np.ndarray, contiguous: np.ndarray) -> np.ndarray:
    """Best speaker-state path (STATE_*) for (n, 2) voice log-likelihoods; contiguous[i] says
    frame i directly follows frame i-1 (no pause between them)."""
    state, _, _ = _expanded_states()
    emit_voice = VOICE[state]
    cost = np.where(np.isin(state, (STATE_A_OVER, STATE_B_OVER)), _OVERLAP_FRAME, 0.0)
    trans = {True: _transitions(True), False: _transitions(False)}
    n, m = len(ll), len(state)
    back = np.zeros((n, m), dtype=np.int16)
    score = np.where(np.isin(state, (STATE_A, STATE_B)), ll[0, emit_voice], -np.inf)
    for i in range(1, n):
        cand = score[:, None] + trans[bool(contiguous[i])]
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(m)] + ll[i, emit_voice] - cost
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return state[path]


def resegment(mfcc, lf0, idx, lab) -> np.ndarray:
    """Refine speech-frame labels (0/1 voice from the clustering) into speaker states
    (STATE_*) with per-voice frame models and the Viterbi pass, refitting the models on the
    frames each voice holds alone."""
    contiguous = np.diff(idx, prepend=idx[0] - 2) == 1
    states = np.asarray(lab, dtype=np.int64)
    for _ in range(_RESEG_ITERS):
        voice = np.where(np.isin(states, (STATE_A, STATE_B)), states, -1)
        ll = frame_scores(mfcc, lf0, idx, voice)
        if ll is None:
            break
        new = viterbi(ll, contiguous)
        if np.array_equal(new, states):
            break
        states = new
    return states
