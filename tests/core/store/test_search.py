"""Search plans (core/search.py): the walk's title test agrees with FTS5 on every title it
decides, and every plan (walk, sort, index) pages through exactly the rows FTS5 matches,
in the list's order, with the same counts."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Env, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.store import search
from closeplan_desktop.core.usecases import deal_import, deal_list, deals
from closeplan_desktop.core.usecases.deal_list import SORT_COLUMNS, DealQuery

# Letters and digits of ASCII and beyond, separators of ASCII and beyond (the en dash and
# curly apostrophe of typed titles, a no-break space), and the underscore, which \w
# counts as a word character and unicode61 does not.
ALPHABET = "abcmnoxyzABCMXZ0129 -–'’._,()/&_\u00a0éÉßÅΩ中ﬁ"
WORDS = ["a", "b", "c", "m", "x", "ab", "ca", "mo", "zz", "0", "12", "abc", "cab", "mon",
         "xyz", "a_b", "é", "e", "ss", "fi", "a b", "m c"]


@pytest.fixture(scope="module")
def titles() -> list[str]:
    rng = random.Random(5)
    out = ["Infusion pump replacement – St. Mary's Medical Center (phase 3)",
           "CT scanner lease – Eastside Dialysis Center", "Straße-Klinik Münster",
           "Hôpital Saint-Éloi", "ﬁnance office", "a_b c", "MONitor 12b"]
    for _ in range(150):
        out.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))).strip()
                   or "x")
    return out


@pytest.fixture
def searched(env: Env, titles: list[str]) -> Env:
    """The tenant's deals: every title three times, in every status, some deleted, some
    of them another user's; plus a deal of the same titles in no other tenant."""
    rows = [{"title": t, "status": list(DealStatus)[i % len(DealStatus)],
             "value": Decimal(i % 17) * 100, "phi": None}
            for i, t in enumerate(titles * 3)]
    deal_import.import_deals(env.admin, rows[: len(rows) // 2])
    deal_import.import_deals(env.user, rows[len(rows) // 2:])
    for d in deal_list.list_deals(env.admin, DealQuery(sort="title"), limit=500)[::9]:
        deals.delete_deal(env.admin, d.id)
    return env


def fts_ids(env: Env, text: str) -> set[str]:
    match = search.fts_query(text)
    return {r[0] for r in sql(env.path, "SELECT id FROM deals WHERE rowid IN (SELECT rowid "
                                        "FROM deals_fts WHERE deals_fts MATCH ?)", (match,))}


def test_title_match_agrees_with_fts5(searched: Env, titles: list[str]) -> None:
    decided = 0
    for word in WORDS:
        simple = search.simple_words(word)
        if simple is None:
            assert not word.isascii() or "_" in word
            continue
        matched = {r[0] for r in sql(searched.path, "SELECT title FROM deals WHERE rowid IN "
                                     "(SELECT rowid FROM deals_fts WHERE deals_fts MATCH ?)",
                                     (search.fts_query(word),))}
        for title in titles:
            verdict = search.title_match(title, simple)
            if verdict is None:
                assert any(ord(c) > 127 and c.isalnum() for c in title)
                continue
            decided += 1
            assert verdict == (title in matched), (word, title)
    assert decided > 500


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(alphabet=ALPHABET, min_size=1, max_size=30),
       word=st.text(alphabet="abcmxz012", min_size=1, max_size=3))
def test_title_match_agrees_with_fts5_property(title: str, word: str) -> None:
    """On an in-memory FTS5 table made like deals_fts (same SQLite build, tokenizer and
    options), every title title_match decides is decided as FTS5 decides it."""
    import sqlcipher3

    from closeplan_desktop.core.store import db

    conn = sqlcipher3.connect(":memory:")
    db.configure(conn)
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, tokenize='unicode61 "
                 "remove_diacritics 2', prefix='2')")
    conn.execute("INSERT INTO t(rowid, title) VALUES (1, ?)", (title,))
    fts = conn.execute("SELECT count(*) FROM t WHERE t MATCH ?",
                       (search.fts_query(word),)).fetchone()[0]
    via_sql = conn.execute(f"SELECT {search.MATCH_FUNCTION}(?, ?)",
                           (title, search.simple_words(word))).fetchone()[0]
    conn.close()
    verdict = search.title_match(title, search.simple_words(word) or "")
    assert via_sql == verdict
    if verdict is not None:
        assert verdict == fts


def _forced(monkeypatch: pytest.MonkeyPatch, plan: str) -> None:
    def choose(s: Any, query: DealQuery, *, walked: bool = False) -> str:
        # A walk only for searches the title test decides (as _search_plan chooses).
        if plan == "walk" and (walked or search.simple_words(query.search) is None):
            return "index"
        return plan

    monkeypatch.setattr(deal_list, "search_plan", choose)
    monkeypatch.setattr(deal_list, "WALK_ROWS", 23)  # small: the walk falls back often


def _sort_key(d: deal_list.DealSummary, sort: str) -> Any:
    return deal_list.sort_value(d, sort)


@pytest.mark.parametrize("plan", ["walk", "sort", "index"])
def test_every_plan_pages_through_exactly_the_matches(
        searched: Env, plan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = {d.id: d for deleted in (False, True) for d in deal_list.list_deals(
        searched.admin, DealQuery(deleted=deleted, sort="title"), limit=500)}
    assert len(everything) == 157 * 3
    _forced(monkeypatch, plan)
    rng = random.Random(plan)
    for word in ["c", "a", "mo", "x", "12", "abc", "é", "a_b", "m c", "infusion lease", "zq"]:
        matches = fts_ids(searched, word)
        for _ in range(3):
            query = DealQuery(search=word, sort=rng.choice(SORT_COLUMNS),
                              descending=rng.random() < 0.5, deleted=rng.random() < 0.3,
                              status=rng.choice([None, DealStatus.ACTIVE, DealStatus.CLOSED_WON]))
            expected = sorted(
                (d for i, d in everything.items() if i in matches
                 and (d.deleted_at is not None) == query.deleted
                 and (query.status is None or d.status == query.status)),
                key=lambda d, q=query: (_sort_key(d, q.sort), d.id), reverse=query.descending)
            got: list[deal_list.DealSummary] = []
            while True:  # the deals model's paging: offset = rows shown, keyset behind it
                page = deal_list.list_deals(searched.admin, query, offset=len(got), limit=7)
                got += page
                if len(page) < 7:
                    break
            assert [d.id for d in got] == [d.id for d in expected], (word, query)
            for at_most in (0, 3, len(expected), len(expected) + 5):
                assert deal_list.count_deals(searched.admin, query, at_most=at_most) == \
                    min(len(expected), at_most + 1)
            assert deal_list.count_deals(searched.admin, query) == len(expected)


def test_plan_choice_follows_the_share_of_matches(searched: Env) -> None:
    from closeplan_desktop.core.store.db import read_session

    with read_session(searched.ws.engine) as s:
        assert deal_list.search_plan(s, DealQuery(search="c")) == "walk"   # one letter
        assert deal_list.search_plan(s, DealQuery(search="é")) != "walk"   # FTS5 decides
        assert deal_list.search_plan(s, DealQuery(search="infusion")) == "sort"  # few
        assert deal_list.search_plan(s, DealQuery(search="c"), walked=True) == "sort"
