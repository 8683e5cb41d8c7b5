"""Sampler and windowed generation: determinism, guidance, seamless windows, checkpoints."""
import pytest
import torch

from model_runtime.channels import MOTION_DIM
from model_runtime.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_runtime.errors import CheckpointError
from model_runtime.model import NULL_ROLE, ConversationDenoiser, ModelConfig
from model_runtime.sampling import ddim_timesteps, sample_ddim
from model_runtime.windowed import WindowedDenoiser, blend_weights, window_starts

A = 12


def tiny_model() -> ConversationDenoiser:
    torch.manual_seed(0)
    model = ConversationDenoiser(ModelConfig(audio_dim=A, channels=16, channel_mults=(1, 2), attn_layers=1,
                                           attn_heads=2, dropout=0.0)).eval()
    torch.nn.init.normal_(model.out.weight, std=0.2)
    return model


def conditions(t_len: int):
    g = torch.Generator().manual_seed(3)
    return torch.randn(t_len, A, generator=g), torch.randint(0, 4, (2, t_len), generator=g), torch.randn(2, 7, generator=g)


def run(model, t_len=96, seed=0, steps=4, guidance=1.0, window=32, overlap=8):
    audio, roles, layout = conditions(t_len)
    den = WindowedDenoiser(model, audio, roles, layout, window, overlap, guidance=guidance, windows_per_call=2)
    noise = torch.randn(2, t_len, MOTION_DIM, generator=torch.Generator().manual_seed(seed))
    return sample_ddim(den, noise, ddim_timesteps(steps))


def test_same_seed_same_motion_other_seed_other_motion():
    model = tiny_model()
    a, b, c = run(model, seed=5), run(model, seed=5), run(model, seed=6)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-3)


class UncondShifted(torch.nn.Module):
    """The tiny model, except that its unconditional prediction (the windows encoded with the
    null role) is moved by ``shift``; it records how many windows each model call denoised and
    how many of them were unconditional."""

    def __init__(self, model, shift: float):
        super().__init__()
        self.model, self.shift, self.cfg = model, shift, model.cfg
        self.batches, self.null_windows = [], 0

    def encode_conditions(self, audio, roles, layout):
        cond = dict(self.model.encode_conditions(audio, roles, layout))
        cond["null"] = (roles == NULL_ROLE).flatten(1).all(1)
        self.null_windows += int(cond["null"].sum())
        return cond

    def denoise(self, x, t, cond):
        null = cond["null"]
        out = self.model.denoise(x, t, {k: v for k, v in cond.items() if k != "null"})
        self.batches.append(x.shape[0])
        out[null] += self.shift
        return out


def test_guidance_changes_the_result_and_one_means_off():
    model = tiny_model()
    # 96 frames in 32-frame windows with 8 overlapping: 4 windows, 2 per model call.
    plain = UncondShifted(model, 0.0)
    off = run(plain, guidance=1.0)
    # Guidance 1 is off: one conditional pass per window, nothing unconditional is even encoded.
    assert plain.null_windows == 0 and plain.batches == [2, 2] * 4
    # ... so an unconditional prediction that differs changes nothing at all.
    assert torch.equal(run(UncondShifted(model, 0.5), guidance=1.0), off)
    # Any other guidance runs the unconditional half too (twice the windows per call) ...
    guided = UncondShifted(model, 0.0)
    on = run(guided, guidance=2.0)
    assert guided.null_windows == 4 and guided.batches == [4, 4] * 4
    # ... changes the result, and really uses the unconditional prediction.
    assert not torch.allclose(on, off, atol=1e-4)
    assert not torch.allclose(run(UncondShifted(model, 0.5), guidance=2.0), on, atol=1e-4)


def test_guidance_per_channel_guides_each_channel_by_its_own_scale():
    """The face keeps its own guidance while Expressiveness guides head and gaze
    (pipeline.channel_guidance): one denoiser call, channel by channel, is exactly the scalar
    call with that channel's scale."""
    from model_runtime.channels import FACE_SLICE, HEAD_AND_GAZE_SLICE
    from model_runtime.pipeline import channel_guidance
    from model_runtime.settings import GenerationSettings
    model = UncondShifted(tiny_model(), 0.3)
    audio, roles, layout = conditions(96)
    x = torch.randn(2, 96, MOTION_DIM, generator=torch.Generator().manual_seed(1))

    def one_call(guidance):
        return WindowedDenoiser(model, audio, roles, layout, 32, 8, guidance=guidance, windows_per_call=2)(x, 0.6)
    per_channel = channel_guidance(GenerationSettings(guidance=2.0, face_guidance=1.5, guidance_per_axis=False),
                                   MOTION_DIM)
    split, face, head = one_call(per_channel), one_call(1.5), one_call(2.0)
    torch.testing.assert_close(split[..., FACE_SLICE], face[..., FACE_SLICE])
    torch.testing.assert_close(split[..., HEAD_AND_GAZE_SLICE], head[..., HEAD_AND_GAZE_SLICE])
    assert not torch.allclose(face[..., HEAD_AND_GAZE_SLICE], head[..., HEAD_AND_GAZE_SLICE], atol=1e-3)
    # all ones is off: one conditional pass, as the scalar 1
    assert torch.equal(one_call(torch.ones(MOTION_DIM)), one_call(1.0))


