"""The conversation denoiser: shapes, what each condition does, N people, and that training learns."""
import pytest
import torch

from model_runtime.channels import MOTION_DIM, channel_index
from model_training.objective import LossWeights, training_loss
from model_runtime.diffusion import add_noise
from model_runtime.model import PREDICTIONS, ConversationDenoiser, ModelConfig
from model_runtime.normalisation import MotionNormaliser, regressor_count
from model_training.train import model_config

B, T, A = 2, 32, 12


def tiny(**kw) -> ConversationDenoiser:
    torch.manual_seed(0)
    model = ConversationDenoiser(ModelConfig(audio_dim=A, channels=16, channel_mults=(1, 2), attn_layers=1,
                                           attn_heads=2, dropout=0.0, **kw)).eval()
    torch.nn.init.normal_(model.out.weight, std=0.1)  # the output layer starts at zero; wake it up
    return model


def inputs():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, 2, T, MOTION_DIM, generator=g), torch.rand(B, generator=g),
            torch.randn(B, T, A, generator=g), torch.randint(0, 4, (B, 2, T), generator=g),
            torch.randn(B, 2, 7, generator=g))


def test_output_shape_and_time_multiple():
    model = tiny()
    x, t, audio, roles, layout = inputs()
    assert model(x, t, audio, roles, layout).shape == (B, 2, T, MOTION_DIM)
    with pytest.raises(ValueError, match="multiple"):
        model(x[:, :, :31], t, audio[:, :31], roles[:, :, :31], layout)


def test_default_config_is_small_enough_to_ship():
    n = sum(p.numel() for p in ConversationDenoiser(model_config("default")).parameters())
    assert 0.3e6 < n < 3e6  # a few MB of float32 weights


def changes_stream(model, edit, stream) -> bool:
    x, t, audio, roles, layout = inputs()
    with torch.no_grad():
        before = model(x, t, audio, roles, layout)
        x2, roles2, layout2 = x.clone(), roles.clone(), layout.clone()
        edit(x2, roles2, layout2)
        after = model(x2, t, audio, roles2, layout2)
    return not torch.allclose(before[:, stream], after[:, stream], atol=1e-6)


def edit_partner_motion(x, roles, layout):
    x[:, 1] += 1.0


def test_each_stream_reads_the_other_only_through_cross_attention():
    assert changes_stream(tiny(), edit_partner_motion, stream=0)
    assert not changes_stream(tiny(use_cross_stream=False), edit_partner_motion, stream=0)


def test_roles_and_layout_condition_the_stream():
    def edit_roles(x, roles, layout):
        roles[:, 0] = (roles[:, 0] + 1) % 4

    def edit_layout(x, roles, layout):
        layout[:, 0, :3] = -layout[:, 0, :3]

    assert changes_stream(tiny(), edit_roles, stream=0)
    assert not changes_stream(tiny(use_roles=False), edit_roles, stream=0)
    assert changes_stream(tiny(), edit_layout, stream=0)
    assert not changes_stream(tiny(use_layout=False), edit_layout, stream=0)


def test_v_model_keeps_what_the_noise_still_shows():
    """Before any training, a v model's clean-motion estimate at low noise is its input (the
    network only corrects it), where an x0 model's is its zero output, the mean: the v model
    starts from people's detail and has to learn to remove noise, not to redraw motion."""
    x, _, audio, roles, layout = inputs()
    t = torch.full((B,), 0.02)
    noisy = add_noise(x, t, torch.randn_like(x))
    untrained = {p: ConversationDenoiser(ModelConfig(audio_dim=A, channels=16, channel_mults=(1, 2), attn_layers=1,
                                                     attn_heads=2, prediction=p)).eval() for p in PREDICTIONS}
    with torch.no_grad():
        error = {p: (m(noisy, t, audio, roles, layout) - x).abs().mean() for p, m in untrained.items()}
    assert error["v"] < 0.05 * error["x0"]


def test_config_refuses_an_unknown_prediction():
    with pytest.raises(ValueError, match="prediction"):
        ModelConfig.from_dict({"prediction": "eps"})


