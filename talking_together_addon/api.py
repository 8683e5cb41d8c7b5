"""Python API for scripts and farms; the operators use the same functions.

Everything here is synchronous and raises exceptions with messages ready for a user::

    import talking_together_addon as tt      # or bl_ext.<repo>.talking_together
    rig_a, rig_b = tt.api.add_head_rigs(layout="across_table")
    report = tt.api.generate(audio="Dialogue", seed=3)   # a sound strip's name or a file

Generation is split in three so the operator can run the middle part in a thread:
``prepare`` (main thread, checks everything, touches nothing), ``Plan.work`` (any thread,
no Blender data) and ``finish`` (main thread, the only step that writes to the scene).
"""
from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field

import bpy

from . import audio_source, jobs, turns_store
from .mapping_format import AUTO_MAPPING
from .properties import FREE_LAYOUT, mapping_choice
from .runtime import ADDON_PACKAGE, require_pytorch, runtime_api

DEFAULTS = runtime_api.DEFAULTS

COLLECTION_NAME = "Talking Together"


def ensure_registered() -> None:
    """Register the add-on on first use, so ``from talking_together_addon import api`` works in
    a plain script (importing a package does not register it). An installed and enabled
    extension is registered already; the caller unregisters before exit (``unregister``)."""
    if not hasattr(bpy.types.Scene, "talking_together"):
        importlib.import_module(__package__).register()


def unregister() -> None:
    """Unregister what ensure_registered registered (scripts call it before they exit)."""
    if hasattr(bpy.types.Scene, "talking_together"):
        importlib.import_module(__package__).unregister()


def _scene(scene):
    ensure_registered()
    return scene if scene is not None else bpy.context.scene


def addon_preferences():
    """This add-on's preferences, or None when it runs as a plain package (tests, scripts)."""
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon else None


# ---- rigs ------------------------------------------------------------------------------
def check_rig(obj, who: str) -> None:
    """Catch the common mistakes before resolve_rig, with the panel's wording."""
    if obj is None:
        raise ValueError(f"no rig chosen for {who}: pick one in the Conversation panel or click "
                         "Add Head Rigs.")
    if obj.type not in {'MESH', 'ARMATURE'}:
        raise ValueError(f"{who}'s rig {obj.name!r} is a {obj.type.lower()}; choose a mesh with "
                         "shape keys or an armature.")
    if obj.type == 'MESH' and obj.data.shape_keys is None and obj.find_armature() is None:
        raise ValueError(f"{who}'s rig {obj.name!r} has no shape keys and no armature, so there is "
                         "nothing to animate; add ARKit shape keys or choose its armature.")


def check_pair(rig_a, rig_b) -> None:
    check_rig(rig_a, "person A")
    check_rig(rig_b, "person B")
    if rig_a == rig_b:
        raise ValueError(f"person A and person B are the same object ({rig_a.name!r}); choose two "
                         "different rigs.")


def resolve_pair(rig_a, rig_b, mapping_a: str | None = None, mapping_b: str | None = None):
    """Two RigBindings, or ValueError naming the problem."""
    check_pair(rig_a, rig_b)
    from . import rig_binding
    return (rig_binding.resolve_rig(rig_a, mapping_a or AUTO_MAPPING),
            rig_binding.resolve_rig(rig_b, mapping_b or AUTO_MAPPING))


def check_bindings(bindings) -> list[str]:
    """Raise ValueError for anything that would make the bake fail or go silently wrong (in
    milliseconds, before the model runs); returns the warnings for the report."""
    from . import rig_checks
    errors, warnings = rig_checks.problems(bindings)
    if errors:
        raise ValueError(" ".join(e[:1].upper() + e[1:] for e in errors))
    return warnings


def panel_mappings(settings) -> tuple[str, str]:
    """The panel's mapping choices for A and B ("auto", a preset name or a .json path)."""
    return mapping_choice(settings, "a"), mapping_choice(settings, "b")


def layout_poses(layout: str, distance: float | None = None, height_offset: float = 0.0):
    """The two HeadPoses of a layout preset (LayoutError for an unknown name)."""
    return runtime_api.preset_layout(layout, distance=distance, height_offset=height_offset)


