"""A tiny corpus -> train (through torchrun, one process) -> evaluate loop, on CPU."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_runtime.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,     # corpus synthesis, torchrun and training runs in subprocesses
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")]


def run(*args, **kw):
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    run("-m", "model_training.corpus", "--out", str(root / "train"), "--conversations", "2", "--seed", "3")
    run("-m", "model_training.corpus", "--out", str(root / "heldout"), "--conversations", "1", "--seed", "4",
        "--split", "heldout")
    return root


def test_distributed_training_run_writes_a_loadable_checkpoint(corpus, tmp_path):
    out = tmp_path / "tiny.pt"
    torchrun = Path(sys.executable).with_name("torchrun")
    log = run(str(torchrun), "--nproc_per_node=1", "-m", "model_training.train", "--corpus", str(corpus / "train"),
              "--out", str(out), "--config", "tiny", "--steps", "12", "--batch", "4", "--window", "64",
              "--log-every", "4")
    assert "1 process(es)" in log and "step 12/12" in log
    ckpt = load_checkpoint(out)
    assert ckpt.info["steps"] == 12 and ckpt.info["conversations"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt.state_dict.values())


def test_fine_tuning_keeps_the_config_and_evaluation_writes_a_report(corpus, tmp_path):
    """A model trained with head and gaze centred on the layout keeps that normalisation when
    fine-tuned, and evaluates (generates through the runtime) like any other."""
    base, tuned = tmp_path / "base.pt", tmp_path / "tuned.pt"
    run("-m", "model_training.train", "--corpus", str(corpus / "train"), "--out", str(base), "--config", "tiny",
        "--steps", "5", "--batch", "4", "--window", "64", "--centre-on-layout")
    run("-m", "model_training.train", "--corpus", str(corpus / "train"), "--out", str(tuned), "--init", str(base),
        "--steps", "5", "--batch", "4", "--window", "64")
    assert load_checkpoint(tuned).config == load_checkpoint(base).config
    layout_weights = load_checkpoint(tuned).motion_normaliser.layout_weights
    assert layout_weights.abs().sum() > 0
    torch.testing.assert_close(layout_weights, load_checkpoint(base).motion_normaliser.layout_weights)
    report = tmp_path / "report"
    run("-m", "model_training.evaluate", "--corpus", str(corpus / "heldout"), "--model", f"tiny={tuned}",
        "--seeds", "2", "--steps", "2", "--out", str(report))
    text = (report / "REPORT.md").read_text()
    for row in ("| target |", "| target_redrawn |", "| target_unanswered |", "| audio_energy |", "| tiny |"):
        assert row in text
    assert (report / "example_heldout.png").stat().st_size > 10_000


def test_evaluation_gives_each_model_its_own_settings_and_refuses_bad_ones():
    """evaluate --setting NAME:FIELD=VALUE: one checkpoint under two sampler settings, paired."""
    from model_runtime.errors import TalkingTogetherError
    from model_runtime.settings import GenerationSettings
    from model_training.evaluate import model_settings
    models = {"per_axis": "w.pt", "one_scale": "w.pt"}
    base = GenerationSettings(device="cpu")
    got = model_settings(base, models, ["one_scale:guidance_per_axis=off", "one_scale:steps=4",
                                        "one_scale:guidance=1.5", "one_scale:eta=0.5"])
    assert got["per_axis"] == base.checked()
    one = got["one_scale"]
    assert (one.guidance_per_axis, one.steps, one.guidance, one.eta) == (False, 4, 1.5, 0.5)
    for bad in ("nobody:steps=4", "per_axis:no_such_field=1", "per_axis:guidance_per_axis=maybe", "per_axis:steps=",
                "per_axis:steps=many"):
        with pytest.raises(ValueError):
            model_settings(base, models, [bad])
    with pytest.raises(TalkingTogetherError):
        model_settings(base, models, ["per_axis:guidance=99"])


def test_an_ablation_fine_tunes_from_a_full_model_leaving_out_only_what_it_switches_off():
    from dataclasses import replace

    from model_runtime.model import ConversationDenoiser, ModelConfig
    from model_training.train import load_matching
    cfg = ModelConfig(audio_dim=12, channels=16, channel_mults=(1, 2), attn_layers=1, attn_heads=2)
    full = ConversationDenoiser(cfg)
    one_stream = ConversationDenoiser(replace(cfg, use_cross_stream=False))
    load_matching(one_stream, full.state_dict())
    for key, value in one_stream.state_dict().items():
        assert torch.equal(value, full.state_dict()[key])
    with pytest.raises(ValueError, match="lacks"):          # the other way round: weights missing
        load_matching(full, one_stream.state_dict())
    with pytest.raises((ValueError, RuntimeError)):
        load_matching(ConversationDenoiser(replace(cfg, channels=32)), full.state_dict())


def test_the_shipped_denoiser_keeps_more_of_peoples_motion_as_the_noise_falls(corpus):
    """model_training.denoiser_levels on held-out windows: the shipped weights' estimate from a
    noisy copy of the targets gets closer to them at every lower noise level."""
    from model_training.denoiser_levels import LEVELS, level_table
    rows = level_table(str(ROOT / "model_runtime" / "weights" / "default.pt"), str(corpus / "heldout"), windows=4)
    assert rows[0]["t"] == "people" and [r["t"] for r in rows[1:]] == list(LEVELS)
    for group in ("face", "head", "gaze"):
        errors = [r[f"mse {group}"] for r in rows[1:]]
        assert all(later < earlier for earlier, later in zip(errors, errors[1:])), (group, errors)


def test_switching_between_a_model_and_itself_changes_nothing(corpus):
    """model_training.expert_switch carries the noisy motion between two checkpoints' scales;
    with the same checkpoint on both sides every switch level gives the same samples."""
    from model_training.expert_switch import switch_table
    weights = str(ROOT / "model_runtime" / "weights" / "default.pt")
    rows = switch_table(weights, weights, str(corpus / "heldout"), [1.0, 0.5, 0.0], windows=2, steps=3)
    assert rows[0]["switch"] == "people"
    for key in ("looks away", "yaw std", "yaw speed", "mouth MAE"):
        values = [r[key] for r in rows[1:]]
        assert max(values) - min(values) < 1e-4 * (1 + abs(values[0])), (key, values)
