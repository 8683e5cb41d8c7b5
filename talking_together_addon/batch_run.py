"""Running batch shots: one shot end to end (open, generate + bake, save), the per-shot log
lines, and the summary. A failed shot is logged and the others still run."""
from __future__ import annotations

import importlib
import importlib.util
import os
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from .batch_scene import audio_argument, check_distinct_outputs, open_blend, output_path, shot_rigs
from .batch_shots import PATH_FIELDS, Shot
from .runtime import runtime_api

# Shot fields passed on to api.generate, and the argument each becomes.
GENERATE_ARGUMENTS = (("steps", "steps"), ("guidance", "guidance"), ("blinks_per_minute", "blinks_per_minute"),
                      ("checkpoint", "checkpoint"), ("turns", "turns"),
                      ("swap", "swap"), ("use_nla", "use_nla"), ("conversation", "name"),
                      ("mapping_a", "mapping_a"), ("mapping_b", "mapping_b"))


@dataclass
class ShotResult:
    name: str
    ok: bool
    seconds: float
    output: str | None = None
    rigs: int = 0
    keys: int = 0
    rig_names: tuple = ()
    error: str | None = None
    warnings: list = field(default_factory=list)


class Progress:
    """A text progress bar on stdout: redrawn in place on a terminal, a line per 10% in logs."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stdout   # one stream: farm logs keep the order
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_bucket = -1

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"    [{'#' * filled}{'-' * (self.width - filled)}] {fraction * 100:3.0f}% {message}"
        if self.tty:
            self.stream.write("\r" + line[:100].ljust(100))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            bucket = int(fraction * 10)
            if bucket == self.last_bucket:
                return
            self.last_bucket = bucket
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last_bucket != 10:
            self.stream.write("\n")
            self.stream.flush()


def _torch_importable() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _seed_everything(seed: int) -> None:
    """Belt and braces: the runtime seeds its own sampler; global RNGs are seeded too so any
    stray randomness is reproducible as well."""
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:
        pass
    if "torch" in sys.modules or _torch_importable():
        import torch
        torch.manual_seed(seed)


def _registered_api():
    """The add-on's api module, the add-on registered first (run_shot may be called without
    batch.main, e.g. from a studio's own script)."""
    from . import api
    api.ensure_registered()
    return api


def _report_warnings(report) -> list[str]:
    warnings = list(report.warnings)
    missing = report.missing
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        warnings.append(f"{len(missing)} channel(s) not on the rigs, not baked: "
                        f"{', '.join(missing[:5])}{more}")
    return warnings


def _generate_kwargs(shot: Shot, layout, seed: int, device) -> dict:
    kwargs = dict(stereo=bool(shot.get("stereo", False)), layout=layout, seed=seed,
                  device=device or shot.get("device", "auto"))
    for key, arg in GENERATE_ARGUMENTS:
        if shot.get(key) is not None:
            kwargs[arg] = shot.path(shot.get(key)) if key in PATH_FIELDS else shot.get(key)
    return kwargs


def _generate(api, scene, rig_a, rig_b, audio, progress: bool, kwargs: dict):
    bar = Progress() if progress else None
    try:
        return api.generate(scene, rig_a, rig_b, audio, progress=bar, **kwargs)
    finally:
        if bar:
            bar.close()


def run_shot(shot: Shot, *, overwrite=False, out_dir=None, device=None, save=True,
             progress=True) -> ShotResult:
    """Open, generate + bake, save one shot. Raises on failure (run_shots catches)."""
    t0 = time.perf_counter()
    api = _registered_api()
    blend_path = open_blend(shot)
    scene = bpy.context.scene
    audio = audio_argument(shot, scene)   # first: a missing file fails fast
    rig_a, rig_b, layout = shot_rigs(shot, scene, api, is_new=blend_path is None
                                     and shot.get("blend", "new") == "new")
    seed = int(shot.get("seed", 0))
    _seed_everything(seed)
    report = _generate(api, scene, rig_a, rig_b, audio, progress,
                       _generate_kwargs(shot, layout, seed, device))
    output = None
    if save:
        output = save_blend(output_path(shot, blend_path, overwrite, out_dir))
    return ShotResult(shot.name, True, time.perf_counter() - t0, output, 2, report.keys_written,
                      rig_names=(rig_a.name, rig_b.name), warnings=_report_warnings(report))


