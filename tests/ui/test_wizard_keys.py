"""The first-run wizard from the keyboard: Enter on the last page finishes, mnemonics
are unique on each page, and a new workspace leads to the recovery kit."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWizard
from pytestqt.qtbot import QtBot
from support import Env, FakeDialogs

from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.wizard import FirstRunWizard


def mnemonics(wizard: QWizard) -> list[str]:
    page = wizard.currentPage()
    texts = [lb.text() for lb in page.findChildren(QLabel) if lb.buddy() is not None]
    texts += [b.text() for b in wizard.findChildren(QAbstractButton) if b.isVisible()]
    return [m.group(1).lower() for t in texts if (m := re.search(r"&([^&])", t))]


def test_enter_on_the_admin_page_finishes_and_mnemonics_are_unique(
        tmp_path: Path, qtbot: QtBot) -> None:
    target = tmp_path / "ws"
    wizard = FirstRunWizard(target, load_policy())
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.org.name.setText("Lakeview")
    keys = mnemonics(wizard)
    assert len(keys) == len(set(keys)), keys
    wizard.next()
    assert wizard.currentId() == FirstRunWizard.ADMIN
    keys = mnemonics(wizard)
    assert len(keys) == len(set(keys)), keys
    assert not wizard.button(QWizard.WizardButton.NextButton).isVisible()
    admin = wizard.admin
    for w, text in ((admin.first, "Lena"), (admin.last, "Okafor"),
                    (admin.email, "lena@lakeview.example"),
                    (admin.password, "a long enough password"),
                    (admin.confirm, "a long enough password")):
        w.setText(text)
    assert wizard.button(QWizard.WizardButton.FinishButton).isDefault()
    qtbot.keyClick(admin.confirm, Qt.Key.Key_Return)
    assert wizard.result() == 1 and wizard.path == target and wizard.created
    assert wizard.currentId() == FirstRunWizard.ADMIN  # never the Restore page


def test_a_new_workspace_offers_a_recovery_kit(env: Env, qtbot: QtBot,
                                               dialogs: FakeDialogs) -> None:
    w = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(w)
    dialogs.answers["Export a recovery kit"] = False
    w.offer_recovery_kit()
    assert dialogs.confirms == ["Export a recovery kit"]
    user = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(user)
    user.offer_recovery_kit()
    assert dialogs.confirms == ["Export a recovery kit"]  # only admins hold the keys
