"""Signing secrets stay out of the event log: the log names them by id, the store keeps
them beside it, and pushes are still signed with them."""

from tidings.adapters.store.secrets import Secrets
from tidings.domain.account import secret_id

from tests.store.opened import opened


def test_no_log_entry_carries_a_signing_secret_and_the_store_finds_each_by_id(
    db_url: str,
) -> None:
    with opened(db_url) as (t, store, _):
        first = t.open_account("tester", "pw").signing_secret
        second = t.rotate_secret("tester")
        rows = store.recorder.scan(1, store.max_position() + 1)
        assert len(rows) == 2
        for _, _, _, _, state in rows:
            assert first.encode() not in state
            assert second.encode() not in state
        secrets = Secrets(store)
        assert secrets.find(secret_id(first)) == first
        assert secrets.find(secret_id(second)) == second
    with opened(db_url) as (_, store, _):
        # Another process (a fresh store, nothing cached) finds them too.
        assert Secrets(store).find(secret_id(second)) == second


def test_a_secret_forgotten_is_not_found_and_an_unknown_id_is_none(db_url: str) -> None:
    with opened(db_url) as (_, store, _):
        secrets = Secrets(store)
        assert secrets.find("sha256:unknown") is None  # before the table exists, too
        secrets.keep("sha256:kept", "whsec_a-secret-to-forget")
        secrets.forget("sha256:kept")
        assert secrets.find("sha256:kept") is None
