"""Prometheus metrics of this process (``PEYGIR_METRICS``), in a registry of their own.

Labels are a fixed, small set: a channel's name from a known list (anything else is
"other"), a ticket state from the workflow's enum, an error's source. No chat id, tracking
code, text or address is ever a label: a label's values are stored for ever by whoever
scrapes, and each new value is a new time series.

Counted here, as they happen: messages handled by channel, transcription latency, errors.
Read from the database at each scrape (``DatabaseFigures``), so every process reports the
same whole-service figures: tickets by state, queues and their lag, escalations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from peygir.ticket_store.health import Queues

REGISTRY = CollectorRegistry(auto_describe=True)
CHANNELS = frozenset({"web", "telegram", "bale", "instagram", "eitaa", "open311", "memory"})

MESSAGES = Counter("peygir_messages", "Citizens' messages handled (repeats not counted)",
                   ["channel"], registry=REGISTRY)
ERRORS = Counter("peygir_errors", "Errors: log records at ERROR or worse, and HTTP 5xx answers",
                 ["source"], registry=REGISTRY)
TRANSCRIPTION_SECONDS = Histogram(
    "peygir_transcription_seconds",
    "A voice note's wait from queued to transcript handled (queue wait plus Whisper)",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800), registry=REGISTRY)
for _source in ("log", "http"):
    ERRORS.labels(_source)  # shown at 0 from the start, so a rate() has a baseline


def channel_label(channel: str) -> str:
    return channel if channel in CHANNELS else "other"


def message_handled(channel: str) -> None:
    MESSAGES.labels(channel_label(channel)).inc()


class ErrorCounter(logging.Handler):
    """Counts log records at ERROR and above; formats and keeps nothing."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels("log").inc()


def count_logged_errors() -> None:
    """Attach the counter to the root logger once per process."""
    root = logging.getLogger()
    if not any(isinstance(h, ErrorCounter) for h in root.handlers):
        root.addHandler(ErrorCounter())


class DatabaseFigures(Collector):
    """Whole-service figures read from the database just before a scrape (``update``)."""

    def __init__(self) -> None:
        self.tickets: dict[str, int] = {}
        self.queues = Queues()
        self.escalations = 0

    def update(self, tickets: dict[str, int], queues: Queues, escalations: int) -> None:
        self.tickets, self.queues, self.escalations = tickets, queues, escalations

    def collect(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily("peygir_tickets", "Tickets by state", labels=["state"])
        for state, count in sorted(self.tickets.items()):
            by_state.add_metric([state], count)
        yield by_state
        q = self.queues
        yield GaugeMetricFamily("peygir_outbox_waiting",
                                "Replies due for a messenger and not yet sent",
                                value=q.outbox_waiting)
        yield GaugeMetricFamily("peygir_outbox_lag_seconds",
                                "Age of the oldest reply due and not yet sent (0: none)",
                                value=q.outbox_lag)
        yield GaugeMetricFamily("peygir_transcription_waiting",
                                "Voice notes waiting for Whisper", value=q.transcription_waiting)
        yield GaugeMetricFamily("peygir_transcription_lag_seconds",
                                "Age of the oldest voice note waiting (0: none)",
                                value=q.transcription_lag)
        yield CounterMetricFamily("peygir_escalations", "Escalation alerts fired",
                                  value=self.escalations)


FIGURES = DatabaseFigures()
REGISTRY.register(FIGURES)
