"""The checkpoint format: one versioned file with weights, config, channel list and statistics.

Saved with ``torch.save`` as a plain dict of tensors and builtins, loaded with
``torch.load(weights_only=True)`` so a weights file can never run code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .channels import MOTION_CHANNELS
from .errors import CheckpointError
from .model import DualStreamDenoiser, ModelConfig

FORMAT_NAME = "talking-together-checkpoint"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict
    motion_mean: torch.Tensor     # (D,) normalisation of the motion the model works in
    motion_std: torch.Tensor
    audio_mean: torch.Tensor      # (A,) normalisation of the audio features
    audio_std: torch.Tensor
    info: dict = field(default_factory=dict)   # training provenance: steps, corpus, command

    def build_model(self, device: str | torch.device = "cpu") -> DualStreamDenoiser:
        model = DualStreamDenoiser(self.config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"the weights do not fit the model they describe: {exc}") from None
        return model.to(device).eval()


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temporary file, then rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "config": ckpt.config.to_dict(), "motion_channels": list(MOTION_CHANNELS),
        # float16 halves the file (the shipped weights live in the repository); loading
        # converts back to float32, and inference does not notice the rounding.
        "state_dict": {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                       for k, v in ckpt.state_dict.items()},
        "stats": {"motion_mean": ckpt.motion_mean.cpu(), "motion_std": ckpt.motion_std.cpu(),
                  "audio_mean": ckpt.audio_mean.cpu(), "audio_std": ckpt.audio_std.cpu()},
        "info": ckpt.info,
    }
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Load and check a weights file (None: the shipped default). Every failure is a
    CheckpointError that says what is wrong with which file."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for damaged files
        raise CheckpointError(f"{path} is not a readable weights file (damaged or another format): "
                              f"{type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a Talking Together weights file")
    version = payload.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}; this runtime reads up to "
                              f"{FORMAT_VERSION}: update the extension")
    if payload.get("motion_channels") != list(MOTION_CHANNELS):
        raise CheckpointError(f"{path} was trained for other motion channels than this runtime's")
    try:
        config = ModelConfig.from_dict(payload["config"])
        stats = payload["stats"]
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        return Checkpoint(config=config, state_dict=state,
                          motion_mean=stats["motion_mean"], motion_std=stats["motion_std"],
                          audio_mean=stats["audio_mean"], audio_std=stats["audio_std"],
                          info=payload.get("info", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is incomplete or incompatible: {exc}") from None
