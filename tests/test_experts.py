"""model_runtime/experts.py: a high-noise and a low-noise denoiser sampled as one."""
import json
import shutil

import pytest
import torch

from model_runtime.channels import FACE_SLICE
from model_runtime.checkpoint import DEFAULT_WEIGHTS, load_checkpoint
from model_runtime.errors import CheckpointError
from model_runtime.experts import NoiseLevelExperts, experts_file, read_experts
from model_runtime.model import NULL_ROLE
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


def test_the_shipped_weights_sample_with_experts_split_at_the_sidecars_level():
    high, switch = read_experts(DEFAULT_WEIGHTS)
    assert high.is_file() and 0 < switch < 1
    ckpt, model = load_model(None, torch.device("cpu"))
    assert isinstance(model, NoiseLevelExperts) and model.switch == switch
    x, audio, roles, layout = conditions(ckpt)
    cond = model.encode_conditions(audio, roles, layout)
    with torch.no_grad():
        at, above = torch.full((B,), switch), torch.full((B,), min(1.0, switch + 0.1))
        # at or below the switch: exactly the low-noise model
        torch.testing.assert_close(model.denoise(x, at, cond), model.low.denoise(x, at, cond["low"]))
        # above it: the low-noise model's face, the high-noise model's head and gaze
        mixed, low = model.denoise(x, above, cond), model.low.denoise(x, above, cond["low"])
        assert torch.isfinite(mixed).all()
        torch.testing.assert_close(mixed[..., FACE_SLICE], low[..., FACE_SLICE])
        assert not torch.allclose(mixed[..., model.decided], low[..., model.decided], atol=1e-3)


def test_an_expert_paired_with_itself_is_that_model_at_every_level():
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    low = ckpt.build_model()
    pair = NoiseLevelExperts(low, ckpt, ckpt.build_model(), ckpt, switch=0.5)
    x, audio, roles, layout = conditions(ckpt)
    with torch.no_grad():
        for level in (0.2, 0.8):
            t = torch.full((B,), level)
            torch.testing.assert_close(pair(x, t, audio, roles, layout), low(x, t, audio, roles, layout))


@pytest.mark.parametrize("text", ["not json", '{"high_noise": "x.pt"}', '{"high_noise": "x.pt", "switch": 3}'])
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
