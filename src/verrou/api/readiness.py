"""What ``/readyz`` answers, probed at most once a second."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from verrou.errors import NotReady as NotReady  # re-exported: its old home
from verrou.errors import StoreError

logger = logging.getLogger(__name__)


class Readiness:
    """What ``/readyz`` answers: whether a check would be answered and recorded now.

    ``probe`` asks the store and the recorder (its own connection, a write transaction rolled
    back, the registry file still the server's). A good outcome is kept for ``ttl`` seconds,
    and concurrent callers share one probe, so /readyz under load costs one transaction a
    second at most. A check failing on the store forgets it at once (:meth:`invalidate`), so
    /readyz never says ready just after a check was refused; a bad outcome is not kept, so it
    says ready as soon as a check would be answered again (while the store is down, a probe
    fails fast: the recorder's backoff answers it without trying). A probe
    that takes longer than ``timeout`` is a failure: a recorder that cannot answer a probe
    cannot answer a check either.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        ttl: float = 1.0,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._until = -math.inf
        self._error: StoreError | None = None
        self._probing: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """Forget the last outcome (a check just failed on the store): the next call probes."""
        self._until = -math.inf

    async def check(self) -> None:
        """Return if ready; raise :class:`StoreError` saying why not otherwise."""
        if self._clock() >= self._until:
            if self._probing is None:
                self._probing = asyncio.create_task(self._run())
            await asyncio.shield(self._probing)
        if self._error is not None:
            raise NotReady(self._error.message)

    async def _run(self) -> None:
        try:
            await asyncio.wait_for(self._probe(), self._timeout)
        except StoreError as exc:
            self._error = exc
        except TimeoutError:
            self._error = StoreError(f"the check recorder did not answer within {self._timeout}s")
        except Exception as exc:
            logger.error("readiness probe failed unexpectedly", exc_info=exc)
            self._error = StoreError("the readiness probe failed")
        else:
            self._error = None
            self._until = self._clock() + self._ttl
        finally:
            self._probing = None
