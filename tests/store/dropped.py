"""Connections that drop: the server ends those a store's pool holds."""

from contextlib import ExitStack

import psycopg
from tidings.adapters.store.application import Store

__all__ = ["terminate_connections"]


def terminate_connections(store: Store, url: str) -> list[int]:
    """End, on the server, every connection the store's pool holds; their process ids."""
    datastore = store.recorder.datastore
    with ExitStack() as borrowed:
        size = datastore.pool.get_stats()["pool_size"]
        pids = [
            borrowed.enter_context(datastore.get_connection()).info.backend_pid for _ in range(size)
        ]
    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as admin:
        for pid in pids:
            # Waits (up to 10 s) until the server process is gone.
            ended = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
            assert ended == (True,), f"connection {pid} outlived pg_terminate_backend"
    return pids
