"""Replay and verify: is the live state what the log says, and is the log untouched?

Replay folds every stream from the log (`fold_log`), reading it through `log_read`'s
packed pages, then compares each with the state the store loads (`compare_live`). With
several CPUs the fold is split: this process folds the operations and accounts (one
state per operation ever made: too many to send back cheaply), while forked processes
fold the mailboxes, most of a long log's events but few and small states to send back.
A mailbox can hold most of the log by itself, so the mailboxes' events are cut by
position into stretches of about one CPU's work each (this process taking the first when
the other streams leave it room): a later stretch starts each mailbox from its stored
snapshot before the stretch (plus the events after that snapshot), and the split counts
only if every such start equals what the stretches before it folded, so the result is the
single fold's. Should a share fail, or a start differ, the whole log is folded again here, in
log order, so that the error raised is the earliest one, as a single fold would find it.
"""

import gc
import itertools
import multiprocessing
import multiprocessing.connection
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any, cast, get_args
from uuid import UUID

import msgspec
from tidings.domain import MAILBOX, OPERATION
from tidings.domain import mailbox as mbx

from ..store.application import Store, stream_id
from ..store.chain import GENESIS, link
from ..store.codec import DomainEvent, event_types
from .log_read import (
    KINDS,
    PAGE,
    LogRead,
    Page,
    Row,
    Share,
    Start,
    bounds,
    read_pages,
    read_rows,
    read_start,
    sample_topics,
)
from .trail import DECIDERS

__all__ = [
    "Break",
    "CorruptEvent",
    "Folded",
    "Mismatch",
    "ReplayReport",
    "compare_live",
    "compare_open",
    "fold_log",
    "replay",
    "verify",
]

Progress = Callable[[int], None]
# category -> stream id (as `log_read` gives it) -> the state its events fold to
Folded = dict[str, dict[str, Any]]
# stream id -> the mailbox state a later stretch of the log started it from
Seeds = dict[str, mbx.MailboxState]
Starts = Callable[[str, int], Start]

_TYPES = {cls.__struct_config__.tag: cls for cls in get_args(DomainEvent)}
_DECODERS = {topic: msgspec.msgpack.Decoder(cls) for topic, cls in _TYPES.items()}
# A page's states back to back, behind a MessagePack array header, are one list of
# events: one decoder call per page instead of one per row. The events' tags say which
# type each is; the fold checks that against the row's topic. What it cannot see is a
# page that decodes whole although its rows were re-cut (one state's tail moved into
# the next row): `verify`'s hash chain finds that.
_PAGE_DECODER = msgspec.msgpack.Decoder(list[DomainEvent])
_CATEGORY_OF_TOPIC = {topic: category for category in DECIDERS for topic in event_types(category)}


class CorruptEvent(Exception):
    """A stored event that cannot be decoded as its topic says, or that cannot follow the
    events before it in its stream (its stream's `check` refuses it: an ack of a
    notification that is not the head)."""

    def __init__(
        self, position: int, topic: str, error: Exception, what: str = "cannot be decoded"
    ):
        super().__init__(f"log entry at position {position} ({topic}) {what}: {error}")
        self.position = position
        self.topic = topic
        self.error = error


_OUT_OF_ORDER = "cannot follow the events before it in its stream"


class _RunsRefused(Exception):
    """`mbx.replayed` refused the runs of events of these streams in a page."""

    def __init__(self, streams: list[str]):
        super().__init__(", ".join(streams))
        self.streams = streams


@dataclass(frozen=True, slots=True)
class Mismatch:
    stream: UUID
    category: str
    rebuilt: Any
    live: Any


@dataclass(slots=True)
class ReplayReport:
    events: int = 0
    streams: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


# Per topic, everything one row needs, bound once so that the page loop makes no call
# but the evolve and the dictionary's own: the event type its topic names, that type's
# decoder, the category's evolve, initial state and folded states (with their `get`),
# and for the mailboxes the page's runs of events per stream (else None).
_Step = tuple[
    type,
    Callable[[bytes], Any],
    Callable[[Any, Any], Any],
    Any,
    Callable[[str, Any], Any],
    dict[str, Any],
    dict[str, list[Any]] | None,
]