def test_expressiveness_guides_each_head_and_gaze_axis_by_its_share_and_1_is_off_for_all():
    """Per axis (pipeline.AXIS_GUIDANCE_SHARES): at the default the head turns less and nods and
    the eyes move more than at one scale; 1 turns guidance off everywhere; none goes negative."""
    from model_runtime.channels import FACE_SLICE, channel_index
    from model_runtime.pipeline import channel_guidance
    from model_runtime.settings import GenerationSettings

    def at(guidance, name):
        return float(channel_guidance(GenerationSettings(guidance=guidance), MOTION_DIM)[channel_index(name)])
    assert at(2.0, "headYaw") < at(2.0, "headRoll") == 2.0 < at(2.0, "headPitch") < at(2.0, "gazeYaw")
    assert at(2.0, "gazeYaw") == at(2.0, "gazePitch")
    assert at(3.0, "headYaw") > at(2.0, "headYaw")            # Expressiveness still raises every axis
    assert torch.equal(channel_guidance(GenerationSettings(guidance=1.0, face_guidance=1.0), MOTION_DIM),
                       torch.ones(MOTION_DIM))
    low = channel_guidance(GenerationSettings(guidance=0.0, face_guidance=1.5), MOTION_DIM)
    assert low.min() >= 0.0 and torch.all(low[FACE_SLICE] == 1.5)


@pytest.mark.parametrize("eta, spacing", [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (0.0, 1.5), (1.0, 1.5)])
def test_every_eta_samples_a_known_distribution_with_its_spread(eta, spacing):
    """Data N(0, s^2) has the exact x0 denoiser sqrt(ab) s^2 x / (ab s^2 + 1 - ab): with it and
    enough steps, deterministic DDIM and the stochastic (ancestral) steps must both end with
    spread s. A wrong noise or eps coefficient at eta > 0 shrinks or inflates it. (At 6 steps
    every eta keeps only 70-80 % of s even with this exact denoiser: few steps play safe.)"""
    from model_runtime.diffusion import alpha_bar
    s = 0.5

    def exact(x, t):
        ab = alpha_bar(torch.tensor(t))
        return ab.sqrt() * s ** 2 * x / (ab * s ** 2 + 1 - ab)

    gen = torch.Generator().manual_seed(4)
    noise = torch.randn(200_000, generator=gen)
    out = sample_ddim(exact, noise, ddim_timesteps(200, spacing), eta=eta,
                      noise_sampler=lambda i: torch.randn(200_000, generator=gen))
    assert float(out.std()) == pytest.approx(s, rel=0.03)
    assert abs(float(out.mean())) < 0.01


def test_step_spacing_puts_more_steps_where_the_conversation_is_decided():
    """From pure noise to clean, always downward; spacing 1 even, the default (1.5) spends
    most steps at high noise, where whether a person looks away or nods is decided."""
    from model_runtime.settings import DEFAULTS
    even, spaced = ddim_timesteps(6), ddim_timesteps(6, DEFAULTS.step_spacing)
    torch.testing.assert_close(even, torch.linspace(1.0, 0.0, 7))
    for times in (even, spaced):
        assert float(times[0]) == 1.0 and float(times[-1]) == 0.0
        assert bool((times.diff() < 0).all())
    assert int((spaced[:-1] > 0.5).sum()) > int((even[:-1] > 0.5).sum())
    with pytest.raises(ValueError, match="spacing"):
        ddim_timesteps(6, 0.0)


def test_eta_draws_fresh_noise_per_step_and_zero_draws_none():
    model = tiny_model()
    calls = []

    def fresh(i):
        calls.append(i)
        return torch.randn(2, 96, MOTION_DIM, generator=torch.Generator().manual_seed(100 + i))

    audio, roles, layout = conditions(96)
    den = WindowedDenoiser(model, audio, roles, layout, 32, 8, windows_per_call=2)
    noise = torch.randn(2, 96, MOTION_DIM, generator=torch.Generator().manual_seed(0))
    ddim = sample_ddim(den, noise, ddim_timesteps(4), eta=0.0, noise_sampler=fresh)
    assert calls == []
    ancestral = sample_ddim(den, noise, ddim_timesteps(4), eta=1.0, noise_sampler=fresh)
    assert calls == [0, 1, 2]                          # the last step returns x0: no noise
    assert not torch.allclose(ddim, ancestral, atol=1e-3)
    assert torch.equal(ancestral, sample_ddim(den, noise, ddim_timesteps(4), eta=1.0, noise_sampler=fresh))


