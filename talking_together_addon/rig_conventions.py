"""Recognise the naming conventions of common avatars and write their mapping (no bpy).

Given only names (shape keys, bones), this builds the same mapping dict a preset file holds,
so a detected rig and a hand-written file go down one path. The names come from public
sources, not guesses:

* Apple ARKit: the 52 ``ARFaceAnchor.BlendShapeLocation`` names; exporters add prefixes
  (``blendShape1.``, ``ARKit_``), side suffixes (``_L``, ``.R``) or change the case.
* Ready Player Me / Wolf3D: ARKit names plus the 15 Oculus visemes (docs.readyplayer.me,
  "Oculus OVR LipSync"); bones ``Neck``, ``Head``, ``LeftEye``, ``RightEye``; eyeball meshes
  ``EyeLeft``/``EyeRight`` whose own ``eyeLook*`` keys turn them.
* Oculus / Meta visemes: ``viseme_sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, I, O, U``
  (OVRLipSync order; OpenXR ``XR_META_face_tracking_visemes`` spells the last three IH, OH,
  OU; VRChat uses ``vrc.v_*``).
* VRM: 1.0 expression presets ``aa ih ou ee oh blink blinkLeft blinkRight lookUp ...``
  (bound to the model's own key names by the VRM add-on: vrm_bindings);
  0.x presets ``A I U E O Blink Blink_L Blink_R ...`` (three-vrm types); VRoid Studio meshes
  name them ``Fcl_MTH_A``, ``Fcl_EYE_Close_L`` ...; VRoid bones ``J_Bip_C_Neck``,
  ``J_Bip_C_Head``, ``J_Adj_L_FaceEye``, ``J_Adj_R_FaceEye``.
* Character Creator 4 / iClone "Extended" profile: ``Eye_Blink_L``, ``Mouth_Smile_L``,
  ``Mouth_Funnel_Up_L`` ... (several keys per ARKit channel); bones ``CC_Base_NeckTwist01/02``,
  ``CC_Base_Head``, ``CC_Base_L_Eye``, ``CC_Base_R_Eye``, ``CC_Base_JawRoot``.
* MPFB / MakeHuman: default skeleton ``neck01-03``, ``head``, ``jaw``, ``eye.L``, ``eye.R``
  (mpfb2 ``rig.default.json``); face units as ``!ex-<ARKit name>`` shape keys.
* Rigify: generated control bones ``neck``, ``head``, ``jaw_master`` beside ``ORG-``/``DEF-``/
  ``MCH-`` bones. Eyes are aimed, not turned: target controls ``eye.L``/``eye.R`` under a master
  (``eyes`` in the legacy super_face, ``eye_common`` in face/skin_eye) in front of the face;
  ``MCH-eye.L`` tracks ``eye.L``, and ``ORG-``/``MCH-``/``DEF-eye.L`` have their heads at the
  eyeball centre (rigify ``rigs/face/skin_eye.py``, ``rigs/faces/super_face.py``).
"""
from __future__ import annotations

import re

from . import viseme_solve
from .runtime import runtime_api

ARKIT = tuple(runtime_api.OUTPUT_FACE_CHANNELS)
EYE_LOOK = tuple(ch for ch in ARKIT if ch.startswith("eyeLook"))
_ARKIT_BY_CANON = {ch.lower(): ch for ch in ARKIT}
_PREFIXES = ("arkit", "blendshape", "bs", "shape", "face", "ex")