def _fold_page(page: Page, steps: dict[str, _Step]) -> int:
    """Fold a packed page, its rows' steps found by kind; returns how many of its rows,
    from the first, were folded: all, or those before the first the packed form cannot
    vouch for (the caller folds the rest row by row).

    A mailbox's rows are gathered in a run per stream and folded at the page's end by
    `mbx.replayed`, several times faster than `evolve` event by event; a mailbox is a long
    stream, most of a long log. The other streams (an operation's few events) are folded
    row by row."""
    if page.streams is None or page.kinds is None or page.states is None:
        return 0
    streams = page.streams.split(",")
    if len(streams) != page.count:
        return 0  # an id was NULL or held a comma
    try:
        events = _PAGE_DECODER.decode(b"\xdd" + page.count.to_bytes(4, "big") + page.states)
    except msgspec.DecodeError:
        return 0
    done = page.count
    for sid, kind, event in zip(streams, page.kinds, events, strict=True):
        step = steps.get(kind)
        if step is None or type(event) is not step[0]:
            # An unknown topic, or a state that is not the event its topic names.
            done = next(
                i
                for i, (kind, event) in enumerate(zip(page.kinds, events, strict=True))
                if kind not in steps or type(event) is not steps[kind][0]
            )
            break
        runs = step[6]
        if runs is None:
            step[5][sid] = step[2](step[4](sid, step[3]), event)
        else:
            run = runs.get(sid)
            if run is None:
                runs[sid] = [event]
            else:
                run.append(event)
    _apply_runs(steps.values())
    return done


def _apply_runs(steps: Iterable[_Step]) -> None:
    """Fold the mailboxes' runs of events on to their states, and forget the runs. A
    stream whose run is refused keeps its state from before the run, and `_RunsRefused`
    names it once every other run is folded."""
    refused = []
    for _, _, _, _, _, states, runs in steps:
        if runs:
            for sid, events in runs.items():
                try:
                    states[sid] = mbx.replayed(states.get(sid, mbx.initial), events)
                except ValueError:
                    refused.append(sid)
            runs.clear()
    if refused:
        raise _RunsRefused(refused)


def _fold_rows(rows: list[Row], steps: dict[str, _Step]) -> None:
    """Fold rows one by one, each decoded as its topic says; the first that cannot be
    decoded or cannot be folded is reported at its position."""
    for position, sid, topic, state in rows:
        step = steps.get(topic)
        if step is None:
            raise CorruptEvent(position, topic, KeyError(topic))
        try:
            event = step[1](state)
        except msgspec.DecodeError as error:
            raise CorruptEvent(position, topic, error) from error
        states = step[5]
        state = step[4](sid, step[3])
        problem = DECIDERS[_CATEGORY_OF_TOPIC[topic]].check(state, event)
        if problem is not None:
            refused = ValueError(problem)
            raise CorruptEvent(position, topic, refused, _OUT_OF_ORDER) from refused
        states[sid] = step[2](state, event)


def _fold_share(
    log: LogRead, share: Share, progress: Progress | None, start: Starts | None = None
) -> tuple[int, Folded, Seeds]:
    """Fold the streams of one share of the log, in this process; returns the events
    folded, the states, and (with `start`) the mailboxes' states before the share's first
    position that the fold started from."""
    folded: Folded = {category: {} for category in DECIDERS}
    seeds: Seeds = {}
    runs: dict[str, list[Any]] = {}  # the mailboxes' (stream ids never repeat across kinds)
    steps: dict[str, _Step] = {
        topic: (
            _TYPES[topic],
            _DECODERS[topic].decode,
            DECIDERS[category].evolve,
            DECIDERS[category].initial,
            folded[category].get,
            folded[category],
            runs if category == MAILBOX.category else None,
        )
        for topic, category in _CATEGORY_OF_TOPIC.items()
    }
    # Only the topics this share can hold: the database tells them apart in that order.
    topics = [topic for topic in steps if (topic in share.topics) != share.exclude]
    by_kind = {KINDS[i]: steps[topic] for i, topic in enumerate(topics)}
    events = 0
    with _no_cycle_collection():
        for page in read_pages(log, share, topics):
            if start is not None:
                _seed(page, share.first, start, folded[MAILBOX.category], seeds)
            try:
                done = _fold_page(page, by_kind)
            except _RunsRefused as refused:
                # Fold the refused streams' rows one by one, from their states before the
                # page, to report the first refused event at its position.
                streams = set(refused.streams)
                rows = read_rows(log, share, page.first, page.last, 0)
                _fold_rows([row for row in rows if row[1] in streams], steps)
                raise
            if done < page.count:
                _fold_rows(read_rows(log, share, page.first, page.last, done), steps)
            events += page.count
            if progress is not None:
                progress(page.count)
    return events, folded, seeds


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused: a fold keeps every state and each page's events, and
    unpacking the mailboxes makes a long queue's notifications, millions of objects that
    live on, which the collector would walk again and again, finding no garbage."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _seed(page: Page, before: int, start: Starts, states: dict[str, Any], seeds: Seeds) -> None:
    """Start each mailbox this page brings to a later stretch of the log from its state
    before the stretch: its newest snapshot there, then the events after it. The seed is
    kept, to be checked against the fold of the stretches before."""
    streams = page.streams.split(",") if page.streams is not None else []
    if len(streams) != page.count:
        raise ValueError(f"the streams of positions {page.first}-{page.last} cannot be read")
    for sid in set(streams).difference(states):
        snapshot, events = start(sid, before)
        stored = [] if snapshot is None else [(snapshot[1], snapshot[2])]
        stored += [(topic, raw) for _, topic, raw in events]
        state = mbx.replayed(mbx.initial, [_DECODERS[t].decode(raw) for t, raw in stored])
        states[sid] = seeds[sid] = state


