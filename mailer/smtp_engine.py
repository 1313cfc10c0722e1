"""Concurrent SMTP delivery: a bounded number of connections per relay off one shared queue.

Each connection is a task that keeps one aiosmtplib session open and runs
MAIL, RCPT, DATA per job, so a connection carries many messages. What an
outcome means for resending is decided here, by where the dialogue stopped:

- refused with a reply (4xx/5xx) at MAIL, RCPT or DATA: a clear answer;
- connection lost before DATA: the relay holds nothing, the job is put
  back and sent on a fresh connection (``requeue``);
- connection lost during DATA (after the payload may have gone out, before
  the 250 came back): the relay may or may not have queued the message.
  It is ``uncertain`` and never resent automatically: at most once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib import SMTPException, SMTPResponseException

from mailer.compose import Envelope
from mailer.relays import RelayState

log = logging.getLogger("responsemaster.mailer")

#: Connection failures in a row before a relay is considered down for this run.
MAX_CONNECT_FAILURES = 3
#: A job whose connection dropped before DATA this many times is deferred instead.
MAX_REQUEUES = 3


@dataclass
class Job:
    delivery_id: int
    subscriber_id: int
    domain: str
    attempt: int
    envelope: Envelope
    requeues: int = 0


@dataclass
class Outcome:
    job: Job
    #: sent | deferred | failed | uncertain | requeue
    status: str
    code: int = 0
    text: str = ""
    command: str = ""
    relay: RelayState | None = None


class DomainThrottle:
    """At most ``rate`` messages per second to one recipient domain (0: unlimited)."""

    def __init__(self, default_rate: float, rates: dict[str, float]) -> None:
        self.default_rate = default_rate
        self.rates = rates
        self._next: dict[str, float] = {}

    def delay(self, domain: str, now: float) -> float:
        """Seconds until the next free slot for ``domain`` (0: now), and take that slot."""
        rate = self.rates.get(domain, self.default_rate)
        if rate <= 0:
            return 0.0
        slot = max(now, self._next.get(domain, now))
        self._next[domain] = slot + 1.0 / rate
        return slot - now


class SmtpEngine:
    """Runs jobs through the relays; ``on_outcome`` is called once per finished job.

    Per-domain throttling happens before the shared queue: a job whose
    domain has no free slot yet waits on a timer, holding no connection, so
    a slow domain (a provider asking for 2 messages a second) never keeps
    the connections from the other domains' mail.
    """

    def __init__(self, relays: list[RelayState], throttle: DomainThrottle, on_outcome: Callable[[Outcome], None],
                 max_in_flight: int) -> None:
        self.relays = relays
        self.throttle = throttle
        self.on_outcome = on_outcome
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.slots = asyncio.Semaphore(max_in_flight)
        self.exhausted = asyncio.Event()
        self.reason = ""
        self._workers: list[asyncio.Task[None]] = []
        self._live = 0
        #: Jobs waiting for their domain's slot, by timer.
        self._waiting: dict[asyncio.TimerHandle, Job] = {}
        self._released = asyncio.Event()

    def start(self) -> None:
        for relay in self.relays:
            for _ in range(max(1, relay.settings.max_connections)):
                self._workers.append(asyncio.create_task(self._worker(relay)))
        self._live = len(self._workers)

    async def submit(self, job: Job) -> bool:
        """Queue a job once a slot is free; False when no relay can take work any more."""
        if self.exhausted.is_set():
            return False
        if not self.slots.locked():  # fast path: a slot is free, no waiting on two events
            await self.slots.acquire()
            self._enqueue(job)
            return True
        acquire = asyncio.ensure_future(self.slots.acquire())
        stop = asyncio.ensure_future(self.exhausted.wait())
        await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not acquire.done():
            acquire.cancel()
            return False
        if self.exhausted.is_set():
            self.slots.release()
            return False
        self._enqueue(job)
        return True

    def _enqueue(self, job: Job) -> None:
        """Into the shared queue now, or when the job's domain has a free slot."""
        loop = asyncio.get_running_loop()
        delay = self.throttle.delay(job.domain, loop.time())
        if delay <= 0:
            self.queue.put_nowait(job)
            return
        handle: asyncio.TimerHandle

        def release() -> None:
            del self._waiting[handle]
            self._released.set()
            if self.exhausted.is_set():
                self._finish(Outcome(job, "requeue", text=self.reason))
            else:
                self.queue.put_nowait(job)

        handle = loop.call_later(delay, release)
        self._waiting[handle] = job

    async def drain(self) -> None:
        """Wait until every submitted job has an outcome (the throttled ones included)."""
        while True:
            await self.queue.join()
            if not self._waiting:
                return
            self._released.clear()
            await self._released.wait()

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._flush_waiting()

    def _flush_waiting(self) -> None:
        """Throttled jobs that will not go out in this run go back to ``queued``."""
        for handle, job in list(self._waiting.items()):
            handle.cancel()
            del self._waiting[handle]
            self.on_outcome(Outcome(job, "requeue", text=self.reason or "run stopped"))
            self.slots.release()
        self._released.set()

    def _finish(self, outcome: Outcome) -> None:
        """Report a final outcome, or put a job whose connection dropped before DATA back in line."""
        if outcome.status == "requeue" and not self.exhausted.is_set():
            self.queue.put_nowait(outcome.job)  # the worker's task_done balances this put
            return
        if outcome.status == "requeue" and not outcome.text:
            outcome.text = self.reason
        self.on_outcome(outcome)
        self.slots.release()

    async def _worker(self, relay: RelayState) -> None:
        smtp: aiosmtplib.SMTP | None = None
        failures = 0
        try:
            while True:
                job = await self.queue.get()
                try:
                    if not relay.take():
                        self._retire(relay, job, "quota spent" if not relay.down else "relay down")
                        return
                    if smtp is None:
                        smtp, failures = await self._connect(relay, failures)
                        if smtp is None:
                            relay.give_back()
                            if relay.down:
                                self._retire(relay, job, f"relay {relay.name} unreachable")
                                return
                            self._finish(Outcome(job, "requeue", relay=relay))
                            continue
                    outcome = await transact(smtp, job, relay)
                    if outcome.status in ("requeue", "uncertain") or outcome.code == 421:
                        smtp = await _drop(smtp)
                    self._settle(relay, outcome)
                    self._finish(outcome)
                finally:
                    self.queue.task_done()
        finally:
            if smtp is not None:
                await _drop(smtp)

    def _settle(self, relay: RelayState, outcome: Outcome) -> None:
        if outcome.status in ("sent", "uncertain") or outcome.command == "DATA":
            relay.counted()
        else:
            relay.give_back()
        if outcome.status == "requeue":
            outcome.job.requeues += 1
            if outcome.job.requeues >= MAX_REQUEUES:
                outcome.status = "deferred"

    def _retire(self, relay: RelayState, job: Job, why: str) -> None:
        """This relay stops; its job goes back to the others, or out if none is left."""
        self._live -= 1
        if self._live <= 0 or all(r.down or r.remaining() <= 0 for r in self.relays):
            self.reason = why
            self.exhausted.set()
            self._finish(Outcome(job, "requeue", text=why))
            self._flush_queue()
            self._flush_waiting()
        else:
            self.queue.put_nowait(job)

    def _flush_queue(self) -> None:
        while not self.queue.empty():
            job = self.queue.get_nowait()
            self._finish(Outcome(job, "requeue", text=self.reason))
            self.queue.task_done()

    async def _connect(self, relay: RelayState, failures: int) -> tuple[aiosmtplib.SMTP | None, int]:
        settings = relay.settings
        smtp = aiosmtplib.SMTP(hostname=settings.host, port=settings.port, timeout=settings.timeout,
                               use_tls=settings.tls == "tls", start_tls=settings.tls == "starttls")
        try:
            await smtp.connect()
            if settings.username:
                await smtp.login(settings.username, settings.password)
            return smtp, 0
        except (TimeoutError, SMTPException, OSError) as exc:
            failures += 1
            log.warning("relay %s: cannot connect (%s/%s): %s", relay.name, failures, MAX_CONNECT_FAILURES, exc)
            if failures >= MAX_CONNECT_FAILURES:
                relay.down = True
            else:
                await asyncio.sleep(0.2 * 2**failures)
            return None, failures