# ---- Character Creator 4 Extended: ARKit channel -> its key(s) -------------------------------
_CC_SIDED = {   # channel stem -> CC stem; "Left"/"Right" become _L/_R
    "browDown": "Brow_Drop", "browOuterUp": "Brow_Raise_Outer", "cheekSquint": "Cheek_Raise",
    "eyeBlink": "Eye_Blink", "eyeSquint": "Eye_Squint", "eyeWide": "Eye_Wide",
    "mouthDimple": "Mouth_Dimple", "mouthFrown": "Mouth_Frown", "mouthLowerDown": "Mouth_Down_Lower",
    "mouthPress": "Mouth_Press", "mouthSmile": "Mouth_Smile", "mouthStretch": "Mouth_Stretch",
    "mouthUpperUp": "Mouth_Up_Upper", "noseSneer": "Nose_Sneer",
}
CC_SHAPES: dict[str, list[str]] = {
    **{f"{stem}{side}": [f"{cc}_{side[0]}"] for stem, cc in _CC_SIDED.items() for side in ("Left", "Right")},
    "browInnerUp": ["Brow_Raise_Inner_L", "Brow_Raise_Inner_R"],
    "cheekPuff": ["Cheek_Puff_L", "Cheek_Puff_R"],
    "eyeLookDownLeft": ["Eye_L_Look_Down"], "eyeLookDownRight": ["Eye_R_Look_Down"],
    "eyeLookUpLeft": ["Eye_L_Look_Up"], "eyeLookUpRight": ["Eye_R_Look_Up"],
    "eyeLookInLeft": ["Eye_L_Look_R"], "eyeLookInRight": ["Eye_R_Look_L"],
    "eyeLookOutLeft": ["Eye_L_Look_L"], "eyeLookOutRight": ["Eye_R_Look_R"],
    "jawForward": ["Jaw_Forward"], "jawLeft": ["Jaw_L"], "jawRight": ["Jaw_R"], "jawOpen": ["Jaw_Open"],
    "mouthClose": ["Mouth_Close"], "mouthLeft": ["Mouth_L"], "mouthRight": ["Mouth_R"],
    "mouthFunnel": ["Mouth_Funnel_Up_L", "Mouth_Funnel_Up_R", "Mouth_Funnel_Down_L", "Mouth_Funnel_Down_R"],
    "mouthPucker": ["Mouth_Pucker_Up_L", "Mouth_Pucker_Up_R", "Mouth_Pucker_Down_L", "Mouth_Pucker_Down_R"],
    "mouthRollLower": ["Mouth_Roll_In_Lower_L", "Mouth_Roll_In_Lower_R"],
    "mouthRollUpper": ["Mouth_Roll_In_Upper_L", "Mouth_Roll_In_Upper_R"],
    "mouthShrugLower": ["Mouth_Shrug_Lower"], "mouthShrugUpper": ["Mouth_Shrug_Upper"],
}

