"""Stream ids: a pure function of the stream's name, the same in every process; an
operation's stream, named by an svTRID, sorts in the order the svTRIDs were minted (so
the log's primary-key index takes new operations at its end)."""

import itertools
from uuid import UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st
from tidings.adapters import Tidings
from tidings.adapters.store.application import stream_hex, stream_id
from tidings.domain import MAILBOX, OPERATION

from tests.clock import FakeClock

# The namespace of every `uuid5` stream id: a stored id, never to change.
NAMESPACE = UUID("6b1d9c8e-2f1a-5c3e-9f47-0d1e2a3b4c5d")

svtrids = st.builds(
    "{}.{}.{}".format,
    st.integers(0, 2**32 - 1),
    st.integers(0, 10**9 - 1),
    st.integers(1, 10**9),
)


def test_a_stream_that_is_not_an_operation_is_stored_under_the_uuid5_of_its_name() -> None:
    # Given a mailbox's name, when its id is computed, then it is uuid5's, as stored so far
    assert stream_id(MAILBOX.category, "tester") == uuid5(NAMESPACE, "mailbox/tester")
    assert stream_hex(MAILBOX.category, "tester") == uuid5(NAMESPACE, "mailbox/tester").hex


def test_an_operation_id_leads_with_its_svtrids_second_and_counter() -> None:
    # Given an svTRID minted at a second by a process's 7th mint
    sid = stream_id(OPERATION.category, "1764000000.123456789.7")
    # Then the id is a version 8 id led by that second, then that counter
    assert sid.hex[:8] == f"{1764000000:08x}"
    assert sid.hex[8:12] + sid.hex[13:16] == f"{7:07x}"
    assert sid.version == 8 and sid.variant == "specified in RFC 4122"
    # And its other bits are the name's digest: another process's 7th mint differs
    other = stream_id(OPERATION.category, "1764000000.5.7")
    assert other.hex[:16] == sid.hex[:16] and other != sid


def test_an_operation_key_that_is_no_svtrid_falls_back_to_uuid5() -> None:
    # Given operation keys with no svTRID time (a test's own, or a time too far off)
    for key in ("poll.1", "", "x.1.2", "12345678901.1.1", "1764000000.1", "1764000000.1.2.3"):
        # Then each is stored under the uuid5 of its name
        assert stream_id(OPERATION.category, key) == uuid5(NAMESPACE, f"operation/{key}")


@given(st.lists(svtrids, min_size=2, max_size=20, unique=True))
def test_operations_minted_later_sort_later(keys: list[str]) -> None:
    # Given svTRIDs minted over time, when their operations' ids are ordered
    def minted(key: str) -> tuple[int, int]:
        second, _, counter = key.split(".")
        return int(second), int(counter) % 2**28

    by_time = sorted(keys, key=minted)
    ids = [stream_hex(OPERATION.category, key) for key in by_time]
    # Then ids of a later second, or of a later counter in the same second, sort later
    for earlier, later in itertools.pairwise(by_time):
        if minted(earlier) < minted(later):
            assert stream_hex(OPERATION.category, earlier) < stream_hex(OPERATION.category, later)
    # And every id is a distinct UUID, the same however often it is computed
    assert len(set(ids)) == len(ids)
    assert [UUID(hex=sid) for sid in ids] == [stream_id(OPERATION.category, k) for k in by_time]


@given(st.sampled_from([OPERATION.category, MAILBOX.category, "delivery"]), st.text())
def test_any_name_has_a_uuid_for_its_id(category: str, key: str) -> None:
    sid = stream_hex(category, key)
    assert UUID(hex=sid).hex == sid and sid == stream_hex(category, key)


def test_the_log_holds_operations_in_the_order_of_their_ids(db_url: str) -> None:
    # Given operations accepted over several seconds, on a real backend
    clock = FakeClock()
    with Tidings(db_url, clock=clock) as tidings:
        tidings.open_account("tester", "123456")
        svtrids = []
        for n in range(6):
            svtrids.append(tidings.accept("tester", f"c{n}", "ping-async").svtrid)
            clock.advance(0.6)
        # When the log is read back
        accepted = [e for e in tidings.log() if type(e.event).__name__ == "OperationAccepted"]
    # Then each operation's stream is the id of its svTRID, and the ids sort as the log
    assert [e.stream for e in accepted] == [stream_id(OPERATION.category, s) for s in svtrids]
    assert [e.stream.hex[:12] for e in accepted] == sorted(e.stream.hex[:12] for e in accepted)
    assert len({e.stream.hex[:12] for e in accepted}) > 1


def test_an_svtrid_in_other_decimal_digits_reads_as_the_same_time() -> None:
    # Given an svTRID written in Arabic-Indic digits, and a near miss with a superscript
    arabic = "".join(chr(0x660 + int(d)) if d.isdigit() else d for d in "1764000000.5.7")
    # Then the first leads with the same second and counter as its ASCII twin
    assert (
        stream_hex(OPERATION.category, arabic)[:16]
        == stream_hex(OPERATION.category, "1764000000.5.7")[:16]
    )
    # And the second is no svTRID: the uuid5 of its name
    assert stream_id(OPERATION.category, "1764000000.5.7\u00b2") == uuid5(
        NAMESPACE, "operation/1764000000.5.7\u00b2"
    )
