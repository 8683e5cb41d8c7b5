"""Generation in a background thread, so Blender's UI keeps drawing.

The worker never touches Blender data: it reads audio and runs the model, puts progress on a
queue and keeps the result (or the error) for the main thread, which alone bakes. Cancelling
sets a flag that the progress callback turns into GenerationCancelled inside the runtime.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

from .runtime import runtime_api

_active: "GenerationJob | None" = None


def active_job() -> "GenerationJob | None":
    """The job now running (or finished but not yet collected), if any."""
    return _active


class GenerationJob:
    """One generation: ``work(progress)`` returns the ConversationResult.

    ``work`` is a plain callable so the operator, the API and tests share one code path
    (tests pass a fake to check cancel and errors without the model)."""

    def __init__(self, work: Callable[[Callable[[float, str], None]], object]):
        self._work = work
        self.queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.result = None
        self.error: BaseException | None = None
        self.fraction = 0.0
        self.message = "Starting"

    # ---- control (main thread) -----------------------------------------------------------
    def start(self) -> "GenerationJob":
        global _active
        if _active is not None and _active.running:
            raise RuntimeError("a generation is already running; cancel it or wait for it to finish.")
        _active = self
        self._thread = threading.Thread(target=self._run, name="TalkingTogether-generate", daemon=True)
        self._thread.start()
        return self

    def run_sync(self) -> "GenerationJob":
        """Run in the calling thread (background mode, scripts)."""
        global _active
        _active = self
        try:
            self._run()
        finally:
            if _active is self:
                _active = None
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def release(self) -> None:
        """Forget this job once the main thread has used its outcome."""
        global _active
        if _active is self:
            _active = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def poll(self) -> list[tuple[float, str]]:
        """Drain the progress queue; remembers the latest fraction and message."""
        updates = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return updates
            self.fraction, self.message = item
            updates.append(item)

    # ---- worker ------------------------------------------------------------------------
    def progress(self, fraction: float, message: str) -> None:
        """The runtime's progress callback: report, or stop when cancelled."""
        if self._cancel.is_set():
            raise runtime_api.GenerationCancelled("generation cancelled")
        self.queue.put((min(max(float(fraction), 0.0), 1.0), str(message)))

    def _run(self) -> None:
        try:
            self.progress(0.0, "Reading audio")
            result = self._work(self.progress)
            if self._cancel.is_set():       # cancelled after the last progress call
                raise runtime_api.GenerationCancelled("generation cancelled")
            self.result = result
        except runtime_api.GenerationCancelled:
            self._cancel.set()
        except BaseException as exc:       # handed to the main thread, which reports it
            self.error = exc
        finally:
            self._done.set()


def error_message(exc: BaseException) -> str:
    """A one-line message for the UI: ours are user-ready; others get their type named."""
    if isinstance(exc, (runtime_api.TalkingTogetherError, ValueError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory during generation: try the CPU device or a shorter shot."
    return f"generation failed ({type(exc).__name__}: {exc}); see the system console for details."
