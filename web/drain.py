"""Stopping a process behind a load balancer without failing a request (README, *Deployment*).

With ``peygir serve --drain SECONDS``, SIGTERM first turns ``/readyz`` to 503 ("shutting
down") while the process keeps serving; the proxy's health check takes it out of rotation,
and only then does uvicorn stop listening and finish what is under way. Without the pause
a request could reach a closed port in the moment before the proxy noticed, and a proxy
cannot always send it elsewhere (Caddy before 2.11.2 fails a POST it retries).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import uvicorn

DRAINING = threading.Event()  # read by /readyz (web.observe)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM delayed by ``drain`` seconds of answering not-ready."""

    def __init__(self, config: uvicorn.Config, drain: float) -> None:
        super().__init__(config)
        self.drain = drain
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain <= 0 or self._timer is not None:
            super().handle_exit(sig, frame)  # Ctrl-C, no pause asked, or a second SIGTERM
            return
        DRAINING.set()
        # uvicorn's own exit only sets flags its main loop looks at: safe from this thread.
        self._timer = threading.Timer(self.drain, super().handle_exit, (sig, frame))
        self._timer.daemon = True
        self._timer.start()
