"""Speech side of the synthetic corpus: TTS timing, scripts, mixing, on-disk format, splits."""
from __future__ import annotations

import json

import numpy as np
import pytest

from model_runtime.channels import MOTION_CHANNELS, MOTION_DIM
from model_training.corpus import dataset, mixing, neural_tts, script, tts, visemes, writer
from model_runtime.head_pose import HeadPose

pytestmark = pytest.mark.skipif(not tts.espeak_available(), reason="libespeak-ng not installed")
SR = 16000
TEXT = "Hello there, how are you doing today? I went to the market."


def frame_rms(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))


def check_phones(wave, phones, alphabet):
    assert phones and all(p.alphabet == alphabet for p in phones)
    dur = len(wave) / SR
    for a, b in zip(phones, phones[1:]):
        assert a.start < a.end <= b.start + 1e-6
    assert phones[0].start >= 0 and phones[-1].end <= dur + 1e-6
    rms = frame_rms(wave)
    inside = np.zeros(len(rms), bool)
    for p in phones:
        inside[int(p.start * 100):int(np.ceil(p.end * 100))] = True
    assert rms[inside].mean() > 4 * rms[~inside].mean()
    onset = np.argmax(rms > 0.05 * rms.max()) / 100.0
    assert abs(onset - phones[0].start) < 0.05


def test_espeak_phone_timing_matches_the_audio():
    wave, phones = tts.synthesize(TEXT, tts.VoiceSpec("espeak", "en-us", "m3", 170, 50, 50))
    assert wave.dtype == np.float32 and 2.0 < len(wave) / SR < 6.0
    check_phones(wave, phones, "espeak")
    # The clause pause after "there," is silent in the audio and between two phones.
    gaps = [(a.end, b.start) for a, b in zip(phones, phones[1:]) if b.start - a.end > 0.1]
    assert gaps, "espeak should pause at the comma"
    g0, g1 = gaps[0]
    rms = frame_rms(wave)
    assert rms[int(g0 * 100) + 2:int(g1 * 100) - 2].max() < 0.05 * rms.max()
    assert {p.symbol for p in phones} >= {"h", "l", "D"}
    assert any(p.stress == 2 for p in phones) and all(p.stress in (0, 1, 2) for p in phones)


def test_different_voices_sound_different():
    def spectrum(voice):
        wave, _ = tts.synthesize("The weather is lovely today.", voice)
        mag = np.abs(np.fft.rfft(wave, 32768))
        return wave, np.log(np.convolve(mag, np.ones(64) / 64, "same") + 1e-6)
    wa, sa = spectrum(tts.VoiceSpec("espeak", "en-us", "m1", 170, 40, 50))
    wb, sb = spectrum(tts.VoiceSpec("espeak", "en-gb-x-rp", "f3", 150, 70, 50))
    assert len(wa) != len(wb)
    assert np.mean(np.abs(sa - sb)) > 0.3


@pytest.mark.parametrize("base", ["en-us", "de", "fr"])
def test_backchannels_are_spoken_as_words(base):
    for text in script.BACKCHANNELS:
        wave, phones = tts.synthesize(script.spoken_form(text), tts.VoiceSpec(base=base, variant="f2"))
        assert 2 <= len(phones) <= 6 and len(wave) < 0.9 * SR, (text, [p.symbol for p in phones])
    _, phones = tts.synthesize(script.spoken_form("mm-hmm"), tts.VoiceSpec(base=base))
    assert [p.symbol for p in phones] == ["m", "m", "h", "@", "m"]


def test_scripts_are_deterministic_and_varied():
    a = script.make_script(np.random.default_rng(5))
    b = script.make_script(np.random.default_rng(5))
    c = script.make_script(np.random.default_rng(6))
    assert a == b and a != c
    lengths, kinds = [], set()
    for seed in range(40):
        s = script.make_script(np.random.default_rng(seed))
        lengths.append(len(s.turns))
        assert all(t.speaker == (s.turns[0].speaker + i) % 2 for i, t in enumerate(s.turns))
        assert all(-0.6 <= t.gap <= 1.2 for t in s.turns)
        kinds |= {"overlap" if t.gap < 0 else "pause" for t in s.turns[1:]}
        kinds |= {"backchannel" for t in s.turns if t.backchannels}
    assert min(lengths) >= 4 and max(lengths) <= 12 and len(set(lengths)) > 4
    assert kinds == {"overlap", "pause", "backchannel"}


