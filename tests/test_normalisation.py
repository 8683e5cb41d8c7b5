"""model_runtime/normalisation.py: the model's motion is centred on the pose the layout gives."""
import numpy as np
import pytest
import torch

from model_runtime.channels import LAYOUT_DIM, LAYOUT_PARTNER_DIRECTION, MOTION_DIM, channel_index
from model_runtime.checkpoint import FORMAT_VERSION, Checkpoint, load_checkpoint, save_checkpoint
from model_runtime.errors import CheckpointError
from model_runtime.geometry import angles_to_direction
from model_runtime.model import ConversationDenoiser, ModelConfig
from model_runtime.normalisation import fit_normaliser, regressor_count

HEAD_YAW, JAW = channel_index("headYaw"), channel_index("jawOpen")


def turning_people(layouts: int = 12, frames: int = 200):
    """People who turn their head 60 % of the way toward a partner standing within +-60 degrees
    and move 3 degrees around that: frames (N, D) and their layouts (N, L)."""
    rng = np.random.default_rng(0)
    motion, layout = [], []
    for partner_yaw in np.radians(rng.uniform(-60, 60, layouts)):
        lay = np.zeros(LAYOUT_DIM, dtype=np.float32)
        lay[LAYOUT_PARTNER_DIRECTION] = angles_to_direction(partner_yaw, 0.0).numpy()
        m = rng.normal(0.3, 0.1, (frames, MOTION_DIM))
        m[:, HEAD_YAW] = 0.6 * partner_yaw + rng.normal(0, np.radians(3), frames)
        motion.append(m)
        layout.append(np.repeat(lay[None], frames, axis=0))
    return np.concatenate(motion).astype(np.float32), np.concatenate(layout)


def per_layout_means(x: torch.Tensor, frames: int = 200) -> torch.Tensor:
    return x.reshape(-1, frames, x.shape[-1]).mean(1)


def test_head_yaw_is_normalised_around_where_the_partner_stands():
    motion, layout = turning_people()
    centred, plain = fit_normaliser(motion, layout), fit_normaliser(motion, layout, centre_on_layout=False)
    m, lay = torch.as_tensor(motion)[:, None, None], torch.as_tensor(layout)[:, None]   # (N, S=1, T=1, D)
    x_centred, x_plain = centred.normalise(m, lay)[:, 0, 0], plain.normalise(m, lay)[:, 0, 0]
    # one normalised unit is the 3 degrees people move, not the 36-degree spread of layouts
    assert np.degrees(float(centred.std[HEAD_YAW])) == pytest.approx(3, rel=0.1)
    assert np.degrees(float(plain.std[HEAD_YAW])) > 15
    assert per_layout_means(x_centred)[:, HEAD_YAW].abs().max() < 0.3
    assert per_layout_means(x_plain)[:, HEAD_YAW].abs().max() > 1
    # the face is not the layout's business: plain statistics either way
    torch.testing.assert_close(centred.std[JAW], plain.std[JAW])
    torch.testing.assert_close(x_centred[:, JAW], x_plain[:, JAW])
    torch.testing.assert_close(centred.denormalise(centred.normalise(m, lay), lay), m, atol=1e-5, rtol=0)


def tiny_checkpoint(centred: bool) -> Checkpoint:
    cfg = ModelConfig(channels=16, channel_mults=(1, 2), attn_layers=1, attn_heads=2)
    motion, layout = turning_people(layouts=4, frames=20)
    normaliser = fit_normaliser(motion, layout, centre_on_layout=centred)
    return Checkpoint(cfg, ConversationDenoiser(cfg).state_dict(), normaliser.mean, normaliser.std,
                      torch.zeros(cfg.audio_dim), torch.ones(cfg.audio_dim),
                      motion_layout_weights=normaliser.layout_weights)


@pytest.mark.parametrize("centred", [True, False])
def test_a_checkpoint_keeps_its_centring_and_plain_ones_stay_readable_by_older_runtimes(tmp_path, centred):
    ckpt = tiny_checkpoint(centred)
    path = save_checkpoint(ckpt, tmp_path / "w.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["version"] == (FORMAT_VERSION if centred else 1)
    assert ("motion_layout_weights" in payload["stats"]) == centred
    loaded = load_checkpoint(path).motion_normaliser
    torch.testing.assert_close(loaded.layout_weights, ckpt.motion_normaliser.layout_weights)
    assert loaded.layout_weights.shape == (regressor_count(LAYOUT_DIM), MOTION_DIM)


@pytest.mark.parametrize("change, message", [
    (lambda stats: stats.pop("motion_layout_weights"), "motion_layout_weights is missing"),
    (lambda stats: stats.update(motion_layout_weights=torch.zeros(3, MOTION_DIM)), "motion_layout_weights has shape"),
    (lambda stats: stats["motion_layout_weights"].fill_(float("nan")), "motion_layout_weights"),
])
def test_damaged_layout_weights_are_refused(tmp_path, change, message):
    path = save_checkpoint(tiny_checkpoint(centred=True), tmp_path / "w.pt")
    payload = torch.load(path, weights_only=True)
    change(payload["stats"])
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
