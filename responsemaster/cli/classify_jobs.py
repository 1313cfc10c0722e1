"""``classify --jobs N``: one command's messages classified by N processes, printed in input order.

Why: classifying is pure CPU work per message and ``classify`` of a big
folder ran on one core of many (issue 13, "every core drains"). The parent
reads the inputs (files, Maildirs, mbox: :func:`~responsemaster.ingest.paths.iter_paths`),
hands them out in chunks, and prints each chunk's lines when every chunk
before it has been printed: the output is exactly what one process prints,
in the same order (the contract in docs/categories.md).

- The recipient model (needed by almost every bounce) is loaded in the
  parent before it forks (Linux: the fork start method), so the children
  share its pages.
- The message model is needed by a handful of bounces in a thousand (3 in
  1,000 in the corpus) and by most replies. It is not loaded before the
  fork, where every child would wait for it: the parent loads it in a
  thread while the children work, and each child hands its first
  :data:`DEFERRED` messages needing it back to the parent, which classifies
  them once it is loaded, one between two answers, each child holding more
  chunks meanwhile (:data:`IN_FLIGHT_WHILE_DEFERRED`: the first such message
  builds a tokenizer, 0.1 s, and the children ran dry for 30-80 ms while
  the parent classified them all at once). A child that meets more loads the model itself
  (a folder of replies: every child then reads with its own copy). An older
  model, whose tokenizer is spaCy's (``tokenizer-<lang>.json`` missing,
  :mod:`responsemaster.classify.model.tokenizer`), has spaCy imported in
  that thread as well.
- Fewer than :data:`SMALL` messages are classified in the parent alone: a
  one-file ``classify`` starts no process and loads nothing it does not need
  (numpy neither: from SMALL messages on, with any ``--jobs``, the scorers sum
  with numpy, see :mod:`~responsemaster.classify.model.fastpath`).
- The children die with the parent, however it dies (:mod:`responsemaster.lifeline`),
  and ignore Ctrl-C: the parent stops them. A child that dies while it holds
  messages is an error naming the first of them (:class:`WorkerDied`), never a hang.
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # multiprocessing is imported when processes start: a one-file classify does not need it
    from multiprocessing.connection import Connection

    from responsemaster.ingest.paths import RawItem

#: Below this many messages the parent classifies them alone (forking and warming would cost more).
SMALL = 200
#: Messages per chunk: big enough that passing them costs little, small enough that the last
#: chunks keep every core busy and the parent's buffer of finished chunks stays short.
CHUNK = 25
#: Chunks handed to one child before its first answer comes back (it never waits for work).
IN_FLIGHT = 2
#: Chunks each child holds while the parent classifies a message handed back: one such message can
#: take tens of milliseconds (its language's tokenizer built on first use), longer than IN_FLIGHT
#: chunks last; with this many the children did not run dry (measured: 30-50 ms idle each before).
IN_FLIGHT_WHILE_DEFERRED = 6
#: Messages needing the message model that a child hands back to the parent before it loads the model
#: itself. Well above what a run of bounces has (3 in 1,000 in the corpus): with 8, one of two children
#: often got a ninth and loaded the model (then spaCy, for an older model) after all.
DEFERRED = 32
#: The outcome a child gives for a message it hands back to the parent.
DEFER: tuple[str, str] = ("defer", "")

#: What one input prints: ("line", the output line) or ("skip", the note for stderr).
Outcome = tuple[str, str]
Render = Callable[[object, "RawItem"], Outcome]


class WorkerDied(RuntimeError):
    """A child process ended while it held messages; the message says which and how it ended."""


def outcomes(classifier: object, items: Iterable["RawItem"], render: Render, jobs: int,
             defer: bool | None = None) -> Iterator[Outcome]:
    """``render(classifier, item)`` for every item, in input order, by ``jobs`` processes when worth it.

    ``defer``: whether children hand their first messages needing the message
    model back (default: when there is a message model and it is not loaded yet).
    """
    items = iter(items)
    head = list(itertools.islice(items, SMALL))
    if len(head) < SMALL:
        yield from (render(classifier, item) for item in head)
        return
    from responsemaster.classify.model.fastpath import use_numpy

    use_numpy()  # many messages: the scorers' sums are worth numpy's import (before a fork: shared)
    if jobs <= 1 or not hasattr(os, "fork"):
        yield from (render(classifier, item) for item in itertools.chain(head, items))
        return
    warm(classifier)
    if defer is None:
        defer = _message_model_pending(classifier)
    yield from _Pool(classifier, render, jobs, defer).run(itertools.chain(head, items))


def _message_model_pending(classifier: object) -> bool:
    """Whether the classifier has a message model that is not loaded yet (see the module docstring)."""
    model = getattr(classifier, "model", None)
    return model is not None and getattr(model, "loaded", True) is False


def _model_imports_spacy(classifier: object) -> bool:
    """Whether the message model would import spaCy to read a message (an older model: see the module docstring)."""
    model = getattr(classifier, "model", None)
    if model is None:
        return False
    try:
        return bool(model.normaliser.imports_spacy())
    except Exception:  # noqa: BLE001 - a model that does not load fails each message, as in one process
        return False


def warm(classifier: object) -> None:
    """Load the recipient model before the fork, so that the children share it.

    It is lazy (``LazyModel``): loaded here, a child's copy costs nothing.
    The heap is then frozen so that the garbage collector in the children
    leaves those pages shared (``gc.freeze``). The message model is left out
    (see the module's docstring: :class:`_ModelInParent`).
    """
    try:
        load = getattr(getattr(classifier, "recipient_model", None), "model", None)
        if callable(load):
            load()
    except Exception:  # noqa: BLE001 - a model that does not load fails each message, as in one process
        pass
    gc.freeze()


def prepare_message_model(classifier: object) -> None:
    """Load the message model (and spaCy, for an older model), in the parent's thread, after the fork."""
    try:
        load = getattr(getattr(classifier, "model", None), "model", None)
        if callable(load):
            load()
        if _model_imports_spacy(classifier):
            import spacy  # noqa: F401
    except Exception:  # noqa: BLE001 - the model then fails each message it reads, as in one process
        pass


class _ModelInParent:
    """A child's message model: its first ``left`` uses mark the message for the parent.

    The pipeline catches every exception of a model (a failure verdict), so
    this does not raise: it notes the use and answers a placeholder, and the
    child replaces the message's outcome by :data:`DEFER`. Once ``left`` is
    spent it is the model itself.
    """

    def __init__(self, model: Any, left: int) -> None:
        self.model, self.left, self.used = model, left, False

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        if self.left <= 0:
            return self.model.predict(*args, **kwargs)
        self.used = True
        from responsemaster.categories import Category

        return Category.USER_REPLY, 0.0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model, name)