async def transact(smtp: aiosmtplib.SMTP, job: Job, relay: RelayState) -> Outcome:
    """One MAIL/RCPT/DATA dialogue; the outcome says how far it got."""
    env = job.envelope
    for command in ("MAIL", "RCPT", "DATA"):
        try:
            if command == "MAIL":
                await smtp.mail(env.mail_from)
            elif command == "RCPT":
                await smtp.rcpt(env.rcpt_to)
            else:
                await smtp.data(env.data)
        except SMTPResponseException as exc:
            if command != "DATA":
                await _rset(smtp)
            status = "failed" if exc.code >= 500 else "deferred"
            return Outcome(job, status, exc.code, exc.message, command, relay)
        except (TimeoutError, SMTPException, OSError) as exc:
            status = "uncertain" if command == "DATA" else "requeue"
            return Outcome(job, status, 0, f"{type(exc).__name__}: {exc}", command, relay)
    return Outcome(job, "sent", 250, "", "DATA", relay)


async def _rset(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.rset()
    except (TimeoutError, SMTPException, OSError):
        smtp.close()


async def _drop(smtp: aiosmtplib.SMTP) -> None:
    try:
        if smtp.is_connected:
            await asyncio.wait_for(smtp.quit(), 2)
    except (TimeoutError, SMTPException, OSError):
        pass
    finally:
        smtp.close()