_MAILBOXES = msgspec.msgpack.Encoder()
_MAILBOXES_DECODER = msgspec.msgpack.Decoder(dict[str, mbx.MailboxSnapshot])


def _pack_mailboxes(states: dict[str, mbx.MailboxState]) -> bytes:
    """Mailbox states as MessagePack: pickling a long queue's notifications one object at
    a time would cost more than folding them."""
    return _MAILBOXES.encode({sid: mbx.MailboxSnapshot.of(state) for sid, state in states.items()})


def _unpack_mailboxes(packed: bytes) -> dict[str, mbx.MailboxState]:
    return {sid: stored.restored() for sid, stored in _MAILBOXES_DECODER.decode(packed).items()}


# What a child sends back: events folded, its mailboxes' final states, and their seeds.
_Stretch = tuple[int, bytes, bytes]


def _fold_child(log: LogRead, share: Share, seeded: bool, send: Connection) -> None:
    """In a forked process: fold the mailboxes in one stretch of the log (`seeded`: a
    stretch after the first, its mailboxes started from their states before it), telling
    the parent of progress per page, then of the result, or of a failure (which the
    parent reproduces to raise it)."""
    try:
        with read_start(log) if seeded else nullcontext() as start:
            events, folded, seeds = _fold_share(
                log, share, lambda n: send.send(("progress", n)), start
            )
        if any(states for category, states in folded.items() if category != MAILBOX.category):
            raise ValueError("a mailbox share folded other streams")
        stretch: _Stretch = (
            events,
            _pack_mailboxes(folded[MAILBOX.category]),
            _pack_mailboxes(seeds),
        )
        send.send(("done", stretch))
    except BaseException:
        send.send(("failed", None))
    finally:
        # Leave without Python's exit handlers: they would flush and close what this
        # process shares with its parent (its stdout, its database connections).
        os._exit(0)


# Entries sampled to estimate how much of the log the mailboxes hold.
_SAMPLES = 500
_GOLDEN = (5**0.5 - 1) / 2
# Folding an event of an operation or an account costs about this many mailbox events:
# a mailbox's are folded a run at a time (`_fold_page`). Measured on the bench's history,
# two processes folding at once: 6.3 to 7.0 µs an event against 4.7 to 6.9.
_OTHER_WORK = 1.2


@dataclass(frozen=True, slots=True)
class _Plan:
    """Who folds the mailboxes' events where: this process those from the log's `bottom`
    to before `here` (beside every other stream), each child one of `stretches` (the last
    open-ended)."""

    bottom: int
    here: int
    stretches: list[tuple[int, int | None]]


