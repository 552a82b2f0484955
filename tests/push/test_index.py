"""The due index, an eventsourcing projection's in-memory view, driven by the runner
every projection of the log has (`Catchup`): it reads only the topics it folds, and
still passes every position of the log."""

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError
from tidings.adapters import Tidings
from tidings.adapters.push.index import DueIndex, DueProjection, ScannedLog
from tidings.adapters.store.environment import LOG
from tidings.adapters.store.followers import Catchup


def test_the_index_reads_its_topics_only_and_covers_the_log_to_its_end(db_url: str) -> None:
    with Tidings(db_url) as t:
        # given: an ending rule's operation, then entries the index ignores after it
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "c", "ping-async").svtrid
        t.end(t.accept("tester", "c", "other").svtrid, 1000, "OK")
        t.ack("tester", t.poll("tester").notification.id)
        index = DueIndex({"ping-async": 5.0}, lambda: datetime.now(UTC))
        projection = DueProjection(index)
        runner, log = Catchup(projection, LOG), ScannedLog(t.store)
        # when: it reads the log
        page = runner.read(log)
        runner.take(page)
        # then: only acceptances and endings were read, and it stands at the log's end
        assert {e.as_processed()[0].event.__struct_config__.tag for e in page.entries} == {
            "OperationAccepted",
            "OperationEnded",
        }
        assert runner.position == page.upto == t.last_position()
        assert index.max_tracking_id(LOG) == page.entries[-1].position
        assert index.pop_due(datetime.max.replace(tzinfo=UTC), set()) == ("ending", svtrid)
        # and: nothing new, nothing read; the position stays
        again = runner.read(log)
        assert (again.entries, again.upto, again.full) == ([], runner.position, False)
        # and: an entry processed again is refused by the tracking record, not folded
        with pytest.raises(IntegrityError):
            projection.process_event(*page.entries[0].as_processed())
        # and: a runner started later stands where the view does
        assert Catchup(projection, LOG).position == index.max_tracking_id(LOG)