def add_head_rigs(scene=None, layout: str = "face_to_face", distance: float | None = None,
                  height_offset: float = 0.0, names=("Person A", "Person B")):
    """Build two default head rigs in the "Talking Together" collection, placed by a layout
    preset, and make them the scene's rigs. Returns (rig_a, rig_b)."""
    from . import rig_builder, scene_layout
    scene = _scene(scene)
    poses = layout_poses("face_to_face" if layout == FREE_LAYOUT else layout, distance, height_offset)
    coll = bpy.data.collections.get(COLLECTION_NAME)
    if coll is None:
        coll = bpy.data.collections.new(COLLECTION_NAME)
    if coll.name not in scene.collection.children:
        scene.collection.children.link(coll)
    rigs = tuple(rig_builder.build_default_head_rig(scene, n, coll) for n in names)
    scene_layout.apply_layout(resolve_pair(*rigs), poses)
    settings = scene.talking_together
    settings.rig_a, settings.rig_b = rigs
    return rigs


def apply_layout(scene=None, layout: str | None = None, distance: float | None = None,
                 height_offset: float | None = None) -> None:
    """Move the scene's two rigs to a layout preset (the panel's choice by default)."""
    from . import scene_layout
    scene = _scene(scene)
    s = scene.talking_together
    layout = layout or s.layout
    if layout == FREE_LAYOUT:
        raise ValueError("the layout is Free: choose a preset to place the rigs by.")
    poses = layout_poses(layout, s.distance if distance is None else distance,
                         s.height_offset if height_offset is None else height_offset)
    scene_layout.apply_layout(resolve_pair(s.rig_a, s.rig_b, *panel_mappings(s)), poses)


# ---- generation ------------------------------------------------------------------------
@dataclass
class Plan:
    """Everything one generation needs, checked on the main thread."""
    scene: object
    bindings: tuple
    poses: tuple
    audio: audio_source.AudioPlan
    settings: object                  # runtime_api.GenerationSettings, checked
    swap: bool = False
    name: str = "Conversation"
    use_nla: bool = False
    extend_range: bool = True
    place_layout: bool = False        # move the rigs to ``poses`` when baking (API layout=...)
    warnings: list = field(default_factory=list)
    names: tuple = ()                 # scene, rig A, rig B names, to look them up again
    mappings: tuple = (None, None)
    turns: object = None              # runtime Turns replacing the speaker analysis, or None

    def refresh(self) -> None:
        """Look the scene and rigs up again before baking: during a background generation the
        user may undo, rename or delete things, which leaves old Python references dangling."""
        scene = bpy.data.scenes.get(self.names[0])
        rigs = [bpy.data.objects.get(n) for n in self.names[1:]]
        if scene is None or None in rigs:
            raise ValueError("a rig or the scene was deleted or renamed during generation; "
                             "nothing was baked.")
        self.scene = scene
        self.bindings = resolve_pair(*rigs, *self.mappings)

    def work(self, progress):
        """Read the audio and run the model (no Blender data: safe in a worker thread)."""
        audio = self.audio.build()
        return runtime_api.generate(audio, self.poses, self.settings, progress=progress, swap=self.swap,
                                    turns=self.turns)


def _generation_settings(scene, seed, steps, guidance, device, checkpoint, blinks_per_minute):
    """Checked settings at the scene's frame rate (one key per scene frame)."""
    prefs = addon_preferences()
    if device in (None, "default"):
        device = prefs.device if prefs else "auto"
    if checkpoint is None and prefs and prefs.weights_path:
        checkpoint = prefs.weights_path
    if checkpoint:
        checkpoint = bpy.path.abspath(checkpoint)
        if not os.path.isfile(checkpoint):
            raise runtime_api.CheckpointError(
                f"weights file not found: {checkpoint}; fix the path in the add-on preferences or "
                "clear it to use the shipped weights.")
    return runtime_api.GenerationSettings(seed=seed, steps=steps, guidance=guidance, device=device,
                                          checkpoint=checkpoint or None, blinks_per_minute=blinks_per_minute,
                                          output_fps=audio_source.scene_fps(scene)).checked()


