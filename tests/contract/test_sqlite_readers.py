"""The SQLite adapter's reading connections live as long as the threads that use them: a
thread pool retires idle threads and starts new ones, and each used to leave its connection,
page cache and memory map open for the life of the process."""

from __future__ import annotations

import gc
import sqlite3
import threading

from relevo.adapters.sqlite.database import Database


def closed(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_a_threads_reader_is_closed_when_the_thread_ends(tmp_path) -> None:
    database = Database(tmp_path / "one.sqlite3", ["CREATE TABLE t (a INTEGER)"], "normal")
    used: list[sqlite3.Connection] = []

    def read() -> None:
        with database.reading() as connection:
            assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
            used.append(connection)

    for _ in range(3):  # thread after thread, as a pool retiring idle ones does
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    gc.collect()
    assert len(set(map(id, used))) == 24 and all(closed(c) for c in used)
    read()  # this thread's reader stays open while the thread lives
    assert not closed(used[-1])
    database.close()
    assert closed(used[-1])