@dataclass
class _Child:
    process: Any  # multiprocessing's Process
    conn: "Connection"
    #: Chunks sent and not answered yet, oldest first: (sequence number, its messages).
    held: list[tuple[int, list["RawItem"]]] = field(default_factory=list)


class _Pool:
    """N forked children, each fed chunks through its own pipe; answers put back in order."""

    def __init__(self, classifier: object, render: Render, jobs: int, defer: bool) -> None:
        self.classifier, self.render, self.jobs, self.defer = classifier, render, jobs, defer
        self.children: list[_Child] = []
        #: Answered chunks' messages handed back by a child: chunk number -> (position, message).
        self.deferred: dict[int, list[tuple[int, "RawItem"]]] = {}
        self.preparing: threading.Thread | None = None

    def run(self, items: Iterator["RawItem"]) -> Iterator[Outcome]:
        chunks = _numbered_chunks(items)
        done: dict[int, list[Outcome]] = {}
        sent = printed = 0
        try:
            self._start()
            while True:
                ready = self._deferred_ready()
                sent = self._feed(chunks, sent, IN_FLIGHT_WHILE_DEFERRED if ready else IN_FLIGHT)
                self._classify_deferred(done, wait=not any(child.held for child in self.children))
                while printed in done and printed not in self.deferred:
                    yield from done.pop(printed)
                    printed += 1
                if printed == sent:
                    return
                if any(child.held for child in self.children):
                    self._collect(done, block=not self._deferred_ready())
        finally:
            self._stop()

    def _deferred_ready(self) -> bool:
        """Whether messages handed back wait and the message model is loaded."""
        return bool(self.deferred) and (self.preparing is None or not self.preparing.is_alive())

    def _classify_deferred(self, done: dict[int, list[Outcome]], wait: bool) -> None:
        """Classify here one message a child handed back, once the message model is loaded (all, with ``wait``).

        Not before (unless ``wait``): the children would run out of work while
        this process waited for the load. One at a time, between answers: the
        children keep working (:data:`IN_FLIGHT_WHILE_DEFERRED`) while this
        process is busy with it.
        """
        if not self.deferred:
            return
        if self.preparing is not None:
            if self.preparing.is_alive() and not wait:
                return
            self.preparing.join()
        while self.deferred:
            number = next(iter(self.deferred))
            position, item = self.deferred[number].pop(0)
            done[number][position] = self.render(self.classifier, item)
            if not self.deferred[number]:
                del self.deferred[number]
            if not wait:
                return

    def _start(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        sys.stdout.flush()  # a child must not inherit (and one day flush) buffered output
        sys.stderr.flush()
        parent = os.getpid()
        for _ in range(self.jobs):
            ours, theirs = context.Pipe()
            others = [child.conn for child in self.children]
            process = context.Process(target=_serve, args=(theirs, ours, others, self.classifier, self.render, parent,
                                                           self.defer),
                                      name="rm-classify", daemon=True)
            process.start()
            theirs.close()
            self.children.append(_Child(process, ours))
        if self.defer:  # after the fork: no child waits for it, none inherits it
            self.preparing = threading.Thread(target=prepare_message_model, args=(self.classifier,),
                                              name="rm-classify-prepare", daemon=True)
            self.preparing.start()

    def _feed(self, chunks: Iterator[tuple[int, list["RawItem"]]], sent: int, depth: int) -> int:
        """Top every child up to ``depth`` chunks; the number of chunks sent so far."""
        for child in self.children:
            while len(child.held) < depth:
                chunk = next(chunks, None)
                if chunk is None:
                    return sent
                number, items = chunk
                child.held.append((number, items))
                try:
                    child.conn.send(chunk)
                except OSError:  # its end of the pipe is closed: it died
                    child.process.join(timeout=1.0)
                    raise WorkerDied(_death(child)) from None
                sent = number + 1
        return sent

    def _collect(self, done: dict[int, list[Outcome]], block: bool = True) -> None:
        """Wait for answers (or a death; not at all unless ``block``) and file them; WorkerDied when a
        child died holding messages."""
        from multiprocessing.connection import wait

        busy = [child for child in self.children if child.held]
        waited = {child.conn: child for child in busy} | {child.process.sentinel: child for child in busy}
        for ready in wait(list(waited), timeout=None if block else 0):
            child = waited[ready]
            while child.held and child.conn.poll():
                try:
                    number, lines = child.conn.recv()
                except (EOFError, OSError):
                    break
                done[number] = lines
                messages = next(held for sent, held in child.held if sent == number)
                handed_back = [(at, messages[at]) for at, outcome in enumerate(lines) if outcome == DEFER]
                if handed_back:
                    self.deferred[number] = handed_back
                child.held = [held for held in child.held if held[0] != number]
            if child.held and not child.process.is_alive():
                raise WorkerDied(_death(child))

    def _stop(self) -> None:
        """Every child ends before this returns: told to stop, else killed."""
        for child in self.children:
            try:
                child.conn.send(None)
            except OSError:
                pass
        for child in self.children:
            child.process.join(timeout=2.0 if not child.held else 0.0)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            child.conn.close()


def _death(child: _Child) -> str:
    code = child.process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return (f"classify worker process {child.process.pid} died ({how}) with {len(child.held)} chunk(s) of "
            f"up to {CHUNK} messages unclassified, the first at {child.held[0][1][0].label}")


def _numbered_chunks(items: Iterator["RawItem"]) -> Iterator[tuple[int, list["RawItem"]]]:
    for number in itertools.count():
        chunk = list(itertools.islice(items, CHUNK))
        if not chunk:
            return
        yield number, chunk


def _serve(conn: "Connection", parents_end: "Connection", others: list["Connection"], classifier: object,
           render: Render, parent: int, defer: bool) -> None:
    """A child: classify the chunks that arrive, send each chunk's outcomes back, until told to stop.

    A thread reads the pipe into a queue, so the parent's send never waits
    for this process to finish sending an answer (the pipe holds 64 KB each way).
    """
    from responsemaster import lifeline

    lifeline.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    for end in [parents_end, *others]:  # copies of the parent's ends, inherited by the fork
        end.close()
    import queue

    model = getattr(classifier, "model", None)
    stand_in = None
    if defer and model is not None:
        stand_in = classifier.model = _ModelInParent(model, DEFERRED)  # type: ignore[attr-defined]
    todo: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read, args=(conn, todo), name="rm-classify-read", daemon=True).start()
    while (chunk := todo.get()) is not None:
        number, items = chunk
        conn.send((number, [_outcome(classifier, render, item, stand_in) for item in items]))


def _outcome(classifier: object, render: Render, item: "RawItem", stand_in: _ModelInParent | None) -> Outcome:
    """``render``'s outcome, or DEFER when it needed the message model the parent keeps for now."""
    if stand_in is None:
        return render(classifier, item)
    stand_in.used = False
    outcome = render(classifier, item)
    if stand_in.used:
        stand_in.left -= 1
        return DEFER
    return outcome


def _read(conn: "Connection", todo: Any) -> None:
    try:
        while (chunk := conn.recv()) is not None:
            todo.put(chunk)
    except (EOFError, OSError):
        pass
    todo.put(None)
