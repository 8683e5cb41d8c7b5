"""model_runtime/experts.py: a high-noise and a low-noise denoiser sampled as one."""
import copy
import json
import shutil
from dataclasses import replace

import pytest
import torch

from model_runtime.channels import FACE_SLICE, HEAD_AND_GAZE_SLICE
from model_runtime.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, save_checkpoint
from model_runtime.errors import CheckpointError
from model_runtime.experts import NoiseLevelExperts, experts_file, read_experts
from model_runtime.model import NULL_ROLE
from model_runtime.normalisation import regressor_count
from model_runtime.pipeline import load_model

B, S, T = 2, 2, 64


def conditions(ckpt):
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(B, T, ckpt.config.audio_dim, generator=g)
    roles = torch.randint(0, 4, (B, S, T), generator=g)
    roles[1], audio[1] = NULL_ROLE, 0.0       # the unconditional half of guidance, as windowed.py makes it
    layout = torch.randn(B, S, ckpt.config.layout_dim, generator=g)
    x = torch.randn(B, S, T, ckpt.config.motion_dim, generator=g)
    return x, audio, roles, layout


def test_the_shipped_weights_sample_with_experts_split_at_the_sidecars_levels():
    experts = read_experts(DEFAULT_WEIGHTS)
    assert experts.high_noise.is_file() and 0 < experts.switch < 1
    ckpt, model = load_model(None, torch.device("cpu"))
    assert isinstance(model, NoiseLevelExperts)
    assert (model.switch, model.face_switch) == (experts.switch, experts.face_switch)
    check_levels(model, ckpt)


def test_above_the_face_switch_the_high_noise_expert_draws_every_channel(tmp_path):
    main, high = tmp_path / "mine.pt", tmp_path / "mine_high.pt"
    shutil.copy(DEFAULT_WEIGHTS, main)
    shutil.copy(DEFAULT_WEIGHTS.with_name("default_high_noise.pt"), high)
    experts_file(main).write_text(json.dumps({"high_noise": high.name, "switch": 0.3, "face_switch": 0.6}))
    ckpt, model = load_model(str(main), torch.device("cpu"))
    assert (model.switch, model.face_switch) == (0.3, 0.6)
    check_levels(model, ckpt)


def check_levels(model: NoiseLevelExperts, ckpt) -> None:
    """At or below the switch the low-noise model; between the switch and face_switch its face
    with the high-noise model's head and gaze; above face_switch the high-noise model alone."""
    x, audio, roles, layout = conditions(ckpt)
    cond = model.encode_conditions(audio, roles, layout)

    def experts_at(t):
        level = torch.full((B,), t)
        return (model.denoise(x, level, cond), model.carry_low.denoise(model.low, x, level, cond["low"]),
                model.carry_high.denoise(model.high, x, level, cond["high"]))
    with torch.no_grad():
        pair, low, _ = experts_at(model.switch)
        torch.testing.assert_close(pair, low)
        pair, low, high = experts_at((model.switch + min(model.face_switch, 1.0)) / 2)
        assert torch.isfinite(pair).all()
        torch.testing.assert_close(pair[..., FACE_SLICE], low[..., FACE_SLICE])
        torch.testing.assert_close(pair[..., model.decided], high[..., model.decided])
        assert not torch.allclose(pair[..., model.decided], low[..., model.decided], atol=1e-3)
        if model.face_switch < 1.0:
            pair, low, high = experts_at(1.0)
            torch.testing.assert_close(pair, high)
            assert not torch.allclose(pair[..., FACE_SLICE], low[..., FACE_SLICE], atol=1e-3)


def test_an_expert_paired_with_itself_is_that_model_at_every_level():
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    low = ckpt.build_model()
    pair = NoiseLevelExperts(low, ckpt, ckpt.build_model(), ckpt, switch=0.5)
    x, audio, roles, layout = conditions(ckpt)
    with torch.no_grad():
        for level in (0.2, 0.8):
            t = torch.full((B,), level)
            torch.testing.assert_close(pair(x, t, audio, roles, layout), low(x, t, audio, roles, layout))


