"""Dialogue scripts: who says what, in which order, with which pause or overlap.

Sentences come from templates filled from word lists. The pools are split once and for all:
training sentences use the training templates and training words only; held-out sentences
use the held-out templates (any words), so no held-out sentence can occur in training.
Everything is deterministic from a ``numpy.random.Generator``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NAMES = ("Anna", "Ben", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "Jack",
         "Karen", "Leo", "Maria", "Nick", "Olivia", "Peter", "Rosa", "Sam", "Tina", "Victor")
PLACES = ("the station", "the office", "the old bridge", "the market", "the library",
          "the beach", "the garden", "the museum", "the hospital", "the harbour", "the park",
          "the bakery", "the airport", "the cinema", "the school", "the hotel", "the river",
          "the mountains", "the village", "the stadium")
THINGS = ("the report", "a new bike", "the tickets", "the keys", "a birthday present",
          "the camera", "the recipe", "a map", "the laptop", "some flowers", "the contract",
          "a blue jacket", "the photos", "an umbrella", "the invitation", "a cup of coffee",
          "the schedule", "a guitar", "the letter", "the manual")
TIMES = ("yesterday", "last week", "this morning", "on Sunday", "tonight", "tomorrow",
         "next month", "in the afternoon", "after lunch", "before dinner", "last summer",
         "on Friday", "in two weeks", "at the weekend", "every day", "right now",
         "later today", "since Monday", "at midnight", "early in the morning")
ADJS = ("strange", "wonderful", "boring", "expensive", "quiet", "crowded", "funny",
        "difficult", "beautiful", "terrible", "simple", "surprising", "perfect", "noisy",
        "lovely", "tiny", "huge", "dark", "bright", "complicated")
PAST = ("found", "lost", "bought", "forgot", "sold", "fixed", "painted", "borrowed",
        "ordered", "opened", "cleaned", "moved", "checked", "finished", "dropped", "packed",
        "wrapped", "returned", "printed", "signed")
ACTS = ("call", "visit", "help", "meet", "ask", "tell", "wait for", "write to", "invite",
        "thank", "follow", "remind", "pick up", "join", "trust", "warn", "teach", "answer",
        "surprise", "miss")
WORD_LISTS = {"name": NAMES, "place": PLACES, "thing": THINGS, "time": TIMES, "adj": ADJS,
              "past": PAST, "act": ACTS}

TRAIN_TEMPLATES = (
    "I went to {place} {time}.", "Did you see {thing} {time}?",
    "{name} {past} {thing} at {place}.", "It was really {adj}, to be honest.",
    "We should {act} {name} {time}.", "Have you ever been to {place}?",
    "I think {thing} is a bit {adj}.", "{name} said it was {adj}.",
    "Why did you {act} {name}?", "Oh, I {past} {thing} {time}.",
    "You know, {place} was so {adj} {time}.", "Can you {act} {name} at {place}?",
    "Well, {name} never {past} {thing}.", "That sounds {adj}!",
    "So I {past} {thing} and went to {place}.", "Maybe we can {act} {name} {time}?",
    "I really need {thing} {time}.", "Where did {name} put {thing}?",
    "Honestly, the trip to {place} was {adj}.", "Let me {act} {name} first.",
    "No way, {name} {past} {thing}?", "I was at {place} {time}, and it was {adj}.",
    "We could take {thing} to {place}.", "Do you remember {place}?",
    "Actually, I {past} it {time}.", "{name} is coming {time}.",
    "It is not that {adj}, really.", "Tell me more about {place}.",
)
HELDOUT_TEMPLATES = (
    "My brother {past} {thing} near {place}.", "Is {place} still {adj} these days?",
    "Apparently {name} wants to {act} us {time}.", "I would never {act} {name} like that.",
    "The weather at {place} was {adj} {time}.", "Who {past} {thing}?",
    "Please don't forget {thing}.", "We met {name} outside {place} {time}.",
)
BACKCHANNELS = ("mm-hmm", "yeah", "right", "uh-huh", "okay", "I see")
# How espeak-ng should say them: phoneme input (its reading of "mm-hmm" spells the letters,
# and non-English voices read "uh huh" as "u u").
SPOKEN_FORMS = {"mm-hmm": "[[m'mh@m]]", "uh-huh": "[[@'h@]]"}


def _word_split(words: tuple[str, ...], split: str) -> tuple[str, ...]:
    """Training uses 4 of every 5 words of each list; held-out texts may use all of them."""
    return words if split != "train" else tuple(w for i, w in enumerate(words) if i % 5 != 4)


def sentence(rng: np.random.Generator, split: str = "train") -> str:
    """One random sentence of a text pool ('train' or 'heldout'; 'festival' uses held-out)."""
    templates = TRAIN_TEMPLATES if split == "train" else HELDOUT_TEMPLATES
    text = templates[rng.integers(len(templates))]
    for key, words in WORD_LISTS.items():
        slot = "{" + key + "}"
        while slot in text:
            pool = _word_split(words, split)
            text = text.replace(slot, pool[rng.integers(len(pool))], 1)
    return text[0].upper() + text[1:]


@dataclass
class Backchannel:
    text: str
    at: float              # where in the speaker's turn it starts, as a fraction (0..1)


@dataclass
class Turn:
    speaker: int
    text: str
    gap: float             # seconds from the previous turn's end to this start (< 0: overlap)
    backchannels: list[Backchannel] = field(default_factory=list)


@dataclass
class Script:
    turns: list[Turn]
    lead_in: float          # silence before the first turn (s)
    tail: float             # silence after the last one (s)

    def texts(self) -> list[str]:
        return [t.text for t in self.turns] + [b.text for t in self.turns for b in t.backchannels]


def make_script(rng: np.random.Generator, split: str = "train") -> Script:
    """A two-person dialogue: 4-12 alternating turns of 1-3 sentences, pauses 0.1-1.2 s,
    sometimes an overlap (next turn starts 0.1-0.6 s early), listener backchannels in longer
    turns."""
    n_turns = int(rng.integers(4, 13))
    first = int(rng.integers(2))
    turns = []
    for i in range(n_turns):
        n_sent = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
        text = " ".join(sentence(rng, split) for _ in range(n_sent))
        overlap = i > 0 and rng.random() < 0.2
        gap = -float(rng.uniform(0.1, 0.6)) if overlap else float(rng.uniform(0.1, 1.2))
        turns.append(Turn((first + i) % 2, text, gap if i > 0 else 0.0,
                          _backchannels(rng, n_sent)))
    return Script(turns, lead_in=float(rng.uniform(0.2, 1.0)), tail=float(rng.uniform(0.3, 1.0)))


def _backchannels(rng: np.random.Generator, n_sentences: int) -> list[Backchannel]:
    """0-2 backchannels for turns of two or more sentences, spread over the turn."""
    if n_sentences < 2 or rng.random() < 0.3:
        return []
    count = 1 if n_sentences == 2 else int(rng.integers(1, 3))
    slots = np.sort(rng.uniform(0.25, 0.85, size=count))
    if count == 2 and slots[1] - slots[0] < 0.25:
        slots = slots[:1]
    return [Backchannel(BACKCHANNELS[rng.integers(len(BACKCHANNELS))], float(s)) for s in slots]


def spoken_form(text: str, engine: str = "espeak") -> str:
    """The text handed to the synthesizer (a few backchannels need another spelling)."""
    if engine != "espeak":
        return {"mm-hmm": "um hum", "uh-huh": "uh huh"}.get(text, text)   # festival spells "mm"
    return SPOKEN_FORMS.get(text, text)
