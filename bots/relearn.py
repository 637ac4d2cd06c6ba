"""Learning while peygir runs: retrain the classifier on new labels, check it, swap it in.

Labels arrive as rows of ``labelled_example`` (an operator's subject correction, a citizen's
pick, ``peygir learn``), from this process or another on the same database. A cheap count
every ``check_interval`` seconds (or at once when this process adds one) decides whether a
retrain is due: ``after_labels`` new ones, or any new one once ``every`` seconds have passed
since the last. Training runs in a worker thread, never on the event loop. Before a new model
serves it is checked (``nlu.holdout``): trained without the held-back slice, it must name at
least as many of that slice's lines first as the serving model's check did; then the model
trained on every example replaces the serving one in a single assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from peygir.config import loop
from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from peygir.nlu.holdout import split, top1_hits
from peygir.ticket_store import examples as example_store
from peygir.ticket_store.examples import Example

log = logging.getLogger(__name__)

DEBOUNCE = 1.0  # seconds after a label is added here: it commits, and others may follow


@dataclass(frozen=True)
class Outcome:
    """What one retrain did: the figures an IT team reads in the log."""

    accepted: bool
    examples: int
    held_back: int
    serving_hits: int  # held-back lines the serving model's check named first
    new_hits: int  # ... and the new one's
    seconds: float


@dataclass(frozen=True)
class _Trained:
    outcome: Outcome
    serving: Classifier | None  # trained on every example; None when refused
    check: Classifier  # trained without the held-back slice


class Relearner:
    def __init__(self, pack: Pack, serving: Classifier, install: Callable[[Classifier], None],
                 *, after_labels: int = 25, every: float = 3600.0,
                 check_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pack = pack
        self.install = install  # puts a new classifier in service (one assignment)
        self.after_labels = after_labels
        self.every = every
        self.check_interval = check_interval
        self.clock = clock
        self.wake = asyncio.Event()
        self.trained_upto = 0  # the newest example id the serving model has seen
        self.last_trained = clock()
        # The serving model's check: trained without the held-back slice, or, while the pack
        # alone serves (``serving`` at start, no history), that very classifier.
        self._check = serving
        self._lock = asyncio.Lock()
        self._nudged = False  # a label was added here: let its transaction commit first
        # The history stored at start: trained on (or found empty), and tried at least once.
        self.history_trained = False
        self.first_done = asyncio.Event()

    def labels_added(self) -> None:
        self._nudged = True
        self.wake.set()

    async def due(self) -> bool:
        fresh = await example_store.count_newer(self.trained_upto)
        if fresh >= self.after_labels:
            return True
        return fresh > 0 and self.clock() - self.last_trained >= self.every

    async def retrain(self) -> Outcome | None:
        """Retrain on every stored example now (None when there are none and none served);
        the new model serves only if it passes the check."""
        async with self._lock:  # one retrain at a time, whoever asks
            rows = await example_store.load_examples()
            if not rows and self.history_trained and self.trained_upto == 0:
                return None  # the pack's own model serves already, and nothing is new
            trained = await asyncio.to_thread(self._train, rows)
            self.last_trained = self.clock()
            if trained.serving is not None:
                self.install(trained.serving)
                self._check = trained.check
            # Refused or not, these examples are not tried again until new ones arrive.
            self.trained_upto = max((row.id for row in rows), default=0)
            _log(trained.outcome)
            return trained.outcome

    def _train(self, rows: Sequence[Example]) -> _Trained:
        started = time.perf_counter()
        train, held = split(rows)
        check = Classifier(self.pack, examples=train)
        serving_hits = top1_hits(self._check, held)
        new_hits = top1_hits(check, held)
        accepted = new_hits >= serving_hits
        serving = None
        if accepted:  # with nothing held back, the check was trained on every example
            serving = Classifier(self.pack, examples=rows) if held else check
        outcome = Outcome(accepted=accepted, examples=len(rows), held_back=len(held),
                          serving_hits=serving_hits, new_hits=new_hits,
                          seconds=time.perf_counter() - started)
        return _Trained(outcome, serving, check)

    async def run(self, stopping: asyncio.Event) -> None:
        """Train on the stored history first (the pack alone serves meanwhile), then check
        for new labels until ``stopping`` is set. A failed training is logged and tried again
        at the next check; whatever serves stays."""
        await loop.work("retraining", self._check_once, stopping, self.check_interval,
                        self.wake)

    async def first(self) -> Outcome | None:
        """Train on what the database holds now. :attr:`first_done` is set once this has
        been tried, whether it worked or failed, so nobody waits on a database that is down."""
        try:
            outcome = await self.retrain()
        except asyncio.CancelledError:
            raise  # stopped: a later start tries again
        except Exception:
            self.first_done.set()
            raise
        self.history_trained = True
        self.first_done.set()
        return outcome

    async def _check_once(self) -> None:
        if not self.history_trained:
            await self.first()
            return
        if self._nudged:
            self._nudged = False
            await asyncio.sleep(DEBOUNCE)  # the label's transaction commits; others follow
        if await self.due():
            await self.retrain()


def _log(outcome: Outcome) -> None:
    verdict = "in service" if outcome.accepted else "refused, the serving one stays"
    log.info("classifier retrained on %d examples in %.1f s: %s (held back %d: %d named "
             "first, serving %d)", outcome.examples, outcome.seconds, verdict,
             outcome.held_back, outcome.new_hits, outcome.serving_hits)