@pytest.mark.slow       # 300 optimizer steps
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_short_training_run_learns_motion_from_the_audio(prediction):
    """Motion that follows the audio (the jaw follows the first audio feature while speaking;
    every other channel, and the jaw otherwise, is unit noise that nothing predicts) must be
    learned: after 300 steps the jaw estimated from half noise is closer to the truth."""
    torch.manual_seed(0)
    model = ConversationDenoiser(ModelConfig(audio_dim=A, channels=16, channel_mults=(1, 2), attn_layers=1,
                                           attn_heads=2, dropout=0.0, prediction=prediction))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    identity = MotionNormaliser(torch.zeros(MOTION_DIM), torch.ones(MOTION_DIM), torch.zeros(regressor_count(7), MOTION_DIM))
    jaw = channel_index("jawOpen")

    def batch():
        audio = torch.randn(8, T, A)
        roles = torch.randint(1, 3, (8, 2, T))
        motion = torch.randn(8, 2, T, MOTION_DIM)       # normalised motion has unit variance
        motion[..., jaw] = torch.where(roles == 1, audio[:, None, :, 0], motion[..., jaw])
        return {"motion": motion, "audio": audio, "roles": roles, "layout": torch.randn(8, 2, 7)}

    probe = batch()

    def jaw_error_from_noise() -> float:
        t = torch.full((8,), 0.5)
        noisy = add_noise(probe["motion"], t, torch.randn_like(probe["motion"]))
        with torch.no_grad():
            x0 = model.eval()(noisy, t, probe["audio"], probe["roles"], probe["layout"])
        return (x0[..., jaw] - probe["motion"][..., jaw]).abs().mean().item()

    before = jaw_error_from_noise()
    model.train()
    weights = LossWeights(gaze=0.0, cond_drop=0.0)
    for _ in range(300):
        loss = training_loss(model, batch(), identity, weights)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert jaw_error_from_noise() < 0.9 * before


def test_three_people_each_react_to_the_others_and_order_does_not_matter():
    """Written for S people: three streams run with the two-person weights; editing one person
    changes the others (cross-stream attention reads every partner); relabelling the people
    only relabels the output."""
    model = tiny()
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(B, 3, T, MOTION_DIM, generator=g), torch.rand(B, generator=g)
    audio, roles = torch.randn(B, T, A, generator=g), torch.randint(0, 4, (B, 3, T), generator=g)
    layout = torch.randn(B, 3, 7, generator=g)
    with torch.no_grad():
        out = model(x, t, audio, roles, layout)
        assert out.shape == (B, 3, T, MOTION_DIM)
        x2 = x.clone()
        x2[:, 2] += 1.0
        edited = model(x2, t, audio, roles, layout)
        for other in (0, 1):
            assert not torch.allclose(out[:, other], edited[:, other], atol=1e-6)
        order = [2, 0, 1]
        permuted = model(x[:, order], t, audio, roles[:, order], layout[:, order])
    torch.testing.assert_close(permuted, out[:, order], atol=1e-5, rtol=1e-4)


class _OffByOne(torch.nn.Module):
    """A 'denoiser' that returns the clean motion with one channel off by a ramp over time."""

    def __init__(self, clean: torch.Tensor, channel: str):
        super().__init__()
        self.cfg, self.clean, self.channel = ModelConfig(), clean, channel_index(channel)

    def forward(self, noisy, t, audio, roles, layout):
        out = self.clean.clone()
        out[..., self.channel] += torch.linspace(0.0, 1.0, out.shape[2])
        return out


@pytest.mark.parametrize("channel", ["headPitch", "jawOpen"])
def test_a_channel_weight_scales_that_channel_and_no_other_in_the_loss(channel):
    """``train --channel-weight headPitch=4``: an error in head pitch weighs four times as much
    in the motion and velocity terms; an error in the jaw keeps its face weight."""
    g = torch.Generator().manual_seed(3)
    batch = {"motion": torch.randn(B, 2, T, MOTION_DIM, generator=g), "audio": torch.randn(B, T, A, generator=g),
             "roles": torch.randint(0, 4, (B, 2, T), generator=g), "layout": torch.randn(B, 2, 7, generator=g)}
    identity = MotionNormaliser(torch.zeros(MOTION_DIM), torch.ones(MOTION_DIM), torch.zeros(regressor_count(7), MOTION_DIM))
    model = _OffByOne(batch["motion"], channel)

    def terms(**channels):
        losses = training_loss(model, batch, identity, LossWeights(gaze=0.0, cond_drop=0.0, channels=channels))
        return losses["motion"].item(), losses["velocity"].item()

    plain, pitch_weighted = terms(), terms(headPitch=4.0)
    assert min(plain) > 0
    expected = 4.0 if channel == "headPitch" else 1.0
    for a, b in zip(plain, pitch_weighted):
        assert b == pytest.approx(expected * a, rel=1e-5)


