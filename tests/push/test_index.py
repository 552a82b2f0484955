"""The due index, an eventsourcing projection's in-memory view, reads only the topics it
folds, and still passes every position in its tracking record."""

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError
from tidings.adapters import Tidings
from tidings.adapters.push.index import DueIndex, DueProjection
from tidings.adapters.store.application import LOG


def test_the_index_reads_its_topics_only_and_covers_the_log_to_its_end(db_url: str) -> None:
    with Tidings(db_url) as t:
        # given: an ending rule's operation, then entries the index ignores after it
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "c", "ping-async").svtrid
        t.end(t.accept("tester", "c", "other").svtrid, 1000, "OK")
        t.ack("tester", t.poll("tester").notification.id)
        index = DueIndex({"ping-async": 5.0}, lambda: datetime.now(UTC))
        projection = DueProjection(index)
        # when: it reads the log
        entries, upto = index.read(t)
        projection.take(entries, upto)
        # then: only acceptances and endings were read, and it stands at the log's end
        assert {e.topic for e in entries} == {"OperationAccepted", "OperationEnded"}
        assert index.position == t.last_position() == index.max_tracking_id(LOG)
        assert index.pop_due(datetime.max.replace(tzinfo=UTC), set()) == ("ending", svtrid)
        # and: nothing new, nothing read; the position stays
        assert index.read(t) == ([], index.position)
        # and: an entry processed again is refused by the tracking record, not folded
        with pytest.raises(IntegrityError):
            projection.process_event(*entries[0].as_processed())
