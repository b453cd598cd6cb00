"""Search over deal titles, with FTS5's meaning and a plan bound by an index.

A search is up to 16 words; a title matches when every word starts one of its tokens, as
FTS5's unicode61 tokenizer splits and folds it (runs of letters and digits, lower case,
diacritics removed). Which rows match is always what ``deals_fts`` says. How they are
found depends on how many match, because a list wants its first page in sort order:

- **walk**: read the list's sort index in order and test each title, until a page is
  full. Cheap when matches are common (a short prefix: a few hundred rows for a page),
  and it never builds the set of every match. `title_match` decides a title that holds
  no letter or digit beyond ASCII, exactly as unicode61 would; any other title is asked
  of ``deals_fts`` (`MATCH_SQL`).
- **fts**: read the matches from ``deals_fts`` and sort them. Cheap when they are few.
- **index**: walk the sort index against the set of matches (SQLite's own plan). For the
  middle ground, where a walk would read too far and the matches are too many to sort.

The deals use cases choose (``core.deals``); this module holds the matching.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.sql.elements import TextClause

MAX_WORDS = 16
MATCH_FUNCTION = "closeplan_title_match"
_WORD = re.compile(r"\w+")
_SIMPLE_WORD = re.compile(r"[a-z0-9]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def words(search: str) -> list[str]:
    """The words of a search, as typed."""
    return _WORD.findall(search or "")[:MAX_WORDS]


def fts_query(search: str) -> str | None:
    """A safe FTS5 query: every word a quoted prefix term (no FTS syntax gets through);
    None when there is nothing to search for."""
    found = words(search)
    if not found:
        return None
    return " ".join(f'"{w}"*' for w in found)


def simple_words(search: str) -> str | None:
    """The search as `title_match` takes it (lower-case words, space-separated), or None
    when a word holds anything but ASCII letters and digits: unicode61 folds those in
    ways only FTS5 itself can decide."""
    found = [w.lower() for w in words(search)]
    if not found or not all(_SIMPLE_WORD.fullmatch(w) for w in found):
        return None
    return " ".join(found)


def title_match(title: object, search_words: str) -> int | None:
    """1 when every word of `search_words` (from `simple_words`) starts a token of
    `title`, 0 when not; None when the title holds a letter or digit beyond ASCII, whose
    folding only FTS5 decides. Registered on every connection as MATCH_FUNCTION."""
    if not isinstance(title, str):
        return 0
    if not title.isascii():
        for ch in _NON_ASCII.findall(title):
            kind = unicodedata.category(ch)
            if kind[0] in "LN" or kind == "Co":
                return None
    lowered = title.lower()
    return 1 if all(p.search(lowered) for p in _patterns(search_words)) else 0


@lru_cache(maxsize=64)
def _patterns(search_words: str) -> tuple[re.Pattern[str], ...]:
    # A token starts where no ASCII letter or digit precedes (other characters separate).
    return tuple(re.compile(r"(?<![a-z0-9])" + re.escape(w)) for w in search_words.split())


# The walk's test of one row: title_match where it can decide, FTS5 where it cannot (the
# set of matches is then built once, on the first such title).
MATCH_SQL = (f"coalesce({MATCH_FUNCTION}(deals.title, :words), deals.rowid IN "  # noqa: S608
             "(SELECT rowid FROM deals_fts WHERE deals_fts MATCH :fts))")


def walk_condition(search: str) -> TextClause | None:
    """The walk's per-row test for `search`, or None when only FTS5 can decide it."""
    simple = simple_words(search)
    if simple is None:
        return None
    return text(MATCH_SQL).bindparams(words=simple, fts=fts_query(search))


def in_matches(search: str) -> TextClause:
    """``deals.rowid`` among the matches of `search` (a non-empty search)."""
    return text("deals.rowid IN (SELECT rowid FROM deals_fts WHERE deals_fts MATCH :fts)"
                ).bindparams(fts=fts_query(search))