def _check_range(scene, audio_plan, extend: bool, warnings: list) -> None:
    start, end = audio_plan.frame_range
    last = math.ceil(end) - 1
    if (start < scene.frame_start or last > scene.frame_end) and not extend:
        warnings.append(f"the audio covers frames {math.floor(start)}-{last}, beyond the scene range "
                        f"{scene.frame_start}-{scene.frame_end}; keys are baked past it (enable "
                        "Extend Scene Range to widen the range).")


def prepare(scene, rig_a, rig_b, audio_plan, *, mapping_a=None, mapping_b=None, layout=None,
            distance=None, height_offset=0.0, seed=DEFAULTS.seed, steps=DEFAULTS.steps,
            guidance=DEFAULTS.guidance, blinks_per_minute=DEFAULTS.blinks_per_minute,
            device=DEFAULTS.device, checkpoint=None, name="Conversation", use_nla=False, swap=False,
            extend_scene_range=True, turns=None) -> Plan:
    """Check every input and return a Plan; raises, and changes nothing, on any problem.
    ``turns``: runtime Turns or a turns file (RTTM, Audacity labels, CSV), or None."""
    require_pytorch()
    if not name or not name.strip():
        raise ValueError("the conversation needs a name (the bake's action and NLA names use it).")
    turns = turns_store.resolve(scene, turns, audio_plan)    # a bad turns file fails first, cheaply
    settings = _generation_settings(scene, seed, steps, guidance, device, checkpoint, blinks_per_minute)
    bindings = resolve_pair(rig_a, rig_b, mapping_a, mapping_b)
    rig_warnings = check_bindings(bindings)
    # Load the weights now, on the main thread: a file that does not load (or a missing
    # device) is reported before anything starts, and the worker finds the model cached.
    runtime_api.preload(settings)
    place = bool(layout) and layout != FREE_LAYOUT
    if place:
        poses = layout_poses(layout, distance, height_offset)
    else:
        from . import rig_binding
        poses = (rig_binding.head_pose(bindings[0]), rig_binding.head_pose(bindings[1]))
    plan = Plan(scene, bindings, poses, audio_plan, settings, swap=bool(swap), name=name.strip(),
                use_nla=bool(use_nla), extend_range=bool(extend_scene_range), place_layout=place,
                names=(scene.name, rig_a.name, rig_b.name), mappings=(mapping_a, mapping_b))
    plan.warnings += rig_warnings
    _check_range(scene, audio_plan, plan.extend_range, plan.warnings)
    plan.turns = turns
    return plan


def prepare_from_settings(scene) -> Plan:
    """A Plan from the panel (``scene.talking_together``); generation uses the rigs as placed."""
    s = scene.talking_together
    require_pytorch()
    check_pair(s.rig_a, s.rig_b)
    audio_plan = audio_source.plan_from_settings(scene, s)
    mapping_a, mapping_b = panel_mappings(s)
    return prepare(scene, s.rig_a, s.rig_b, audio_plan, mapping_a=mapping_a, mapping_b=mapping_b,
                   seed=s.seed, steps=s.steps, guidance=s.guidance, blinks_per_minute=s.blinks_per_minute,
                   device=s.device, checkpoint=None,
                   name=s.conversation_name, use_nla=s.use_nla, swap=s.swap_speakers,
                   extend_scene_range=s.extend_scene_range, turns=turns_store.turns_for_generation(scene))


def finish(plan: Plan, result):
    """Bake a result (main thread): the only step that writes to the scene."""
    from . import bake, scene_layout
    plan.refresh()
    check_bindings(plan.bindings)      # the scene may have changed during generation
    scene = plan.scene
    roots = [(b.root, b.root.matrix_world.copy()) for b in plan.bindings]
    try:
        if plan.place_layout:
            scene_layout.apply_layout(plan.bindings, plan.poses)
        # The result's start_time already holds the audio's place on the timeline (frame / fps).
        report = bake.bake_conversation(scene, plan.bindings, result, 0.0, plan.name, use_nla=plan.use_nla)
    except Exception:
        for root, matrix in roots:     # a failed bake leaves the rigs where they were
            root.matrix_world = matrix
        bpy.context.view_layer.update()
        raise
    report.warnings += [w for w in plan.warnings if w not in report.warnings]
    if plan.extend_range:
        start, end = plan.audio.frame_range
        scene.frame_start = min(scene.frame_start, max(0, math.floor(start)))
        scene.frame_end = max(scene.frame_end, math.ceil(end) - 1)
    return report


