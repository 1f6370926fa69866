"""Several daemons, one site: who runs the jobs that must run once per site.

On a shared PostgreSQL store every daemon polls its own room, but the roster reminder,
the handover reminder, escalation, sealing, the patrol check, exports and retention must
run on exactly one of them. Leadership is a session-level advisory lock
(``pg_try_advisory_lock``) held on a dedicated connection: the server releases it the
moment that connection dies (a leader killed with -9, its host gone), and the next
daemon to try — each tries at every heartbeat — takes over. On SQLite there is one
daemon per store (the state directory's lock), which is its own leader.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

log = logging.getLogger("opsctl.daemon")

# "opsctl" + "L"; the store's write lock is "opsctl" + "W" (opsctl.core.store).
LEADER_LOCK = 0x6F707363746C4C

# Jobs whose effect is site-wide: run by the leader only.
SITE_ONCE = frozenset({"escalation", "handover-reminder", "not-relieved", "roster-reminder", "seal",
                       "patrol-check", "duty-export", "retention"})


class Leadership:
    def __init__(self, store):
        self.store = store
        self.shared = not store.is_sqlite
        self._conn = None
        self._mutex = threading.Lock()
        self.leader = not self.shared

    @property
    def role(self) -> str:
        if not self.shared:
            return "single"
        return "leader" if self.leader else "follower"

    def check(self) -> bool:
        """Keep, lose or try to take the lead; True when this daemon leads."""
        if not self.shared:
            return True
        with self._mutex:
            was = self.leader
            if self._conn is not None:
                try:
                    self._conn.execute(sa.text("SELECT 1"))
                except Exception as exc:  # noqa: BLE001 — any failure: the lock is gone
                    log.warning("leadership lost: its database connection failed (%s)",
                                " ".join(str(exc).split())[:200])
                    self._drop()
            if self._conn is None:
                self._try_take()
            if self.leader != was:
                log.warning("this daemon is now the site's %s for %s",
                            self.role, ", ".join(sorted(SITE_ONCE)))
            return self.leader

    def _try_take(self) -> None:
        try:
            conn = self.store.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
        except Exception as exc:  # noqa: BLE001 — the database is down: a follower
            log.info("leadership: cannot reach the store (%s)", " ".join(str(exc).split())[:200])
            self.leader = False
            return
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": LEADER_LOCK}).scalar()
        except Exception:  # noqa: BLE001
            got = False
        if got:
            self._conn, self.leader = conn, True
        else:
            conn.close()
            self.leader = False

    def _drop(self) -> None:
        conn, self._conn, self.leader = self._conn, None, False
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # noqa: BLE001
            pass

    def release(self) -> None:
        """At a clean stop: hand the lead over at once (closing the connection frees it)."""
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"),
                                       {"k": LEADER_LOCK})
                    self._conn.close()
                except Exception:  # noqa: BLE001
                    pass
                self._conn = None
            self.leader = not self.shared
