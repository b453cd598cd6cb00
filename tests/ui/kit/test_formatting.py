"""Amounts are never cut, and abbreviations are right in the user's locale."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QRect
from PySide6.QtWidgets import QStyleOptionViewItem, QTableView
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.model import DealsModel
from closeplan_desktop.ui.kit.formatting import amount, short_amount
from closeplan_desktop.ui.kit.widgets import AmountDelegate


@pytest.mark.parametrize(("value", "locale", "text"), [
    ("100000300000000", "en_US", "$100T"),  # once "$100,000.3B"
    ("1234567890123.45", "en_US", "$1.2T"),
    ("1234567.89", "en_US", "$1.2M"),
    ("940500", "en_US", "$940.5K"),
    ("87", "en_US", "$87"),
    ("-1500000", "en_US", "-$1.5M"),
    ("1234567.89", "de_DE", "1,2\xa0Mio.\xa0$"),
    ("940500", "de_DE", "940.500\xa0$"),  # no German abbreviation: grouped, whole
])
def test_short_amounts_in_the_locale(value: str, locale: str, text: str) -> None:
    assert short_amount(Decimal(value), locale) == text


def test_the_full_amount_is_never_cut() -> None:
    assert amount(Decimal("1234567890123.45")) == "$1,234,567,890,123.45"


def test_a_narrow_amount_cell_abbreviates_instead_of_cutting(env: Env, qtbot: QtBot) -> None:
    deals.create_deal(env.user, "Huge", "ACTIVE", "1234567890123.45", None)
    model = DealsModel(lambda: env.user)
    model.reload()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    index = model.index(0, 2)
    assert model.data(index, 3) == "$1,234,567,890,123.45"  # the tooltip: exact
    delegate = AmountDelegate(view)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    for width, shown in ((400, "$1,234,567,890,123.45"), (80, "$1.2T")):
        option.rect = QRect(0, 0, width, 28)
        delegate.initStyleOption(option, index)
        assert option.text == shown
    assert not model.data(QModelIndex(), 3)


def test_the_self_test_checks_babels_locale_data(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    from babel import localedata

    from closeplan_desktop.core.domain.errors import ClosePlanError
    from closeplan_desktop.ui.kit.formatting import check_locale_data

    assert "$1.2M" in check_locale_data()
    # A frozen app without the data files (what the spec must bundle) fails in words.
    monkeypatch.setattr(localedata, "_dirname", str(tmp_path))
    monkeypatch.setattr(localedata, "_cache", {})
    monkeypatch.setattr(localedata, "_dict_cache", {})
    with pytest.raises(ClosePlanError, match="Babel's locale data"):
        check_locale_data()