def generate(scene=None, rig_a=None, rig_b=None, audio=None, *, stereo=False, layout=None,
             distance=None, height_offset=0.0, mapping_a=None, mapping_b=None, seed=DEFAULTS.seed,
             steps=DEFAULTS.steps, guidance=DEFAULTS.guidance, blinks_per_minute=DEFAULTS.blinks_per_minute,
             device=DEFAULTS.device, checkpoint=None, name="Conversation", use_nla=False, swap=False,
             extend_scene_range=True, progress=None, turns=None):
    """Generate and bake a conversation; returns the bake's BakeReport (its ``warnings`` say
    what the artist should know, e.g. keys baked past the scene range).

    rig_a/rig_b default to the panel's rigs. ``audio`` is a sound strip (or its name), an
    audio file path, or a pair of strips (one per person); None uses the panel's choice.
    ``layout`` (a preset name) places the rigs by it; None keeps them where they are.
    ``progress(fraction, message)`` may raise GenerationCancelled to stop; nothing is written.
    ``turns`` (runtime Turns or a turns file: RTTM, Audacity labels, CSV) say who speaks when
    instead of the analysis; None with the panel's audio uses the panel's turns if Use Turns is on."""
    scene = _scene(scene)
    s = scene.talking_together
    rig_a, rig_b = rig_a or s.rig_a, rig_b or s.rig_b
    require_pytorch()
    check_pair(rig_a, rig_b)
    audio_plan = (audio_source.plan_from_settings(scene, s) if audio is None
                  else audio_source.plan_from_value(scene, audio, stereo=stereo))
    plan = prepare(scene, rig_a, rig_b, audio_plan, mapping_a=mapping_a, mapping_b=mapping_b,
                   layout=layout, distance=distance, height_offset=height_offset, seed=seed,
                   steps=steps, guidance=guidance, blinks_per_minute=blinks_per_minute, device=device,
                   checkpoint=checkpoint, name=name,
                   use_nla=use_nla, swap=swap, extend_scene_range=extend_scene_range,
                   turns=turns if turns is not None or audio is not None else turns_store.turns_for_generation(scene))
    job = jobs.GenerationJob(_with_user_progress(plan.work, progress)).run_sync()
    if job.error is not None:
        raise job.error
    if job.cancelled:
        raise runtime_api.GenerationCancelled("generation cancelled; nothing was baked.")
    return finish(plan, job.result)


def _with_user_progress(work, user_progress):
    if user_progress is None:
        return work

    def run(progress):
        def both(fraction, message):
            progress(fraction, message)
            user_progress(fraction, message)
        return work(both)
    return run


def export_mapping(scene=None, person: str = "A", filepath: str = "") -> str:
    """Write the mapping person A's or B's rig uses (detected, or the chosen preset or file)
    to a .json file the user can edit and pick as the mapping File; returns the path."""
    import json
    from . import rig_binding, rig_checks
    scene = _scene(scene)
    s = scene.talking_together
    who = person.lower()
    rig = getattr(s, f"rig_{who}")
    if rig is None:
        raise ValueError(f"no rig chosen for person {person.upper()}: pick one in the Conversation panel.")
    binding = rig_binding.resolve_rig(rig, mapping_choice(s, who))
    path = bpy.path.abspath(filepath) or os.path.join(bpy.app.tempdir, f"{rig.name}.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rig_checks.exportable(binding.mapping), f, indent=2)
    return path


def clear_bake(scene=None, rig_a=None, rig_b=None, name="Conversation") -> None:
    """Remove a bake (its actions, slots or NLA strips) from both rigs."""
    from . import bake
    scene = _scene(scene)
    s = scene.talking_together
    bake.remove_bake(scene, resolve_pair(rig_a or s.rig_a, rig_b or s.rig_b, *panel_mappings(s)), name)