def test_text_and_voice_splits_are_disjoint():
    rng = np.random.default_rng(0)
    train = {script.sentence(rng, "train") for _ in range(3000)}
    held = {script.sentence(rng, "heldout") for _ in range(1000)}
    assert len(train) > 1000 and len(held) > 300 and not train & held
    pools = {s: set(tts.voice_pool(s)) for s in ("train", "heldout", "festival")}
    assert len(pools["train"]) > 300 and len(pools["heldout"]) > 10
    assert not pools["train"] & pools["heldout"]
    for base, variant in pools["heldout"]:
        assert base in tts.HELDOUT_BASES and variant in tts.HELDOUT_VARIANTS
    for base, variant in pools["train"]:
        assert base not in tts.HELDOUT_BASES and variant not in tts.HELDOUT_VARIANTS
    keys = {tts.sample_voice(rng, "train").key for _ in range(200)}
    assert all(k.startswith("espeak:") for k in keys)
    assert {tts.sample_voice(rng, "festival").engine for _ in range(5)} == {"festival"}


def _small_script():
    return script.Script([script.Turn(0, "I went to the market. It was really quite crowded.", 0.0,
                                      [script.Backchannel("yeah", 0.3)]),
                          script.Turn(1, "Did you see the tickets?", -0.3),
                          script.Turn(0, "No way.", 0.4)], lead_in=0.5, tail=0.5)


def test_placement_tracks_sum_to_the_mix_and_phones_land_on_the_timeline():
    s = _small_script()
    va, vb = tts.VoiceSpec(base="en-us", variant="m2"), tts.VoiceSpec(base="en", variant="f2")
    turns = [tts.synthesize(t.text, va if t.speaker == 0 else vb) for t in s.turns]
    bcs = [[tts.synthesize("yeah", vb)], [], []]
    timing, tracks = mixing.place(s, turns, bcs)
    assert tracks.shape[0] == 2 and timing.duration * SR >= tracks.shape[1] - 1
    assert np.allclose(mixing.mix_tracks(tracks), tracks[0] + tracks[1])
    turn_segs = [g for g in timing.segments if g.kind == "turn"]
    assert abs(turn_segs[0].start - 0.5) < 1e-3
    assert turn_segs[1].start < turn_segs[0].end            # the scripted overlap
    assert [g.kind for g in timing.segments].count("backchannel") == 1
    for g in timing.segments:                                # audio is where the phones are
        rms = frame_rms(tracks[g.speaker])
        assert rms[int(g.start * 100):int(g.end * 100)].mean() > 0.01


@pytest.mark.skipif(not mixing.sox_available(), reason="sox not installed")
@pytest.mark.parametrize("aug", [mixing.PersonAug(tempo=1.25), mixing.PersonAug(tempo=0.8, pitch_cents=200),
                                 mixing.PersonAug(speed=1.08)])
def test_phone_times_follow_tempo_and_speed(aug):
    clip = tts.synthesize(TEXT, tts.VoiceSpec(base="en-us", variant="m1"))
    (wave, phones), = mixing.augment_clips([clip], aug)
    factor = aug.tempo * aug.speed
    assert abs(len(wave) - len(clip[0]) / factor) < 0.01 * SR
    for p, q in zip(clip[1], phones):
        assert abs(q.start - p.start / factor) < 1e-3 * 5
    # The speech after the clause pause starts where the scaled phone says: its onset sits as
    # far from the phone start (scaled) as in the original clip, within 20 ms.
    k = next(i for i in range(1, len(phones)) if phones[i].start - phones[i - 1].end > 0.08)

    def onset_offset(w, p):
        rms = frame_rms(w)
        a = int(p.start * 100) - 8
        return (a + np.argmax(rms[a:] > 0.05 * rms.max())) / 100 - p.start
    assert abs(onset_offset(wave, phones[k]) - onset_offset(clip[0], clip[1][k]) / factor) < 0.02


def test_mix_augmentation_is_seeded_and_reaches_the_snr():
    rng = np.random.default_rng(0)
    x = np.zeros(SR * 3, np.float32)
    x[SR:2 * SR] = np.sin(np.arange(SR) * 0.1) * 0.3
    aug = mixing.MixAug(rt60=0.4, wet=0.3, noise="pink", snr_db=20.0)
    y1 = mixing.augment_mix(x, aug, np.random.default_rng(1))
    y2 = mixing.augment_mix(x, aug, np.random.default_rng(1))
    assert np.array_equal(y1, y2) and y1.shape == x.shape
    noise = mixing.make_noise("brown", SR, rng)
    assert abs(np.mean(noise ** 2) - 1) < 1e-3
    scaled = mixing.scale_to_snr(x, noise, 20.0)
    assert abs(10 * np.log10(np.mean(x[SR:2 * SR] ** 2) / np.mean(scaled ** 2)) - 20) < 0.5


