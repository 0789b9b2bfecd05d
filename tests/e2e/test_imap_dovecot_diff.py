"""Wharf's IMAP answers compared with Dovecot's, transcript by transcript.

Each transcript in tests/imapdiff/transcripts/ is replayed against a fresh Wharf (the
`wharf` fixture: empty accounts alice and bob) and its normalised answers are compared
with the ones recorded from Dovecot in tests/imapdiff/expected/. Every difference fails
the test unless tests/imapdiff/allow.txt lists it (a deliberate or harmless difference,
or a known bug with its issue number). See docs/imap-dovecot-diff.md.

IMAPDIFF_REPORT=path writes every difference, allowed or not, to that file (the list the
allow-list is reviewed against). IMAPDIFF_STRICT=1 also fails on allow-list entries whose
difference has gone (a fixed bug whose entry should be removed).
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "imapdiff"))
import imapdiff  # noqa: E402

TRANSCRIPTS = imapdiff.transcripts()
ALLOW = imapdiff.load_allow()


def test_allow_list_names_existing_steps():
    """Every allow-list entry names a transcript line that holds the step it quotes, so
    an edited transcript cannot silently re-target an entry."""
    assert imapdiff.check_allow_keys(ALLOW) == []


def test_every_transcript_is_recorded():
    missing = [p.name for p in TRANSCRIPTS if not (imapdiff.EXPECTED / (p.stem + ".txt")).exists()]
    assert missing == [], "run scripts/imapdiff-refresh-dovecot.sh"
    assert len(TRANSCRIPTS) >= 10


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript_matches_dovecot(wharf, path):
    answers = imapdiff.replay(path, "127.0.0.1", wharf.port("imap"))
    expected = (imapdiff.EXPECTED / (path.stem + ".txt")).read_text(encoding="utf-8")
    diffs = imapdiff.compare(path.name, expected, answers)
    report = os.environ.get("IMAPDIFF_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as f:
            for d in diffs:
                e = ALLOW.get(d.where())
                f.write(f"[{e.kind if e else 'NOT ALLOWED'}] {d}\n\n")
    unexplained = [d for d in diffs if d.where() not in ALLOW]
    assert not unexplained, "differences from Dovecot not in tests/imapdiff/allow.txt:\n\n" + "\n\n".join(
        str(d) for d in unexplained
    )
    if os.environ.get("IMAPDIFF_STRICT") == "1":
        differing = {d.where() for d in diffs}
        stale = [w for w in ALLOW if w.startswith(path.name + ":") and w not in differing]
        assert not stale, f"allow.txt entries that no longer differ (remove them): {stale}"
