"""The Video Sequencer's strip collections across Blender 4.2 to 5.0: 5.0 renamed
``sequences`` to ``strips`` and ``sequences_all`` to ``strips_all``. Everything that lists
or adds strips goes through here."""
from __future__ import annotations


def top_strips(editor):
    """The editor's top-level strips (where new strips are added)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(editor):
    """Every strip, including those inside meta strips."""
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all
