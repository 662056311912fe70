"""Looking after the cache as a whole: its size, clearing, checking and rebuilding a damaged file."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from topoact.cache.connection import process_lock
from topoact.cache.errors import CacheCorruptError, CacheError
from topoact.cache.files import VectorFiles
from topoact.cache.index import RUNS
from topoact.cache.schema import check_schema, user_tables


class Maintenance(VectorFiles):
    """Size, clear, check and rebuild (a part of :class:`~topoact.cache.Store`)."""

    def size_bytes(self) -> int:
        """Return the size on disk of the cache file, its write-ahead log, vector files and own shards, in bytes."""
        total = 0
        vector_files = list(self.vector_dir.iterdir()) if self.vector_dir.is_dir() else []
        shards = [file for file in self.shard_dir.rglob("*") if file.is_file()] if self.shard_dir.is_dir() else []
        for path in [self.path, self.path.with_name(self.path.name + ".wal"), *vector_files, *shards]:
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def clear(self, kind: str | None = None) -> int:
        """Remove cached entries and return how many were removed.

        Parameters
        ----------
        kind : str, optional
            Only entries of this kind; ``"runs"`` removes the run records (their space is
            reused by later writes). None removes every entry and every run record in one
            transaction and gives the space back to the file system.

        Returns
        -------
        int
            Number of entries (and run records) removed.
        """
        if not self.path.exists():
            return 0
        if kind is None:
            return self._clear_all()
        files: list[Path] = []
        with self._writing() as con:
            removed = 0
            if kind == RUNS:
                ((removed,),) = con.execute("SELECT count(*) FROM runs").fetchall()
                con.execute("DELETE FROM runs")
            else:
                rows = con.execute("SELECT kind, key FROM entries WHERE kind = ?", [kind]).fetchall()
                for entry_kind, key in rows:
                    files += self._drop_entry(con, entry_kind, key)
                removed = len(rows)
        self._delete_files(files)
        return removed

    def _clear_all(self) -> int:
        """Drop every table, checkpoint (DuckDB truncates the now free file) and recreate the schema.

        DuckDB never moves blocks, so dropping tables leaves the file as large as before
        unless the blocks at its end become free; dropping *all* tables frees every block.
        The file lock is held throughout, so no other process sees the intermediate state;
        a crash after the first commit leaves an empty database, which the next write
        initialises.
        """
        with self._writing() as con:
            ((n_entries,),) = con.execute("SELECT count(*) FROM entries").fetchall()
            ((n_runs,),) = con.execute("SELECT count(*) FROM runs").fetchall()
            for table_name in sorted(user_tables(con)):
                con.execute(f'DROP TABLE "{table_name}"')
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            check_schema(con, self.path, create=True)
            con.execute("BEGIN TRANSACTION")  # _writing commits this empty transaction
        if self.vector_dir.is_dir():  # every entry is gone, so is every vector file
            for file in self.vector_dir.iterdir():
                file.unlink(missing_ok=True)
        shutil.rmtree(self.shard_dir, ignore_errors=True)  # and every shard the cache owned
        return int(n_entries + n_runs)

    def check(self) -> None:
        """Open the file once and verify it is a cache of this schema version.

        Creates the cache tables when the store is writable and the file is new.

        Raises
        ------
        CacheCorruptError
            The file is not a DuckDB database, is damaged, or has another schema version.
        CacheLockedError
            Another process held the file past ``lock_timeout``.
        """
        if self.read_only:
            with self._reading():
                return
        with self._writing():
            return

    def rebuild(self) -> Path | None:
        """Move the current file aside and start an empty cache.

        The old file (with its write-ahead log, vector and shard folders) is renamed to
        ``<name>.corrupt-<YYYYmmdd-HHMMSS>`` next to it; nothing is deleted.

        Returns
        -------
        Path or None
            Where the old file went, or None when there was none.

        Raises
        ------
        CacheLockedError
            Another process is using a (readable) file; it is left alone.
        """
        if self._closed:
            raise CacheError(f"{self!r} is closed")
        if self.read_only:
            raise CacheError(f"{self!r} is read-only; open it with read_only=False to rebuild")
        with process_lock(self.path):
            moved = None
            if self.path.exists():
                try:  # make sure no other process is using a healthy file
                    self._open(write=True).close()
                except CacheCorruptError:
                    pass
                stamp = time.strftime("%Y%m%d-%H%M%S")
                target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
                n = 1
                while target.exists():
                    n += 1
                    target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
                wal = self.path.with_name(self.path.name + ".wal")
                os.replace(self.path, target)
                if wal.exists():
                    os.replace(wal, target.with_name(target.name + ".wal"))
                if self.vector_dir.exists():
                    os.replace(self.vector_dir, target.with_name(target.name + ".vectors"))
                if self.shard_dir.exists():
                    os.replace(self.shard_dir, target.with_name(target.name + ".shards"))
                moved = target
        self.check()
        return moved
