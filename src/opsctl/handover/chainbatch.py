"""Verifying the duty log chain on SQLite in batches, on every core.

Bringing each row across into Python costs a few µs (the per-row walk,
``chain.verify_rows``, took 4 s at a million entries). Here a batch of consecutive
entries comes back from SQLite as one row: the canonical forms (``json_array``, the
bytes the walk hashes too), the stored hashes, the prev_hash links and the seqs, each
concatenated in seq order. Python recomputes every entry's hash from its canonical form
and compares the concatenations, which checks each entry as the walk does:

- every hash recomputed: ``",".join(digests) == group_concat(hash)``; the digests are
  64 hex digits without a comma, so equal strings mean equal hashes entry by entry;
- every link: ``group_concat(prev_hash)`` is the batch's first link followed by the
  hashes of all but its last entry, and the first link is the batch before's last hash;
- seqs: exactly ``a..b`` in that order (``group_concat(seq)``);
- one algorithm per segment (a batch holding the switch to HMAC is split there), HMAC
  only with the key, and no unkeyed entry after a keyed one.

SQLite's part (most of the work) runs without the GIL, so worker threads, each with its
own connection, share the batches across the cores; the main thread joins them in order.
A batch that does not pass for any reason (a broken entry, an unusual row, an error, a
concurrent purge seen by a worker's newer snapshot) is not judged here: the caller walks
from there row by row on its own snapshot, and reports exactly as before.
"""

from __future__ import annotations

import hashlib
import hmac

from opsctl.core.readahead import Ordered
from opsctl.handover.chain import ALG_HMAC, ALG_PLAIN, FIELDS, Checked

BATCH = 5000
# A raw newline cannot occur inside the JSON (control characters are escaped), so it
# separates the entries of a batch. max(hash) is a BLOB if any hash is one (BLOBs sort
# after text): the walk compares such a hash as bytes, and calls it altered. min() and
# max() skip NULLs, so count(alg) must be every row. The JSON comes as text (decoded,
# then encoded here: cheaper than SQLite's CAST to BLOB).
SQL = ("SELECT group_concat(json_array(" + ", ".join(FIELDS) + "), char(10)), "
       "group_concat(prev_hash), group_concat(hash), group_concat(seq), max(hash), "
       "min(alg), max(alg), count(alg) FROM duty_log WHERE seq BETWEEN ? AND ?")

# (first seq, last seq, alg, the first entry's prev_hash, the last entry's hash)
Segment = tuple[int, int, str, str, str]


def check_range(cur, a: int, b: int, key: bytes | None) -> list[Segment] | None:
    """Entries a..b as one or two self-consistent segments, or None when this cannot
    vouch for them (the row-by-row walk then decides)."""
    canon, prevs, hashes, seqs, top, lo_alg, hi_alg, algs = cur.execute(
        SQL, (a, b)).fetchone()
    if not isinstance(top, str) or algs != b - a + 1:  # no rows, a BLOB hash, a NULL alg
        return None
    if lo_alg != hi_alg:
        # The chain switched to HMAC inside this batch: the two sides on their own.
        # Anything else mixed is for the walk to explain.
        if {lo_alg, hi_alg} != {ALG_PLAIN, ALG_HMAC}:
            return None
        m = cur.execute("SELECT min(seq) FROM duty_log WHERE seq BETWEEN ? AND ? "
                        "AND alg = ?", (a, b, ALG_HMAC)).fetchone()[0]
        if m is None or m == a:
            return None
        before, after = check_range(cur, a, m - 1, key), check_range(cur, m, b, key)
        if before is None or after is None or len(before) + len(after) != 2:
            return None
        return before + after
    seg = segment(a, b, lo_alg, canon, prevs, hashes, seqs, key)
    return None if seg is None else [seg]


def segment(a: int, b: int, alg, canon, prevs, hashes, seqs,
            key: bytes | None) -> Segment | None:
    """Entries a..b from the batch query's columns, if they are intact and linked to
    each other: (a, b, alg, the link of entry a, the hash of entry b)."""
    if not (isinstance(canon, str) and isinstance(prevs, str) and isinstance(hashes, str)
            and seqs == ",".join(map(str, range(a, b + 1)))):  # exactly a..b, in order
        return None
    parts = canon.encode().split(b"\n")
    n = b - a + 1
    if len(parts) != n:
        return None
    if alg == ALG_PLAIN:
        sha = hashlib.sha256
        digests = [sha(p).hexdigest() for p in parts]
    elif alg == ALG_HMAC and key is not None:
        mac = hmac.digest  # one-shot C path
        digests = [mac(key, p, "sha256").hex() for p in parts]
    else:
        return None
    joined = ",".join(digests)
    if joined != hashes:
        return None
    if n == 1:
        first_prev = prevs
    else:
        tail = "," + joined[:-65]  # the hashes of all but the last entry
        if not prevs.endswith(tail):
            return None
        first_prev = prevs[:-len(tail)]
    return a, b, alg, first_prev, digests[-1]


def verify_batches(store, last: int, state: Checked, key: bytes | None) -> Checked:
    """Extend the verified prefix ``state`` batch by batch up to ``last`` (the newest
    seq of the caller's snapshot); returns how far the batches vouch for the chain."""
    ranges = [(a, min(a + BATCH - 1, last), key)
              for a in range(state.expected, last + 1, BATCH)]
    if not ranges:
        return state
    with Ordered(store, ranges, check_range) as results:
        for segs in results:
            if not isinstance(segs, list):  # None, or the batch's error
                break
            for a, b, alg, first_prev, last_hash in segs:
                # A comma in the first link would make the split of the links
                # ambiguous (it can only come from a purge anchor's last_hash).
                if (a != state.expected or first_prev != state.prev_hash
                        or "," in first_prev or (alg == ALG_PLAIN and state.seen_hmac)):
                    return state
                state = Checked(state.first_seq, state.n + b - a + 1, last_hash, b + 1,
                                state.seen_hmac or alg == ALG_HMAC)
    return state