@pytest.mark.parametrize("text", ["not json", '{"high_noise": "x.pt"}', '{"high_noise": "x.pt", "switch": 3}',
                                  '{"high_noise": "x.pt", "switch": 0.3, "sample_in": "elsewhere"}', "[1]",
                                  '{"high_noise": "absent.pt", "switch": 0.3}',
                                  '{"high_noise": "mine.pt", "switch": 0.5, "face_switch": 0.4}'])
def test_a_broken_sidecar_is_refused_naming_it(tmp_path, text):
    weights = tmp_path / "mine.pt"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    experts_file(weights).write_text(text)
    with pytest.raises(CheckpointError, match="mine.experts.json"):
        read_experts(weights)


def test_a_checkpoint_without_a_sidecar_is_one_model(tmp_path):
    weights = tmp_path / "alone.pt"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    assert read_experts(weights) is None
    _, model = load_model(str(weights), torch.device("cpu"))
    assert not isinstance(model, NoiseLevelExperts)
    assert json.loads(experts_file(DEFAULT_WEIGHTS).read_text())["high_noise"]


class LayoutsPose(torch.nn.Module):
    """A denoiser whose estimate is always its normalised zero: the pose its checkpoint's
    normalisation centres on."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def encode_conditions(self, audio, roles, layout):
        return None

    def denoise(self, x_t, t, cond):
        return torch.zeros_like(x_t)


def test_motion_is_carried_between_a_plain_and_a_layout_centred_checkpoint():
    """The high-noise expert may centre head and gaze on the layout (normalisation.py) while the
    low-noise one does not: what the high one estimates arrives in the low one's normalisation
    as the same head and gaze in radians, for every person's layout."""
    low_ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    high_ckpt = copy.copy(low_ckpt)
    g = torch.Generator().manual_seed(1)
    weights = torch.zeros(regressor_count(low_ckpt.config.layout_dim), low_ckpt.config.motion_dim)
    weights[:, HEAD_AND_GAZE_SLICE] = torch.randn(weights.shape[0], 5, generator=g)
    high_ckpt.motion_layout_weights, high_ckpt.motion_std = weights, low_ckpt.motion_std * 0.2
    pair = NoiseLevelExperts(low_ckpt.build_model(), low_ckpt, LayoutsPose(low_ckpt.config), high_ckpt, switch=0.3)
    x, audio, roles, layout = conditions(low_ckpt)
    with torch.no_grad():
        estimate = pair(x, torch.full((B,), 0.7), audio, roles, layout)
    radians = low_ckpt.motion_normaliser.denormalise(estimate, layout)[..., HEAD_AND_GAZE_SLICE]
    expected = high_ckpt.motion_normaliser.offset(layout)[..., HEAD_AND_GAZE_SLICE].expand_as(radians)
    torch.testing.assert_close(radians, expected, atol=1e-4, rtol=0)
    assert expected[0, 0].sub(expected[0, 1]).abs().max() > 0.1      # the two people's poses differ


def test_a_pair_sampled_in_the_high_noise_experts_normalisation(tmp_path):
    """``"sample_in": "high_noise"``: the pipeline normalises audio and denormalises motion with
    the high-noise checkpoint's statistics, and that expert sees its input unchanged."""
    main, high = tmp_path / "mine.pt", tmp_path / "mine_high.pt"
    shutil.copy(DEFAULT_WEIGHTS, main)
    # an expert with statistics of its own (the shipped pair shares one normalisation)
    own = load_checkpoint(DEFAULT_WEIGHTS.with_name("default_high_noise.pt"))
    save_checkpoint(replace(own, motion_std=own.motion_std * 1.5, audio_mean=own.audio_mean + 0.1), high)
    experts_file(main).write_text(json.dumps({"high_noise": high.name, "switch": 0.3, "sample_in": "high_noise"}))
    ckpt, model = load_model(str(main), torch.device("cpu"))
    high_ckpt, main_ckpt = load_checkpoint(high), load_checkpoint(main)
    assert torch.equal(ckpt.motion_std, high_ckpt.motion_std) and torch.equal(ckpt.audio_mean, high_ckpt.audio_mean)
    assert ckpt.info == main_ckpt.info and ckpt.config == main_ckpt.config
    assert torch.equal(model.carry_high.motion_scale, torch.ones_like(model.carry_high.motion_scale))
    assert not torch.equal(model.carry_low.motion_scale, torch.ones_like(model.carry_low.motion_scale))
