"""The checkpoint format: one versioned file with weights, config, channel list and statistics.

Saved with ``torch.save`` as a plain dict of tensors and builtins, loaded with
``torch.load(weights_only=True)`` so a weights file can never run code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .atomic_write import write_file
from .channels import MOTION_CHANNELS
from .errors import CheckpointError
from .model import ConversationDenoiser, ModelConfig
from .normalisation import MotionNormaliser, regressor_count

FORMAT_NAME = "talking-together-checkpoint"
FORMAT_VERSION = 2      # 2: motion centred on the layout (motion_layout_weights)
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"
VERSION_1_LACKS = ("motion_layout_weights",)


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict
    motion_mean: torch.Tensor     # (D,) normalisation of the motion the model works in
    motion_std: torch.Tensor
    audio_mean: torch.Tensor      # (A,) normalisation of the audio features
    audio_std: torch.Tensor
    info: dict = field(default_factory=dict)   # training provenance: steps, corpus, command
    # (L + 2, D) the motion's centre as a function of the layout (normalisation.py); None: zeros
    motion_layout_weights: torch.Tensor | None = None

    @property
    def motion_normaliser(self) -> MotionNormaliser:
        weights = self.motion_layout_weights
        if weights is None:
            weights = torch.zeros(regressor_count(self.config.layout_dim), self.config.motion_dim)
        return MotionNormaliser(self.motion_mean, self.motion_std, weights)

    def stats(self) -> dict[str, torch.Tensor]:
        """Every normalisation statistic by name, layout weights included (zeros when absent)."""
        return {"motion_mean": self.motion_mean, "motion_std": self.motion_std, "audio_mean": self.audio_mean,
                "audio_std": self.audio_std, "motion_layout_weights": self.motion_normaliser.layout_weights}

    def build_model(self, device: str | torch.device = "cpu") -> ConversationDenoiser:
        model = ConversationDenoiser(self.config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"the weights do not fit the model they describe: {exc}") from None
        return model.to(device).eval()


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write atomically (atomic_write: a private temporary beside it, then a rename) so a crash
    or a concurrent writer never leaves half a file; OutputError when it cannot be written."""
    centred = bool(ckpt.motion_normaliser.layout_weights.any())
    payload = {
        # Version 1 when the motion is not centred on the layout: older runtimes read it right.
        "format": FORMAT_NAME, "version": FORMAT_VERSION if centred else 1,
        "config": ckpt.config.to_dict(), "motion_channels": list(MOTION_CHANNELS),
        # float16 halves the file (the shipped weights live in the repository); loading
        # converts back to float32, and inference does not notice the rounding.
        "state_dict": {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                       for k, v in ckpt.state_dict.items()},
        "stats": {name: v.detach().cpu().float() for name, v in ckpt.stats().items()
                  if name != "motion_layout_weights" or centred},
        "info": ckpt.info,
    }
    return write_file(Path(path), lambda f: torch.save(payload, f))


# --------------------------------------------------------------------------- checks
# Everything below runs before a model is built, so a hostile or damaged file costs a
# CheckpointError, never gigabytes or a traceback. The shipped model has 2 M parameters.
MAX_PARAMETERS = 100_000_000
_WEIGHT_DTYPES = (torch.float16, torch.float32)    # what save_checkpoint writes (or wrote)
_STAT_RANGE = 1e6                                   # |mean| and std at most this
_MIN_STD = 1e-6                                     # training floors std at 1e-3
_INT_RANGES = {"motion_dim": (1, 4096), "audio_dim": (1, 4096), "layout_dim": (1, 256),
               "num_roles": (1, 64), "channels": (8, 2048), "attn_layers": (0, 64),
               "attn_heads": (1, 64)}


def estimated_parameters(cfg: ModelConfig) -> int:
    """About how many parameters ConversationDenoiser(cfg) has (within a few %, from its
    dominant terms), computed without building it."""
    c, e = cfg.channels, 4 * cfg.channels
    widths = [c * m for m in cfg.channel_mults]
    n = c * e + e * e + cfg.layout_dim * e + e * e                       # time and layout MLPs
    n += 5 * cfg.audio_dim * 2 * c + 5 * 2 * c * c + (cfg.num_roles + 1) * c
    n += 3 * (cfg.motion_dim + 2 * c) * widths[0]

    def res(a: int, b: int) -> int:
        return 3 * a * b + 3 * b * b + 2 * e * b + (a * b if a != b else 0)

    for i, w in enumerate(widths):
        n += res(widths[max(i - 1, 0)], w) + (4 * w * w if i < len(widths) - 1 else 0)
    mid = widths[-1]
    n += res(mid, mid) + cfg.attn_layers * (4 + 4 * bool(cfg.use_cross_stream) + 8) * mid * mid
    for i in reversed(range(len(widths))):
        w_out = widths[max(i - 1, 0)]
        n += res(2 * widths[i], w_out) + (3 * w_out * w_out if i > 0 else 0)
    return n + 3 * widths[0] * cfg.motion_dim


