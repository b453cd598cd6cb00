"""The pipeline summary: count and exact total per status, drawn as bars."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...core.domain.enums import DealStatus
from ...core.usecases.deal_list import PipelineRow
from ..kit.formatting import amount, short_amount
from .model import STATUS_LABELS

COLORS = {DealStatus.DRAFT: "#94a3b8", DealStatus.ACTIVE: "#0f766e",
          DealStatus.CLOSED_WON: "#2563eb", DealStatus.CLOSED_LOST: "#dc2626"}


class PipelineWidget(QWidget):
    """Count and total per status, as bars scaled to the largest total."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[PipelineRow] = []
        self.filtered = False
        self.setAccessibleName("Pipeline summary")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(96)

    def sizeHint(self) -> QSize:
        return QSize(600, 96)

    def set_rows(self, rows: list[PipelineRow], *, filtered: bool = False) -> None:
        """Show `rows`; `filtered` when they total a search or filter, not everything."""
        self.rows = rows
        self.filtered = filtered
        total = sum(r.total for r in rows)
        scope = ("Totals of the deals the search and filter show" if filtered
                 else "Totals of all live deals")
        self.setToolTip(scope + ":\n" + "\n".join(f"{STATUS_LABELS[r.status]}: {r.count:,} deals, "
                                  f"{amount(r.total)}" for r in rows) +
                        f"\nAll: {amount(Decimal(total))}")
        self.setAccessibleDescription(self.toolTip())
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = QColor(text)
        muted.setAlpha(150)
        track = QColor(text)
        track.setAlpha(25)
        if not self.rows:
            return
        top = max((r.total for r in self.rows), default=Decimal(0)) or Decimal(1)
        n = len(self.rows)
        gap = 14
        w = (self.width() - gap * (n + 1)) / n
        base = QFont(self.font())
        bold = QFont(base)
        bold.setBold(True)
        bold.setPointSizeF(base.pointSizeF() * 1.25)
        for i, r in enumerate(self.rows):
            x = gap + i * (w + gap)
            p.setFont(base)
            p.setPen(muted)
            p.drawText(QRectF(x, 6, w, 18), Qt.AlignmentFlag.AlignLeft,
                       f"{STATUS_LABELS[r.status]} · {r.count:,}")
            p.setFont(bold)
            p.setPen(text)
            p.drawText(QRectF(x, 24, w, 26), Qt.AlignmentFlag.AlignLeft, short_amount(r.total))
            bar = QRectF(x, 58, w, 12)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(track)
            p.drawRoundedRect(bar, 6, 6)
            frac = float(r.total / top) if top else 0.0
            if frac > 0:
                p.setBrush(QColor(COLORS[r.status]))
                p.drawRoundedRect(QRectF(x, 58, max(12.0, w * frac), 12), 6, 6)
        p.end()