def test_a_voice_is_as_loud_as_it_sounds_whatever_its_pauses():
    """One measure of loudness for the noise's SNR and the off-screen voice's level: the same
    sentence with three times the silence around it is just as loud."""
    tone = (np.sin(np.arange(SR) * 0.1) * 0.3).astype(np.float32)
    short = np.concatenate([np.zeros(SR // 2, np.float32), tone])
    padded = np.concatenate([np.zeros(3 * SR, np.float32), tone, np.zeros(SR, np.float32)])
    assert mixing.active_power(short) == pytest.approx(0.045, rel=0.02)
    assert mixing.active_power(padded) == pytest.approx(mixing.active_power(short), rel=0.01)
    assert mixing.active_power(np.zeros(SR, np.float32)) == 0.0


@pytest.mark.slow       # synthesizes, mixes and writes two whole conversations
def test_writer_round_trip(tmp_path):
    index = writer.build_corpus(str(tmp_path), 2, seed=3, split="train", log=lambda *_: None)
    assert index["files"] == ["conv_00000.npz", "conv_00001.npz"]
    assert json.loads((tmp_path / "index.json").read_text())["split"] == "train"
    files = dataset.list_conversations(tmp_path, split="train")
    assert len(files) == 2 and dataset.list_conversations(tmp_path, split="heldout") == []
    conv = dataset.load_conversation(files[0])
    n = len(conv["mix"])
    t = -(-n // 640)
    assert conv["mix"].dtype == np.int16 and conv["mix"].shape == (n,)
    assert conv["tracks"].dtype == np.int16 and conv["tracks"].shape == (2, n)
    assert conv["motion"].dtype == np.float32 and conv["motion"].shape == (2, t, MOTION_DIM)
    assert np.abs(conv["motion"]).max() > 0.1           # the real motion targets, not a placeholder
    assert conv["activity"].dtype == bool and conv["activity"].shape == (2, t)
    assert conv["poses_array"].shape == (2, 3, 3) and all(isinstance(p, HeadPose) for p in conv["poses"])
    meta = conv["meta"]
    assert meta["split"] == "train" and meta["seed"] == 3 and len(meta["voices"]) == 2
    assert meta["layout"]["name"] in writer.LAYOUTS and 0.6 <= meta["layout"]["distance"] <= 2.0
    assert {s["kind"] for s in meta["segments"]} <= {"turn", "backchannel"}
    # activity is the segments, frame by frame
    for seg in meta["segments"]:
        mid = int((seg["start"] + seg["end"]) / 2 * 25)
        assert conv["activity"][seg["speaker"], mid]
    # same seed and index: the same conversation
    again = writer.build_conversation(3, "train", 0)
    assert np.array_equal(again["mix"], conv["mix"]) and np.array_equal(again["motion"], conv["motion"])


@pytest.mark.slow       # synthesizes a whole conversation
def test_tracks_sum_to_mix_without_mix_augmentation():
    conv = writer.build_conversation(11, "heldout", 4, mix_augment=False)
    total = conv["tracks"].astype(np.int32).sum(0)
    assert np.abs(total - conv["mix"]).max() <= 2
    assert all(v["key"].split(":")[1].split("+")[0] in tts.HELDOUT_BASES for v in conv["meta"]["voices"])


def test_bad_files_are_rejected_with_clear_errors(tmp_path):
    good = {"mix": np.zeros(6400, np.int16), "motion": np.zeros((2, 10, MOTION_DIM), np.float32),
            "activity": np.zeros((2, 10), bool), "poses": np.zeros((2, 3, 3), np.float32)}
    good["poses"][:, 1, 0] = 1
    good["poses"][:, 2, 2] = 1
    good["poses"][1, 0, 0] = 1
    writer.save_conversation(tmp_path / "ok.npz", meta={"split": "capture"}, **good)
    assert dataset.load_conversation(tmp_path / "ok.npz")["tracks"] is None
    bad = dict(good, motion=np.zeros((2, 9, MOTION_DIM), np.float32))
    with pytest.raises(dataset.CorpusFormatError, match="ceil"):
        writer.save_conversation(tmp_path / "bad.npz", meta={}, **bad)
    bad = dict(good, motion=np.zeros((2, 10, 52), np.float32))
    with pytest.raises(dataset.CorpusFormatError, match="MOTION_CHANNELS"):
        writer.save_conversation(tmp_path / "bad.npz", meta={}, **bad)


def test_an_offscreen_voice_is_in_the_mix_but_not_in_the_turns():
    plain = writer.build_conversation(3, "train", 1)
    other = writer.build_conversation(3, "train", 1, offscreen=1.0)
    # the two people's turns, tracks and motion are the same conversation's
    for key in ("activity", "motion", "poses"):
        assert np.array_equal(plain[key], other[key])
    assert "offscreen" not in plain["meta"]
    spans = other["meta"]["offscreen"]
    assert 1 <= len(spans) <= 3
    voice = spans[0]["voice"]
    assert voice not in {v["key"] for v in other["meta"]["voices"]} and voice.startswith("espeak:")
    # the mix is louder where the third voice speaks (peaks are scaled alike: compare ratios)
    mix_plain, mix_other = plain["mix"].astype(float), other["mix"].astype(float)
    inside = np.zeros(len(mix_plain), bool)
    for s in spans:
        inside[int(s["start"] * SR):int(s["end"] * SR)] = True
    def power(x, where):
        return np.mean(x[where] ** 2)
    gain_inside = power(mix_other, inside) / power(mix_plain, inside)
    gain_outside = power(mix_other, ~inside) / power(mix_plain, ~inside)
    assert gain_inside > 1.5 * gain_outside


def test_numpy_numbers_in_the_metadata_are_written_as_plain_numbers(tmp_path):
    # NumPy 2 keeps float32 arithmetic as numpy scalars (the corpus failed on a GPU machine)
    arrays = {"mix": np.zeros(6400, np.int16), "motion": np.zeros((2, 10, MOTION_DIM), np.float32),
              "activity": np.zeros((2, 10), bool), "poses": np.zeros((2, 3, 3), np.float32)}
    arrays["poses"][:, 1, 0] = arrays["poses"][:, 2, 2] = arrays["poses"][1, 0, 0] = 1
    meta = {"split": "capture", "scale": np.float32(0.5) * 1.5, "count": np.int64(3)}
    writer.save_conversation(tmp_path / "c.npz", meta=meta, **arrays)
    back = dataset.load_conversation(tmp_path / "c.npz")["meta"]
    assert back["scale"] == 0.75 and back["count"] == 3


def test_capture_round_trip(tmp_path):
    from model_runtime.channels import ARKIT_BLENDSHAPES, channel_index
    from model_runtime.layouts import preset_layout
    fps, t, sr = 60.0, 180, 48000
    n = int(t / fps * sr)
    arkit = np.zeros((t, 52))
    arkit[:, ARKIT_BLENDSHAPES.index("jawOpen")] = np.linspace(0, 1, t)
    arkit[:, ARKIT_BLENDSHAPES.index("eyeLookOutLeft")] = 0.5     # both eyes turn left
    arkit[:, ARKIT_BLENDSHAPES.index("eyeLookInRight")] = 0.5
    head = np.zeros((t, 3))
    head[:, 1] = 0.2                                                 # yaw
    frames = writer.capture_frames(n, sr)
    one = writer.capture_to_motion(arkit, head, None, fps, frames)
    assert one.shape == (frames, MOTION_DIM)
    assert abs(one[-1, channel_index("jawOpen")] - 1.0) < 0.02
    assert np.allclose(one[:, channel_index("headYaw")], 0.2)
    assert np.allclose(one[:, channel_index("gazeYaw")], 0.5 * np.radians(35), atol=1e-5)
    tracks = np.zeros((2, n), np.float32)
    tracks[0, : n // 2] = 0.1 * np.sin(np.arange(n // 2) * 0.05)
    tracks[1, n // 2:] = 0.1 * np.sin(np.arange(n - n // 2) * 0.07)
    writer.write_capture(tmp_path / "take1.npz", tracks.sum(0), sr, np.stack([one, one]),
                         preset_layout("corner"), tracks=tracks, meta={"actors": ["A", "B"]})
    conv = dataset.load_conversation(tmp_path / "take1.npz")
    assert conv["meta"]["split"] == "capture" and conv["motion"].shape == (2, frames, MOTION_DIM)
    assert conv["activity"][0, : frames // 2 - 2].all() and not conv["activity"][0, frames // 2 + 2:].any()
    assert dataset.list_conversations(tmp_path, split="capture") == [tmp_path / "take1.npz"]


@pytest.mark.skipif(not tts.festival_available(), reason="festival not installed")
def test_festival_gives_audio_with_phones():
    wave, phones = tts.synthesize("Hello there, how are you doing today?",
                                  tts.VoiceSpec("festival", "kal_diphone", "", 170, 40, 50))
    check_phones(wave, phones, "festival")
    assert {"hh", "ax", "l"} <= {p.symbol for p in phones}
    voice = tts.VoiceSpec("festival", "kal_diphone", "", 170, 40, 50)
    batch = tts.synthesize_many(["Hello there, how are you doing today?", "Okay."], voice)
    assert np.array_equal(batch[0][0], wave) and batch[0][1] == phones and len(batch[1][1]) >= 3


needs_neural = pytest.mark.skipif(not neural_tts.available(), reason="onnxruntime or the neural voice not installed")
NEURAL = tts.VoiceSpec("piper", neural_tts.VOICE_NAME, "", 170, 50, 50)


def median_f0(wave: np.ndarray) -> float:
    """Median pitch (Hz) of the loud 40 ms frames, from the autocorrelation peak in 60-400 Hz."""
    f0s, n = [], 640
    for a in range(0, len(wave) - n, n // 2):
        x = wave[a:a + n] - wave[a:a + n].mean()
        if np.sqrt(np.mean(x ** 2)) < 0.2 * np.abs(wave).max() / 3:
            continue
        ac = np.correlate(x, x, "full")[n - 1:]
        lo, hi = SR // 400, SR // 60
        f0s.append(SR / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0s))


@needs_neural
def test_neural_voice_phone_timing_matches_the_audio():
    wave, phones = tts.synthesize(TEXT, NEURAL)
    check_phones(wave, phones, "ipa")
    gaps = [(a.end, b.start) for a, b in zip(phones, phones[1:]) if b.start - a.end > 0.1]
    assert len(gaps) >= 2, "the voice pauses at the comma and the question mark"
    rms = frame_rms(wave)
    for g0, g1 in gaps:
        assert rms[int(g0 * 100) + 2:int(g1 * 100) - 2].max() < 0.05 * rms.max()
    assert any(p.stress == 2 for p in phones)
    # every letter it speaks has a mouth shape of its own (no fallback), and it is reproducible
    spoken = {p.symbol for t in (TEXT, script.sentence(np.random.default_rng(0)))
              for p in tts.synthesize(t, NEURAL)[1]}
    assert spoken <= set(visemes.IPA_VISEMES) and {"h", "l", "ð"} <= spoken
    again, _ = tts.synthesize(TEXT, NEURAL)
    assert np.array_equal(wave, again)


@needs_neural
def test_neural_voice_pitch_moves_the_voice_not_its_timing():
    low, p_low = tts.synthesize(TEXT, tts.VoiceSpec("piper", neural_tts.VOICE_NAME, "", 170, 20, 50))
    high, p_high = tts.synthesize(TEXT, tts.VoiceSpec("piper", neural_tts.VOICE_NAME, "", 170, 90, 50))
    assert median_f0(high) > 1.4 * median_f0(low)
    assert abs(len(high) - len(low)) < 0.15 * len(low)
    fast, _ = tts.synthesize(TEXT, tts.VoiceSpec("piper", neural_tts.VOICE_NAME, "", 220, 50, 50))
    assert len(fast) < 0.9 * len(tts.synthesize(TEXT, NEURAL)[0])
    assert [p.symbol for p in p_low] == [p.symbol for p in p_high]


@needs_neural
@pytest.mark.slow
def test_neural_voices_change_who_speaks_not_the_conversation():
    plain = writer.build_conversation(3, "train", 1)
    neural = writer.build_conversation(3, "train", 1, neural=1.0)
    voices = neural["meta"]["voices"]
    assert [v["engine"] for v in voices] == ["piper", "piper"]
    assert abs(voices[0]["pitch"] - voices[1]["pitch"]) >= 25
    assert neural["meta"]["texts"] == plain["meta"]["texts"] and neural["meta"]["layout"] == plain["meta"]["layout"]
    assert {s["alphabet"] for s in neural["meta"]["segments"]} == {"ipa"}
    # the mouth targets follow each person's own sound
    jaw = MOTION_CHANNELS.index("jawOpen")
    for p in range(2):
        x = neural["tracks"][p].astype(np.float32)
        n = neural["motion"].shape[1]
        hop = len(x) // n
        env = np.sqrt(np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1))
        assert np.corrcoef(neural["motion"][p, :, jaw], env)[0, 1] > 0.6


@pytest.mark.parametrize("flag", ["--offscreen", "--neural"])
def test_corpus_command_refuses_a_share_outside_0_to_1(flag, tmp_path, capsys):
    from model_training.corpus.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "c"), "--conversations", "1", flag, "1.5"])
    assert e.value.code == 2 and f"{flag} must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
