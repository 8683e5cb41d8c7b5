"""What the speech side of the corpus hands to the motion side: who says what, when, down to
each phoneme. Times are seconds on the conversation's timeline (0 = start of the mix)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Phone:
    symbol: str          # the synthesizer's phoneme: espeak-ng mnemonic, festival phone or IPA letter
    start: float
    end: float
    stress: int = 0      # 0 none, 1 secondary, 2 primary (as far as the synthesizer tells)
    alphabet: str = "espeak"   # "espeak", "festival" or "ipa": which phone set `symbol` is in


@dataclass
class SpeechSegment:
    speaker: int         # 0 = person A, 1 = person B
    start: float
    end: float
    text: str
    kind: str = "turn"   # "turn" or "backchannel"
    phones: list[Phone] = field(default_factory=list)


@dataclass
class DialogueTiming:
    duration: float
    segments: list[SpeechSegment]

    def segments_of(self, speaker: int) -> list[SpeechSegment]:
        return [s for s in self.segments if s.speaker == speaker]

    @classmethod
    def from_segments_json(cls, segments: list[dict], duration: float) -> "DialogueTiming":
        """The timing a corpus file's ``meta["segments"]`` records (corpus.writer.segments_json)."""
        return cls(duration, [SpeechSegment(
            int(s["speaker"]), float(s["start"]), float(s["end"]), s.get("text", ""), s.get("kind", "turn"),
            [Phone(p[0], float(p[1]), float(p[2]), int(p[3]), s.get("alphabet", "espeak")) for p in s["phones"]])
            for s in segments])