def test_callback_sees_every_step_and_can_cancel():
    model = tiny_model()
    audio, roles, layout = conditions(32)
    den = WindowedDenoiser(model, audio, roles, layout, 32, 8)
    seen = []
    sample_ddim(den, torch.randn(2, 32, MOTION_DIM), ddim_timesteps(5), callback=lambda d: seen.append(d["i"]))
    assert seen == [0, 1, 2, 3, 4]

    class Stop(Exception):
        pass

    def stop(info):
        if info["i"] == 1:
            raise Stop

    with pytest.raises(Stop):
        sample_ddim(den, torch.randn(2, 32, MOTION_DIM), ddim_timesteps(5), callback=stop)


def test_windows_cover_everything_and_blend_to_one():
    for total, window, overlap in [(32, 32, 8), (100, 32, 8), (1000, 256, 64), (257, 256, 64)]:
        starts = window_starts(total, window, overlap)
        covered = torch.zeros(total)
        for s in starts:
            covered[s:s + window] += 1
        assert covered.min() >= 1 and starts[-1] + window == total
    w = blend_weights(32, 8, first=False, last=False)
    assert w[0] > 0 and w[-1] > 0 and w[8:24].eq(1).all()


class PerWindowConstant(torch.nn.Module):
    """A stand-in model that answers a different constant in every window: the worst case for
    seams. Fusion must turn the steps between windows into ramps across the overlaps."""

    class cfg:
        time_multiple = 1

    def encode_conditions(self, audio, roles, layout):
        return {"n": audio.shape[0]}

    def denoise(self, x, t, cond):
        self.calls = getattr(self, "calls", 0) + 1
        values = torch.arange(x.shape[0], dtype=torch.float32) + 10.0 * self.calls
        return values[:, None, None, None].expand_as(x).clone()


def test_fusion_removes_seams_between_windows():
    total, window, overlap = 200, 64, 16
    model = PerWindowConstant()
    den = WindowedDenoiser(model, torch.zeros(total, 1), torch.zeros(2, total, dtype=torch.long),
                           torch.zeros(2, 7), window, overlap, windows_per_call=100)
    out = den(torch.zeros(2, total, 3), 0.5)
    jumps = out[0, :, 0].diff().abs()
    # Neighbouring windows differ by 1; blended over a 16-frame overlap each frame moves <= 1/16.
    assert float(jumps.max()) <= 1.0 / overlap + 1e-5


def test_checkpoint_round_trip_gives_the_same_model(tmp_path):
    model = tiny_model()
    stats = dict(motion_mean=torch.zeros(MOTION_DIM), motion_std=torch.ones(MOTION_DIM),
                 audio_mean=torch.zeros(A), audio_std=torch.ones(A))
    path = save_checkpoint(Checkpoint(model.cfg, model.state_dict(), **stats, info={"name": "t"}), tmp_path / "m.pt")
    loaded = load_checkpoint(path).build_model()
    # Weights are stored as float16: the same motion up to that rounding.
    assert torch.allclose(run(model), run(loaded), atol=2e-2)
    assert path.stat().st_size < 0.6 * 4 * sum(p.numel() for p in model.parameters()) + 20_000


@pytest.mark.parametrize("damage", ["missing", "garbage", "other_format", "newer", "channels", "weights"])
def test_bad_checkpoints_are_clear_errors(tmp_path, damage):
    model = tiny_model()
    stats = dict(motion_mean=torch.zeros(MOTION_DIM), motion_std=torch.ones(MOTION_DIM),
                 audio_mean=torch.zeros(A), audio_std=torch.ones(A))
    path = save_checkpoint(Checkpoint(model.cfg, model.state_dict(), **stats), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    if damage == "missing":
        path = tmp_path / "nope.pt"
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 50)
    elif damage == "other_format":
        torch.save({"state_dict": {}}, path)
    elif damage == "newer":
        torch.save({**payload, "version": 99}, path)
    elif damage == "channels":
        torch.save({**payload, "motion_channels": ["jawOpen"]}, path)
    elif damage == "weights":
        torch.save({**payload, "state_dict": {"in_proj.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path).build_model()