def _plan(log: LogRead, mailboxes: Share, cpus: int, least: int) -> _Plan:
    """Shares of about equal work for `cpus` processes, a child's stretch at least
    `least` positions long. The mailboxes' events spread evenly along the log, so a
    share's work is its count of positions times the mailboxes' part of the log,
    estimated from a sample; an event of another stream counts `_OTHER_WORK` times."""
    ends = bounds(log)
    if ends is None:
        return _Plan(1, 1, [(1, None)])
    bottom, top = ends
    span = top - bottom + 1
    # Spread by the golden ratio, not evenly: a log written in a repeating pattern (an
    # acceptance, an end, a queued notification) would put every even pick on one kind.
    picks = sorted({bottom + int((i * _GOLDEN) % 1 * span) for i in range(_SAMPLES)})
    topics = sample_topics(log, picks)
    part = sum(topic in mailboxes.topics for topic in topics) / max(len(topics), 1)
    # This process folds the other streams (they cannot be sent back cheaply), and the
    # first mailboxes' events too when the others are less than its even share.
    others = (1 - part) * span * _OTHER_WORK
    extra = (part * span + others) / cpus - others
    here = bottom + (int(extra / part) if part and extra >= least * part else 0)
    count = max(1, min(cpus - 1, (top - here + 1) // max(least, 1)))
    cuts = [here + i * (top - here + 1) // count for i in range(count)]
    ranges = [(cut, after - 1) for cut, after in itertools.pairwise(cuts)]
    return _Plan(bottom, here, [*ranges, (cuts[-1], None)])


def _joined(
    first: dict[str, mbx.MailboxState], stretches: list[_Stretch]
) -> tuple[int, dict[str, mbx.MailboxState]] | None:
    """The mailboxes folded stretch by stretch, joined in log order after `first` (those
    folded before the stretches); None when a stretch started a mailbox from a state that
    the stretches before it do not end in (a stored snapshot that differs from its
    events)."""
    events, joined = 0, dict(first)
    for folded_events, finals, seeds in stretches:
        for sid, seed in _unpack_mailboxes(seeds).items():
            if joined.get(sid, mbx.initial) != seed:
                return None
        joined.update(_unpack_mailboxes(finals))
        events += folded_events
    return events, joined


def _fold_split(
    log: LogRead, progress: Progress | None, cpus: int, least_stretch: int
) -> tuple[int, Folded] | None:
    """Fold the other streams here and the mailboxes in forked processes, one stretch of
    the log each (this one folding the first stretch when that evens the work out);
    None when a share failed or the stretches do not join up. A mailbox's state is its
    backlog, small to send back however long its history, which is most of the log; a
    long history is cut into stretches so that it is folded on every CPU."""
    mailboxes = Share(tuple(event_types(MAILBOX.category)), exclude=False)
    plan = _plan(log, mailboxes, cpus, least_stretch)
    fork = multiprocessing.get_context("fork")
    children, receivers = [], []
    with warnings.catch_warnings():
        # Python 3.12+ warns of fork() while threads run (the CLI's progress bar). The
        # children touch none of their state: each opens its own connection, reports
        # through its pipe and leaves by os._exit.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        try:
            for first, last in plan.stretches:
                receive, send = multiprocessing.Pipe(duplex=False)
                receivers.append(receive)
                share = replace(mailboxes, first=first, last=last)
                seeded = first > plan.bottom
                child = fork.Process(
                    target=_fold_child, args=(log, share, seeded, send), daemon=True
                )
                try:
                    child.start()
                finally:
                    send.close()
                children.append(child)
        except OSError:
            # No process to be had (a limit on processes, or on memory): stop those
            # started, and let the caller fold the whole log here.
            for child in children:
                child.kill()
                child.join()
            for receive in receivers:
                receive.close()
            return None
    results: dict[Connection, _Stretch | None] = {}

    def drain(block: bool) -> None:
        """Pass on the children's progress, and take the result (None if it failed) of
        each that has ended."""
        waiting = [r for r in receivers if r not in results]
        while waiting:
            ready = multiprocessing.connection.wait(waiting, timeout=None if block else 0)
            if not ready:
                return
            for receive in cast(list[Connection], ready):
                try:
                    what, value = receive.recv()
                except EOFError:  # it died without a word
                    what, value = "failed", None
                if what == "progress":
                    if progress is not None:
                        progress(value)
                    continue
                results[receive] = value
                waiting.remove(receive)

    def told(n: int) -> None:
        if progress is not None:
            progress(n)
        drain(block=False)

    try:
        events, folded, _ = _fold_share(log, replace(mailboxes, exclude=True), told)
        if plan.here > plan.bottom:
            early, early_folded, _ = _fold_share(log, replace(mailboxes, last=plan.here - 1), told)
            events += early
            folded[MAILBOX.category] = early_folded[MAILBOX.category]
    except Exception:
        return None
    finally:
        drain(block=True)
        for child, receive in zip(children, receivers, strict=True):
            child.join()
            receive.close()
    stretches = [results[r] for r in receivers]
    if any(stretch is None for stretch in stretches):
        return None
    with _no_cycle_collection():
        joined = _joined(folded[MAILBOX.category], cast(list[_Stretch], stretches))
    if joined is None:
        return None
    folded[MAILBOX.category] = joined[1]
    return events + joined[0], folded


def fold_log(
    store: Store, progress: Progress | None = None, *, least_stretch: int = PAGE
) -> tuple[int, Folded]:
    """Fold every stream from the notification log; returns (events folded, states).
    `progress(n)` is told of n more events folded. With several CPUs the mailboxes are
    folded in stretches of at least `least_stretch` positions, one process each."""
    log = LogRead(store.url, store.recorder.events_table_name, store.recorder.snapshots_table)
    cpus = os.cpu_count() or 1
    if cpus > 1 and "fork" in multiprocessing.get_all_start_methods():
        split = _fold_split(log, progress, cpus, least_stretch)
        if split is not None:
            return split
        # A share failed, or no process could be started: fold the whole log in log order
        # (progress may have been told of part of it already, so it is not told again),
        # so that the error raised is the one at the earliest position, as in a single fold.
        progress = None
    events, folded, _ = _fold_share(log, Share(), progress)
    return events, folded


def compare_live(store: Store, folded: Folded) -> list[Mismatch]:
    """The streams whose live state (snapshot plus newer events, as a fresh process
    loads it) differs from the folded one, or cannot be loaded at all."""
    mismatches = []
    for category, states in folded.items():
        decider = DECIDERS[category]
        for sid, rebuilt in states.items():
            stream = UUID(sid)
            live: Any
            try:
                live = store.load_cold(decider, stream, checked=True).state
            except ValueError as error:  # a snapshot its later events cannot follow
                live = f"cannot be loaded: {error}"
            if live != rebuilt:
                mismatches.append(Mismatch(stream, category, rebuilt, live))
    return mismatches


def compare_open(store: Store, folded: Folded) -> list[Mismatch]:
    """The operations the log and the store's open operations disagree on: open (accepted,
    not ended) in one and not in the other."""
    rebuilt = {
        state.accepted.svtrid
        for state in folded[OPERATION.category].values()
        if state.accepted is not None and state.ended is None
    }
    live = set(store.open_operations())
    return [
        Mismatch(
            stream_id(OPERATION.category, svtrid),
            f"open operation {svtrid}",
            "open" if svtrid in rebuilt else "not open",
            "open" if svtrid in live else "not open",
        )
        for svtrid in sorted(rebuilt ^ live)
    ]


def replay(store: Store, progress: Progress | None = None) -> ReplayReport:
    """Fold every stream from the notification log, then compare each with the state
    the store loads (snapshot plus newer events), and the operations open by the log
    with those the store lists as open. `progress(n)` is told of n more events folded."""
    events, folded = fold_log(store, progress)
    return ReplayReport(
        events=events,
        streams=sum(len(states) for states in folded.values()),
        mismatches=compare_live(store, folded) + compare_open(store, folded),
    )


@dataclass(frozen=True, slots=True)
class Break:
    """The first log position where the hash chain does not hold, and why."""

    position: int
    reason: str


def verify(store: Store, progress: Progress | None = None) -> tuple[int, Break | None]:
    """Walk the log and its hash chain; returns (entries checked, first break or None)."""
    recorder = store.recorder
    top = max(recorder.max_notification_id() or 0, recorder.max_chained())
    previous, checked, start, page = GENESIS, 0, 1, 10_000
    while start <= top:
        stop = start + page - 1
        rows = {row[0]: row for row in recorder.scan(start, stop)}
        links = dict(recorder.chain(start, stop))
        for position in sorted(rows.keys() | links.keys()):
            row, digest = rows.get(position), links.get(position)
            if row is None:
                return checked, Break(position, "log entry deleted (its chain link remains)")
            if digest is None:
                return checked, Break(position, "log entry has no chain link")
            if link(previous, *row) != digest:
                return checked, Break(position, "log entry or its chain link was altered")
            previous = digest
            checked += 1
        if progress is not None:
            progress(len(rows))
        start = stop + 1
    return checked, None