# ---- visemes: viseme id -> the key names that spell it -----------------------------------
OCULUS_NAMES = {v: [f"viseme_{s}", f"vrc.v_{v}"] for v, s in zip(
    viseme_solve.OCULUS, ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"))}
VRM_VOWELS = {   # VRM 1.0 name, VRM 0.x name, VRoid Studio name -> the Oculus viseme it is
    "aa": ("aa", "A", "Fcl_MTH_A"), "ih": ("ih", "I", "Fcl_MTH_I"), "ou": ("ou", "U", "Fcl_MTH_U"),
    "e": ("ee", "E", "Fcl_MTH_E"), "oh": ("oh", "O", "Fcl_MTH_O"),
}
VRM_BLINKS = {   # channel -> VRM 1.0, VRM 0.x, VRoid names of a one-eye blink
    "eyeBlinkLeft": ("blinkLeft", "Blink_L", "Fcl_EYE_Close_L"),
    "eyeBlinkRight": ("blinkRight", "Blink_R", "Fcl_EYE_Close_R"),
}
VRM_BLINK_BOTH = ("blink", "Blink", "Fcl_EYE_Close")
RPM_EXTRAS = {"mouthOpen": [("jawOpen", 1.0)], "mouthSmile": [("mouthSmileLeft", 0.5), ("mouthSmileRight", 0.5)]}

# ---- skeletons: (key, label, neck bones with shares, head bone, eyes, jaw, signature) ------------
SKELETONS = (
    ("cc", "Character Creator / iClone", {"CC_Base_NeckTwist01": 0.2, "CC_Base_NeckTwist02": 0.2},
     "CC_Base_Head", ("CC_Base_L_Eye", "CC_Base_R_Eye"), "CC_Base_JawRoot"),
    ("vroid", "VRM (VRoid Studio)", {"J_Bip_C_Neck": 0.4}, "J_Bip_C_Head",
     ("J_Adj_L_FaceEye", "J_Adj_R_FaceEye"), None),
    ("mpfb", "MPFB / MakeHuman", {"neck01": 0.15, "neck02": 0.15, "neck03": 0.1}, "head", ("eye.L", "eye.R"), "jaw"),
    ("rigify", "Rigify", {"neck": 0.4}, "head", (None, None), "jaw_master"),
    ("rpm", "Ready Player Me / Wolf3D", {"Neck": 0.4}, "Head", ("LeftEye", "RightEye"), None),
    ("vrm", "VRM humanoid", {"neck": 0.4}, "head", ("leftEye", "rightEye"), "jaw"),
    ("default", "Talking Together head", {"neck": 0.4}, "head", ("eye.L", "eye.R"), "jaw"),
)
RIGIFY_EYE_TARGETS = {"left": ("eye.L", "eye_L"), "right": ("eye.R", "eye_R")}   # any case
RIGIFY_EYE_CENTRES = ("ORG-", "MCH-", "DEF-")   # prefixes of the target's name, best first
JAW_DEGREES = 18.0   # chin-down turn at jawOpen = 1 when a rig opens its mouth with a bone


def canonical(name: str) -> str:
    """A key name reduced for matching: prefix before a dot and ``!ex-`` dropped, case and
    separators ignored, a side suffix (``_L``, ``.r``, ``L``) spelled ``left``/``right``."""
    if "." in name and len(name.rsplit(".", 1)[1]) > 1:
        name = name.rsplit(".", 1)[1]          # "blendShape1.jawOpen" -> "jawOpen"
    name = name.removeprefix("!ex-")
    side = ""
    m = re.search(r"(?:[_.\- ]([LlRr])|([LR]))$", name)
    if m:                                      # lower-case l without separator is part of a word
        side = "left" if (m.group(1) or m.group(2)).upper() == "L" else "right"
        name = name[:m.start()]
    return re.sub(r"[_.\-\s]", "", name).lower() + side


def arkit_channel(name: str) -> str | None:
    """The ARKit channel a key name spells, allowing the usual prefixes, suffixes and case."""
    canon = canonical(name)
    if canon in _ARKIT_BY_CANON:
        return _ARKIT_BY_CANON[canon]
    for prefix in _PREFIXES:
        if canon.startswith(prefix) and canon[len(prefix):] in _ARKIT_BY_CANON:
            return _ARKIT_BY_CANON[canon[len(prefix):]]
    return None


def _find(names, candidates) -> str | None:
    """The first candidate present, exactly or else ignoring case."""
    lowered = {n.lower(): n for n in names}
    for c in candidates:
        if c in names:
            return c
    return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)


# ---- shapes -----------------------------------------------------------------------------
def _arkit_shapes(keys) -> dict[str, str]:
    """channel -> key for every key that spells an ARKit channel (first spelling wins)."""
    found = {}
    for key in keys:
        ch = arkit_channel(key)
        if ch and ch not in found:
            found[ch] = key
    return found


def _cc_shapes(keys) -> dict[str, list[str]]:
    return {ch: hits for ch, names in CC_SHAPES.items() if (hits := [n for n in names if n in keys])}


def _vrm_shapes(keys) -> dict:
    """Blinks of a VRM face as shape-key entries (a both-eye blink takes half of each eye)."""
    out = {}
    for ch, names in VRM_BLINKS.items():
        if (key := _find(keys, names)):
            out[ch] = key
    both = _find(keys, VRM_BLINK_BOTH)
    if both and not out:
        out = {ch: {"key": both, "weight": 0.5} for ch in VRM_BLINKS}
    return out


def _visemes(keys) -> tuple[str, dict[str, str]]:
    """('oculus' or 'vrm', viseme id -> key) for the viseme keys a face has."""
    oculus = {v: k for v, names in OCULUS_NAMES.items() if (k := _find(keys, names))}
    if len(oculus) >= 5:
        return "oculus", oculus
    vowels = {v: k for v, names in VRM_VOWELS.items() if (k := _find(keys, names))}
    return ("vrm", vowels) if len(vowels) >= 3 else ("", {})


def _shape_mapping(keys: set) -> tuple[dict, list[str]]:
    """(shape_keys entries, labels of the shape conventions found)."""
    labels, shapes = [], {}
    arkit = _arkit_shapes(keys)
    cc = _cc_shapes(keys)
    if len(cc) > len(arkit):
        shapes.update(cc)
        labels.append("Character Creator shapes")
    elif arkit:
        shapes.update(arkit)
        labels.append(f"ARKit shapes ({len(arkit)}/52)")
    for extra, sources in RPM_EXTRAS.items():   # RPM's two summary shapes on faces without the full set
        if extra in keys and not any(ch in shapes for ch, _ in sources):
            for ch, w in sources:
                shapes[ch] = {"key": extra, "weight": w}
    vrm = {ch: e for ch, e in _vrm_shapes(keys).items() if ch not in shapes}
    if vrm:
        shapes.update(vrm)
        labels.append("VRM blinks")
    return shapes, labels


# ---- bones ------------------------------------------------------------------------------
def _skeleton_score(skeleton, bones) -> int:
    _key, _label, necks, head, eyes, jaw = skeleton
    if head not in bones:
        return -1
    return 1 + sum(b in bones for b in (*necks, *eyes, jaw) if b)


def _pick_skeleton(bones: set):
    scored = [(_skeleton_score(s, bones), -i, s) for i, s in enumerate(SKELETONS)]
    best = max(scored, key=lambda t: t[:2])
    if best[0] < 0:
        return None
    key = best[2][0]
    is_rigify = any(b.startswith(("ORG-", "DEF-", "MCH-")) for b in bones)
    if key in ("default", "vrm", "rigify") and is_rigify:
        return next(s for s in SKELETONS if s[0] == "rigify")
    if key == "rigify" and not is_rigify:
        return next(s for s in SKELETONS if s[0] == "default")
    return best[2]


def _bone_mapping(skeleton, bones: set, has_jaw_shape: bool) -> dict:
    _key, _label, necks, head, (left, right), jaw = skeleton
    shares = {b: w for b, w in necks.items() if b in bones}
    shares[head] = round(1.0 - sum(shares.values()), 6)
    out = {"head": {"bones": shares, "axes": "auto"}, "eyes": {}, "jaw": {}}
    if left in bones and right in bones:
        out["eyes"] = {"left": left, "right": right, "axes": "auto"}
    if jaw in bones and not has_jaw_shape:    # shapes open the mouth when they can: not both
        out["jaw"] = {"bone": jaw, "channel": "jawOpen", "degrees": JAW_DEGREES, "axes": "auto"}
    return out


def rigify_eyes(bones: set) -> dict:
    """Rigify's eye target controls and the eyeball-centre bones beside them ({} if not both)."""
    out = {}
    for side, names in RIGIFY_EYE_TARGETS.items():
        target = _find(bones, names)
        centre = target and _find(bones, [p + target for p in RIGIFY_EYE_CENTRES])
        if not centre:
            return {}
        out[f"{side}_target"], out[f"{side}_center"] = target, centre
    return out


# ---- VRM expression bindings --------------------------------------------------------------
def _apply_vrm_expressions(mapping: dict, labels: list, expressions: dict) -> None:
    """The VRM add-on's expression bindings (vrm_bindings.expression_mapping) name the keys for
    sure, so they replace what the names suggested for the channels and visemes they bind."""
    if not expressions:
        return
    mapping["shape_keys"].update(expressions["shape_keys"])
    visemes = expressions["visemes"]
    if visemes:
        mapping["visemes"] = {"set": "vrm", "keys": {v: entries[0]["key"] for v, entries in visemes.items()},
                              "binds": visemes}
    labels.append(f"VRM expressions ({len(visemes)} visemes, {len(expressions['shape_keys'])} eye channels)")


# ---- the whole mapping ------------------------------------------------------------------
def detect(shape_keys, bones=(), vrm_expressions=None) -> dict:
    """The mapping for a rig with these shape-key and bone names, in the preset format, with
    ``convention`` (a label) and ``unlisted_channels: skip``: channels the rig's convention
    has no target for are left out, not reported missing. ``vrm_expressions``: the bound
    keys the VRM add-on's expressions name (vrm_bindings.expression_mapping), if any."""
    keys, bones = set(shape_keys), set(bones)
    shapes, labels = _shape_mapping(keys)
    viseme_set, viseme_keys = _visemes(keys)
    if viseme_keys:
        labels.append(f"{'Oculus' if viseme_set == 'oculus' else 'VRM'} visemes ({len(viseme_keys)})")
    mapping = {"label": "", "forward_axis": "-Y", "up_axis": "Z", "unlisted_channels": "skip",
               "shape_keys": shapes, "head": {"bones": {}, "axes": "auto"}, "jaw": {}, "eyes": {}}
    if viseme_keys:
        mapping["visemes"] = {"set": viseme_set, "keys": viseme_keys}
    _apply_vrm_expressions(mapping, labels, vrm_expressions)
    viseme_keys = viseme_keys or (mapping.get("visemes") or {}).get("keys", {})
    skeleton = _pick_skeleton(bones)
    if skeleton is not None:
        # A jaw bone would open the mouth a second time where shapes or visemes already do.
        mapping.update(_bone_mapping(skeleton, bones, "jawOpen" in mapping["shape_keys"] or bool(viseme_keys)))
        labels.insert(0, skeleton[1])
        if skeleton[0] == "rigify":
            mapping["eyes"] = rigify_eyes(bones)
        if skeleton[0] == "rigify" and not mapping["eyes"]:
            mapping["notes"] = ["Rigify's eyes follow the eye target controls, but this rig has no eye.L/eye.R "
                                "beside ORG-eye.L/ORG-eye.R, so gaze is not keyed; aim the controls by hand "
                                "or name them in a mapping file's eyes."]
    mapping["convention"] = " + ".join(labels) if labels else "Unknown"
    mapping["label"] = f"Detected: {mapping['convention']}"
    return mapping
