"""Layout preview in the 3D viewport: where each head faces and whether eye contact can work.

Per head: its facing ray, and its line of sight to the partner's eyes, green when mutual gaze
is possible (each partner within that person's eye + head turning range) and orange when
not. The geometry is recomputed from the rigs' world matrices on every redraw, so it follows
the rigs live while they are moved. ``layout_lines`` is plain geometry, testable without GPU.
"""
from __future__ import annotations

import bpy
from mathutils import Vector

from .mapping_format import AUTO_MAPPING
from .properties import mapping_choice
from .runtime import runtime_api

GREEN = (0.25, 0.9, 0.35, 1.0)
ORANGE = (1.0, 0.55, 0.1, 1.0)
FACING = (0.55, 0.75, 1.0, 1.0)
FACING_LENGTH = 0.5   # metres
_handle = None


def head_frame(obj, mapping: str | None = None):
    """(eye centre, unit forward, unit up) of a rig in world space, from the rig binding when it
    resolves, else from the object itself (origin at the eyes, facing -Y as Blender characters do)."""
    try:
        from . import rig_binding
        eye, forward, up = rig_binding.head_frame(rig_binding.resolve_rig(obj, mapping or AUTO_MAPPING))
        return Vector(eye), Vector(forward).normalized(), Vector(up).normalized()
    except Exception:   # a rig that does not resolve: keep drawing something sensible
        m = obj.matrix_world
        forward = (m.to_3x3() @ Vector((0.0, -1.0, 0.0))).normalized()
        up = (m.to_3x3() @ Vector((0.0, 0.0, 1.0))).normalized()
        return m.translation.copy(), forward, up


def can_look_at(eye: Vector, forward: Vector, up: Vector, target: Vector) -> bool:
    """Is the target within reach of head plus eyes, from this rest pose?"""
    try:
        return runtime_api.HeadPose(tuple(eye), tuple(forward), tuple(up)).can_look_at(tuple(target))
    except runtime_api.LayoutError:      # a degenerate rig (zero or parallel axes)
        return False


def _mapping(settings, who: str) -> str:
    try:
        return mapping_choice(settings, who)
    except ValueError:      # File chosen without a file: draw with the detected mapping
        return AUTO_MAPPING


def layout_lines(scene) -> list[tuple[tuple, tuple, tuple]]:
    """Line segments (start, end, RGBA) to draw for the scene's two rigs; [] without both."""
    s = scene.talking_together
    if s.rig_a is None or s.rig_b is None or s.rig_a == s.rig_b:
        return []
    heads = [head_frame(s.rig_a, _mapping(s, "a")), head_frame(s.rig_b, _mapping(s, "b"))]
    mutual = all(can_look_at(*heads[i], heads[1 - i][0]) for i in range(2))
    colour = GREEN if mutual else ORANGE
    lines = []
    for i, (eye, forward, _up) in enumerate(heads):
        lines.append((tuple(eye), tuple(eye + forward * FACING_LENGTH), FACING))
        lines.append((tuple(eye), tuple(heads[1 - i][0]), colour))
    return lines


def _draw():
    context = bpy.context
    scene = context.scene
    settings = getattr(scene, "talking_together", None)
    if settings is None or not settings.show_preview:
        return
    lines = layout_lines(scene)
    if not lines:
        return
    import gpu
    from gpu_extras.batch import batch_for_shader
    coords = [p for a, b, _ in lines for p in (a, b)]
    colours = [c for _, _, c in lines for _ in range(2)]
    shader = gpu.shader.from_builtin('POLYLINE_FLAT_COLOR')
    batch = batch_for_shader(shader, 'LINES', {"pos": coords, "color": colours})
    gpu.state.blend_set('ALPHA')
    gpu.state.depth_test_set('NONE')   # visible through the heads, like other overlays
    shader.uniform_float("viewportSize", gpu.state.viewport_get()[2:])
    shader.uniform_float("lineWidth", 2.5)
    batch.draw(shader)
    gpu.state.blend_set('NONE')


def register():
    global _handle
    if bpy.app.background:    # no GPU context: nothing can draw, and gpu calls would fail
        return
    _handle = bpy.types.SpaceView3D.draw_handler_add(_draw, (), 'WINDOW', 'POST_VIEW')


def unregister():
    global _handle
    if _handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_handle, 'WINDOW')
        _handle = None
