"""Synthetic two-person conversation corpus: espeak-ng/festival speech with exact phoneme
timing (``tts``), dialogue scripts (``script``), placement, mixing and augmentation
(``mixing``), motion targets (``targets``), the on-disk format (``writer``, ``dataset``).

Build one with ``python -m model_training.corpus --out DIR --conversations N --seed S
--split train``; read it with :func:`load_conversation` / :func:`list_conversations`.
Submodules are imported lazily so that reading a corpus needs neither espeak-ng nor sox.
"""
from .timing import DialogueTiming, Phone, SpeechSegment

__all__ = ["DialogueTiming", "Phone", "SpeechSegment", "load_conversation", "list_conversations"]


def __getattr__(name):
    if name in ("load_conversation", "list_conversations"):
        from . import dataset
        return getattr(dataset, name)
    raise AttributeError(name)