def check_config(cfg: ModelConfig, where: str = "the weights file") -> None:
    """CheckpointError when the config is malformed or describes an absurd model."""
    for name, (lo, hi) in _INT_RANGES.items():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise CheckpointError(f"{where}: model config {name} must be a whole number from {lo} to {hi}, got {v!r}")
    if cfg.motion_dim != len(MOTION_CHANNELS):
        raise CheckpointError(f"{where}: model config motion_dim is {cfg.motion_dim}, but it lists "
                              f"{len(MOTION_CHANNELS)} motion channels")
    mults = cfg.channel_mults
    if not 1 <= len(mults) <= 8 or any(isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 16 for m in mults):
        raise CheckpointError(f"{where}: model config channel_mults must be 1 to 8 whole numbers from 1 to 16, got {list(mults)!r}")
    if cfg.channels % 8:
        raise CheckpointError(f"{where}: model config channels must be a multiple of 8, got {cfg.channels}")
    if (cfg.channels * mults[-1]) % cfg.attn_heads:
        raise CheckpointError(f"{where}: model config attn_heads ({cfg.attn_heads}) must divide the "
                              f"bottleneck width ({cfg.channels * mults[-1]})")
    if not isinstance(cfg.dropout, (int, float)) or isinstance(cfg.dropout, bool) or not 0.0 <= cfg.dropout < 1.0:
        raise CheckpointError(f"{where}: model config dropout must be from 0 to below 1, got {cfg.dropout!r}")
    for name in ("use_cross_stream", "use_roles", "use_layout"):
        if not isinstance(getattr(cfg, name), bool):
            raise CheckpointError(f"{where}: model config {name} must be true or false, got {getattr(cfg, name)!r}")
    n = estimated_parameters(cfg)
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{where}: its model config describes about {n / 1e6:,.0f} M parameters "
                              f"({n * 4 / 2**30:,.1f} GiB); at most {MAX_PARAMETERS / 1e6:.0f} M are supported")


def _check_tensor(where: str, name: str, v, dtypes=_WEIGHT_DTYPES) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise CheckpointError(f"{where}: {name} is a {type(v).__name__}, not a tensor")
    if v.dtype not in dtypes:
        raise CheckpointError(f"{where}: {name} is {str(v.dtype).replace('torch.', '')}; weights are "
                              f"stored as {' or '.join(str(d).replace('torch.', '') for d in dtypes)}")
    v = v.float()
    bad = int((~torch.isfinite(v)).sum())
    if bad:
        raise CheckpointError(f"{where}: {name} has {bad} NaN or infinite value(s) of {v.numel()}; "
                              "the file is damaged or the training diverged")
    return v


def _check_state(where: str, state) -> dict:
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{where}: its weights (state_dict) are missing or not a table of tensors")
    out, total = {}, 0
    for k, v in state.items():
        if not isinstance(k, str):
            raise CheckpointError(f"{where}: weight name {k!r} is not text")
        out[k] = _check_tensor(where, f"weight {k!r}", v)
        total += v.numel()
    if total > MAX_PARAMETERS:
        raise CheckpointError(f"{where}: holds {total / 1e6:,.0f} M weights; at most "
                              f"{MAX_PARAMETERS / 1e6:.0f} M are supported")
    return out


def _check_stats(where: str, stats, cfg: ModelConfig, version: int) -> dict:
    if not isinstance(stats, dict):
        raise CheckpointError(f"{where}: its normalisation statistics (stats) are missing")
    out = {}
    shapes = {"motion_mean": (cfg.motion_dim,), "motion_std": (cfg.motion_dim,),
              "audio_mean": (cfg.audio_dim,), "audio_std": (cfg.audio_dim,),
              "motion_layout_weights": (regressor_count(cfg.layout_dim), cfg.motion_dim)}
    for name, shape in shapes.items():
        if name not in stats:
            if version == 1 and name in VERSION_1_LACKS:
                continue
            raise CheckpointError(f"{where}: statistic {name} is missing")
        v = _check_tensor(where, f"statistic {name}", stats[name])
        if tuple(v.shape) != shape:
            raise CheckpointError(f"{where}: statistic {name} has shape {tuple(v.shape)}, expected {shape}")
        if name.endswith("_std"):
            low = int((v < _MIN_STD).sum())
            if low:
                i = int((v < _MIN_STD).nonzero()[0, 0])
                raise CheckpointError(f"{where}: statistic {name} has {low} value(s) that are zero, "
                                      f"negative or below {_MIN_STD:g} (e.g. [{i}] = {float(v[i]):g}); "
                                      "a standard deviation must be positive")
        if float(v.abs().max()) > _STAT_RANGE:
            raise CheckpointError(f"{where}: statistic {name} has values beyond +-{_STAT_RANGE:g}")
        out[name] = v
    return out


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Load and check a weights file (None: the shipped default). Every failure is a
    CheckpointError that says what is wrong with which file: structure, config bounds (before
    any model is built), dtypes, shapes and finite values of weights and statistics."""
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
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}; this runtime reads up to "
                              f"{FORMAT_VERSION}: update the extension")
    if payload.get("motion_channels") != list(MOTION_CHANNELS):
        raise CheckpointError(f"{path} was trained for other motion channels than this runtime's")
    if not isinstance(payload.get("config"), dict):
        raise CheckpointError(f"{path} is incomplete: its model config is missing")
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is incomplete or incompatible: {exc}") from None
    check_config(config, str(path))
    state = _check_state(str(path), payload.get("state_dict"))
    stats = _check_stats(str(path), payload.get("stats"), config, version)
    info = payload.get("info", {})
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: its training info is a {type(info).__name__}, not a table")
    return Checkpoint(config=config, state_dict=state, info=info, **stats)
