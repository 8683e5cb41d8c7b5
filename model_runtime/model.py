"""The conversation denoiser: one temporal U-Net per person, shared weights, talking to each other.

Each stream denoises its own person's motion, conditioned on the audio features, its per-frame
role (speaking / listening / both / silent) and where its partner stands (layout). At the
U-Net's bottleneck every stream attends to all the others (cross-stream attention), so a
listener reacts to the speaker and the people form one conversation.

Shapes: B conversations, S streams (people; the shipped model is trained and used for S = 2,
nothing in the network fixes S), T frames (a multiple of 2**(levels-1)), D motion dims,
A audio feature dims, L layout dims. Streams are folded into the batch (B*S) wherever the
weights are shared.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .channels import LAYOUT_DIM, MOTION_DIM, ROLE_NAMES
from .diffusion import alpha_bar
from .features import FEATURE_DIM

NULL_ROLE = len(ROLE_NAMES)  # role id used when the condition is dropped (classifier-free guidance)
PREDICTIONS = ("x0", "v")


@dataclass
class ModelConfig:
    # Input and output sizes follow the channel and feature lists; a checkpoint stores them.
    motion_dim: int = MOTION_DIM
    audio_dim: int = FEATURE_DIM
    layout_dim: int = LAYOUT_DIM
    num_roles: int = len(ROLE_NAMES)
    channels: int = 64            # width at full time resolution
    channel_mults: tuple = (1, 2, 2)  # per U-Net level; each level after the first halves T
    attn_layers: int = 2          # bottleneck blocks (self-attention + cross-stream attention)
    attn_heads: int = 4
    dropout: float = 0.1
    # What the network outputs: "x0" (clean motion, the first model) or "v" (velocity,
    # sqrt(ab) eps - sqrt(1 - ab) x0). With "v" the clean motion is read back as
    # sqrt(ab) x_t - sqrt(1 - ab) v, so at low noise the network only corrects its input instead
    # of redrawing it, and detail the noise still shows is kept (model_training/objective.py).
    prediction: str = "x0"
    # Ablation switches (the evaluation's baselines); the default model uses all of them.
    use_cross_stream: bool = True
    use_roles: bool = True
    use_layout: bool = True

    @property
    def time_multiple(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["channel_mults"] = tuple(d.get("channel_mults", cls.channel_mults))
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        if d.get("prediction", cls.prediction) not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, not {d['prediction']!r}")
        return cls(**d)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion time t in [0, 1]: (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def positional_encoding(length: int, dim: int, device) -> torch.Tensor:
    """(length, dim) sinusoidal positions for the bottleneck attention."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=device) / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freqs)
    pe[:, 1::2] = torch.cos(pos * freqs)
    return pe