def _keep_previous_versions(path: Path) -> None:
    """What Blender's own save does (Preferences > Save Versions): the file being replaced
    becomes <name>.blend1, an older .blend1 becomes .blend2, and so on. Copied, so the output
    itself is never missing."""
    versions = int(getattr(bpy.context.preferences.filepaths, "save_version", 0))
    if versions <= 0 or not path.is_file() or path.is_symlink():
        return
    for k in range(versions - 1, 0, -1):
        older = Path(f"{path}{k}")
        if older.is_file() and not older.is_symlink():
            os.replace(older, f"{path}{k + 1}")
    with open(path, "rb") as src:
        runtime_api.write_atomically(Path(f"{path}1"), lambda f: shutil.copyfileobj(src, f, 1 << 20))


def save_blend(output: str) -> str:
    """Save the open file as ``output``, atomically: Blender writes a private temporary beside it
    (atomic_write's unique, exclusively created name: no fixed ``.partial`` or ``@`` name to
    collide with or be redirected by a planted link), which then replaces ``output``. A run
    killed mid-save leaves no ``output`` half written, and its temporary is cleared next time.
    The open file keeps its own path (a copy is saved)."""
    path = Path(output)

    def write(tmp: Path) -> None:
        try:
            result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, copy=True)
        finally:
            Path(f"{tmp}1").unlink(missing_ok=True)   # Blender's backup of the empty placeholder
        if "FINISHED" not in result or tmp.stat().st_size == 0:
            raise runtime_api.OutputError(f"Blender could not save {output}")

    _keep_previous_versions(path)
    runtime_api.write_atomically_by_name(path, write, extension=".blend")
    return str(path)


def error_text(exc: BaseException) -> str:
    msg = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {msg}"


def _ok_line(prefix: str, r: ShotResult) -> str:
    line = f"{prefix} ok {r.seconds:.1f} s, {r.rigs} rigs, {r.keys} keys"
    return line + (f" -> {r.output}" if r.output else "")


def run_shots(shots: list[Shot], *, overwrite=False, out_dir=None, device=None, save=True,
              progress=True, out=None, verbose=False) -> list[ShotResult]:
    """Run every shot; one failure never stops the others. Shots that would save to the same
    file are refused (ShotListError) before any runs."""
    if save:
        check_distinct_outputs(shots, overwrite, out_dir)
    out = out or sys.stdout
    results = []
    n = len(shots)
    for i, shot in enumerate(shots, 1):
        prefix = f"[{i}/{n}] {shot.name}"
        t0 = time.perf_counter()
        print(f"{prefix} ...", file=out, flush=True)
        try:
            r = run_shot(shot, overwrite=overwrite, out_dir=out_dir, device=device, save=save,
                         progress=progress)
            print(_ok_line(prefix, r), file=out, flush=True)
            for w in r.warnings:
                print(f"    warning: {w}", file=out, flush=True)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # noqa: BLE001 - SystemExit from a script must not end the batch
            r = ShotResult(shot.name, False, time.perf_counter() - t0, error=error_text(exc))
            print(f"{prefix} FAILED {r.seconds:.1f} s: {r.error}", file=out, flush=True)
            if verbose:
                traceback.print_exc(file=out)
        results.append(r)
    return results


def summary(results: list[ShotResult]) -> str:
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    text = (f"summary: {len(ok)} ok, {len(failed)} failed, {sum(r.keys for r in ok)} keys, "
            f"{total:.1f} s")
    if failed:
        text += "\nfailed shots:\n" + "\n".join(f"  {r.name}: {r.error}" for r in failed)
    return text
