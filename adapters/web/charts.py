"""Small bar charts as inline SVG, drawn on the server (the page shows the figures in a
table beside them for screen readers)."""

from dataclasses import dataclass

__all__ = ["Bar", "Chart", "bar_chart"]

_WIDTH, _HEIGHT, _GAP = 320, 120, 4


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    tone: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    width: int = _WIDTH
    height: int = _HEIGHT


def bar_chart(title: str, values: list[tuple[str, float, str]]) -> Chart:
    """A chart of `values`, each (label, value, tone); tone is a CSS class suffix
    ("ok", "bad", "plain"). The highest bar fills the height; all zero: flat bars."""
    top = max((v for _, v, _ in values), default=0) or 1
    slot = _WIDTH / max(1, len(values))
    bars = []
    for index, (label, value, tone) in enumerate(values):
        height = max(1.0, (_HEIGHT - 16) * value / top)
        bars.append(Bar(label, value, index * slot + _GAP / 2, _HEIGHT - height,
                        slot - _GAP, height, tone))  # fmt: skip
    return Chart(title, tuple(bars))