class ResBlock(nn.Module):
    """Conv1d residual block with FiLM from the conditioning embedding. x: (N, C, T)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return h + self.skip(x)


def partners_of(x: torch.Tensor) -> torch.Tensor:
    """(B, S, T, C) -> (B, S, (S - 1) T, C): for each stream, the frames of every other stream
    one after another (for two people, simply the other one's)."""
    s = x.shape[1]
    if s == 2:
        return x.flip(1)
    return torch.stack([torch.cat([x[:, j] for j in range(s) if j != i], dim=1) for i in range(s)], dim=1)


class StreamAttentionBlock(nn.Module):
    """Self-attention over a stream's own frames, then cross-attention to all partners' frames.

    x: (B, S, T, C). The cross-stream step is what makes one conversation out of the streams.
    """

    def __init__(self, dim: int, heads: int, dropout: float, cross: bool):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross = cross
        if cross:
            self.norm_cross = nn.LayerNorm(dim)
            self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, t, c = x.shape
        h = x.reshape(b * s, t, c)
        q = self.norm_self(h)
        h = h + self.self_attn(q, q, q, need_weights=False)[0]
        if self.cross and s > 1:
            q = self.norm_cross(h)
            partners = partners_of(q.reshape(b, s, t, c)).reshape(b * s, (s - 1) * t, c)
            h = h + self.cross_attn(q, partners, partners, need_weights=False)[0]
        h = h + self.mlp(self.norm_mlp(h))
        return h.reshape(b, s, t, c)


class ConversationDenoiser(nn.Module):
    """Predicts clean motion x0 for every person from noisy motion and the conditions (directly,
    or through the velocity v: ``cfg.prediction``; ``denoise`` always returns x0)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        emb_dim = 4 * c
        widths = [c * m for m in cfg.channel_mults]
        self.time_mlp = nn.Sequential(nn.Linear(c, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.layout_mlp = nn.Sequential(nn.Linear(cfg.layout_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.audio_enc = nn.Sequential(
            nn.Conv1d(cfg.audio_dim, 2 * c, 5, padding=2), nn.GELU(),
            nn.Conv1d(2 * c, c, 5, padding=2), nn.GELU())
        self.role_emb = nn.Embedding(cfg.num_roles + 1, c)  # +1: the dropped-condition role
        self.in_proj = nn.Conv1d(cfg.motion_dim + 2 * c, widths[0], 3, padding=1)

        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i, w in enumerate(widths):
            w_in = widths[max(i - 1, 0)]
            self.down_blocks.append(ResBlock(w_in, w, emb_dim, cfg.dropout))
            if i < len(widths) - 1:
                self.downsamples.append(nn.Conv1d(w, w, 4, stride=2, padding=1))
        mid = widths[-1]
        self.mid_block = ResBlock(mid, mid, emb_dim, cfg.dropout)
        self.attn = nn.ModuleList(StreamAttentionBlock(mid, cfg.attn_heads, cfg.dropout, cfg.use_cross_stream)
                                  for _ in range(cfg.attn_layers))
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in reversed(range(len(widths))):
            w_out = widths[max(i - 1, 0)]
            self.up_blocks.append(ResBlock(2 * widths[i], w_out, emb_dim, cfg.dropout))
            if i > 0:
                self.upsamples.append(nn.Conv1d(w_out, w_out, 3, padding=1))
        self.out_norm = nn.GroupNorm(8, widths[0])
        self.out = nn.Conv1d(widths[0], cfg.motion_dim, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def encode_conditions(self, audio: torch.Tensor, roles: torch.Tensor, layout: torch.Tensor) -> dict:
        """Everything that does not depend on the noisy motion, computed once per sampling run.
        Kept compact (a shared mix encoded once, not once per stream; role ids, not their
        embeddings), since a long conversation keeps one per window for every sampler step.

        audio (B, T, A) shared mix features or (B, S, T, A); roles (B, S, T) int; layout (B, S, L)."""
        b, s, t_len = roles.shape
        if audio.dim() == 3:
            a = self.audio_enc(audio.transpose(1, 2))                    # (B, C, T): once per mix
        else:
            a = self.audio_enc(audio.reshape(b * s, t_len, -1).transpose(1, 2))   # (BS, C, T)
        if not self.cfg.use_roles:
            roles = torch.where(roles == NULL_ROLE, roles, torch.zeros_like(roles))
        layout_emb = self.layout_mlp(layout) if self.cfg.use_layout else None
        return {"audio": a, "roles": roles.reshape(b * s, t_len), "layout": layout_emb, "shape": (b, s, t_len)}

    def _audio_and_roles(self, cond: dict) -> torch.Tensor:
        """(BS, 2C, T): each stream's encoded audio and role embedding (2C: audio, then role)."""
        b, s, t_len = cond["shape"]
        a = cond["audio"]
        if a.shape[0] == b:                                              # one mix for every stream
            a = a[:, None].expand(b, s, -1, t_len).reshape(b * s, -1, t_len)
        return torch.cat([a, self.role_emb(cond["roles"]).transpose(1, 2)], dim=1)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict) -> torch.Tensor:
        """x_t (B, S, T, D), t (B,) in [0, 1] or (B, S), a noise level per stream (a partner
        further along than oneself, as in Diffusion Forcing) -> x0 estimate (B, S, T, D)."""
        b, s, t_len, _ = x_t.shape
        if t_len % self.cfg.time_multiple:
            raise ValueError(f"T={t_len} must be a multiple of {self.cfg.time_multiple}")
        t = t.reshape(b, -1).expand(b, s)                                # (B, S)
        emb = self.time_mlp(timestep_embedding(t.reshape(-1), self.cfg.channels)).reshape(b, s, -1)
        if cond["layout"] is not None:
            emb = emb + cond["layout"]
        emb = emb.reshape(b * s, -1)                                     # (BS, E)
        x = x_t.reshape(b * s, t_len, -1).transpose(1, 2)                # (BS, D, T)
        h = self.in_proj(torch.cat([x, self._audio_and_roles(cond)], dim=1))   # (BS, W0, T)

        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)
        h = self.mid_block(h, emb)                                       # (BS, W, T')
        tokens = h.transpose(1, 2)
        tokens = tokens + positional_encoding(tokens.shape[1], tokens.shape[2], tokens.device)
        tokens = tokens.reshape(b, s, tokens.shape[1], -1)
        for block in self.attn:
            tokens = block(tokens)
        h = tokens.reshape(b * s, -1, tokens.shape[-1]).transpose(1, 2)
        for i, block in enumerate(self.up_blocks):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsamples):
                h = self.upsamples[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.out(F.silu(self.out_norm(h)))                         # (BS, D, T)
        out = out.transpose(1, 2).reshape(b, s, t_len, -1)
        if self.cfg.prediction == "v":
            ab = alpha_bar(t).reshape(b, s, 1, 1)
            return ab.sqrt() * x_t - (1 - ab).sqrt() * out
        return out

    def forward(self, x_t, t, audio, roles, layout):
        return self.denoise(x_t, t, self.encode_conditions(audio, roles, layout))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