@pytest.mark.parametrize("channel", ["headPitch", "jawOpen"])
def test_answer_frames_weigh_more_in_head_and_gaze_only(channel):
    """``train --answer-weight 3``: on the frames where a person answers the partner's glance,
    an error of head or gaze weighs 1 + 3 in the motion and velocity terms; the mouth keeps
    its weight, and so does every frame that answers nothing."""
    g = torch.Generator().manual_seed(4)
    batch = {"motion": torch.randn(B, 2, T, MOTION_DIM, generator=g), "audio": torch.randn(B, T, A, generator=g),
             "roles": torch.randint(0, 4, (B, 2, T), generator=g), "layout": torch.randn(B, 2, 7, generator=g)}
    identity = MotionNormaliser(torch.zeros(MOTION_DIM), torch.ones(MOTION_DIM), torch.zeros(regressor_count(7), MOTION_DIM))
    model = _OffByOne(batch["motion"], channel)

    def terms(weight, answers):
        losses = training_loss(model, {**batch, "answers": answers}, identity,
                               LossWeights(gaze=0.0, cond_drop=0.0, answers=weight))
        return losses["motion"].item(), losses["velocity"].item()

    plain = terms(0.0, torch.ones(B, 2, T))
    assert terms(3.0, torch.zeros(B, 2, T)) == pytest.approx(plain, rel=1e-6)
    expected = 4.0 if channel == "headPitch" else 1.0
    for a, b in zip(plain, terms(3.0, torch.ones(B, 2, T))):
        assert b == pytest.approx(expected * a, rel=1e-5)
    with pytest.raises(ValueError, match="answer frames"):
        training_loss(model, batch, identity, LossWeights(gaze=0.0, cond_drop=0.0, answers=3.0))


def test_train_refuses_a_channel_weight_it_cannot_read():
    from model_training.train import parse_args
    assert parse_args(["--corpus", "c", "--out", "o.pt", "--channel-weight", "headPitch=4"]).channel_weight == {"headPitch": 4.0}
    for bad in ("pitch=4", "headPitch", "headPitch=-1", "headPitch=nan"):
        with pytest.raises(SystemExit):
            parse_args(["--corpus", "c", "--out", "o.pt", "--channel-weight", bad])
    for bad in ("-1", "nan", "inf", "x"):
        with pytest.raises(SystemExit):
            parse_args(["--corpus", "c", "--out", "o.pt", "--answer-weight", bad])


def test_partner_use_is_zero_without_cross_stream_attention_and_not_with_it():
    """model_training.denoiser_levels measures how much an estimate needs the partner by giving
    each person a stranger for a partner: nothing changes for a one-stream model."""
    from model_training.denoiser_levels import partner_use
    x, t, audio, roles, layout = inputs()
    answers = torch.zeros(x.shape[:3])
    answers[:, :, 5:20] = 1.0                   # the frames where a person answers the partner
    batch = {"audio": audio, "roles": roles, "layout": layout, "answers": answers}
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for ahead in (0.0, 0.3):
            for use in partner_use(tiny(use_cross_stream=False), x, noise, 0.5, batch, ahead).values():
                assert use == pytest.approx(0.0, abs=1e-6)
            for use in partner_use(tiny(), x, noise, 0.5, batch, ahead).values():
                assert abs(use) > 1e-4


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_a_noise_level_per_stream_reaches_a_person_only_through_the_partner(prediction):
    """Levels per stream (train --stream-levels): the same level for everyone is the shared
    level exactly; a partner further along changes a person's estimate only through the
    cross-stream attention."""
    x, t, audio, roles, layout = inputs()
    ahead = t[:, None].repeat(1, 2)
    ahead[:, 1] = 0.05
    with torch.no_grad():
        for cross in (True, False):
            model = tiny(prediction=prediction, use_cross_stream=cross)
            shared = model(x, t, audio, roles, layout)
            torch.testing.assert_close(model(x, t[:, None].expand(B, 2), audio, roles, layout), shared)
            moved = model(x, ahead, audio, roles, layout)
            assert not torch.allclose(moved[:, 1], shared[:, 1], atol=1e-6)
            assert torch.allclose(moved[:, 0], shared[:, 0], atol=1e-6) != cross


def test_stream_levels_give_a_share_of_conversations_a_level_per_person():
    from model_training.objective import stream_levels
    torch.manual_seed(0)
    t = torch.rand(4000)
    levels = stream_levels(t, 2, 0.5)
    own = levels[:, 0] != levels[:, 1]
    assert levels.shape == (4000, 2) and 0.45 < own.float().mean() < 0.55
    torch.testing.assert_close(levels[~own, 0], t[~own])
    assert torch.equal(stream_levels(t, 3, 0.0), t[:, None].expand(-1, 3))
