"""Every event kind, the desktop's and the server's own, reads as words in the audit."""

from __future__ import annotations

from closeplan_desktop.core.domain.enums import SecurityEventType, ServerEventType
from closeplan_desktop.ui.audit.words import event_text


def test_every_event_kind_has_words_and_unknown_codes_stay_as_they_are() -> None:
    kinds = [*SecurityEventType, *ServerEventType]
    texts = [event_text(k.value) for k in kinds]
    assert all(t and t != k.value for t, k in zip(texts, kinds, strict=True))
    assert len(set(texts)) == len(texts)  # no two kinds read the same
    assert event_text(ServerEventType.DEVICE_REVOKED.value) == "Laptop revoked"
    assert event_text("SOMETHING_NEW") == "SOMETHING_NEW"


def test_the_server_and_the_desktop_never_share_a_kind() -> None:
    assert not {k.value for k in SecurityEventType} & {k.value for k in ServerEventType}
