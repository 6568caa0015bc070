"""The regulator's charts drawn server-side with pygal as inline SVG (docs/decisions.md).

pygal would embed its own JavaScript (from a CDN) and a `<style>` element; the page's
Content-Security-Policy (`script-src 'self'; style-src 'self'`) forbids both, and nothing may
be fetched from elsewhere. So charts are rendered with `js=[]` and the SVG is cleaned: no
script, no style element or attribute, no comments (pygal's carry its web address), no
tooltip overlay (it needs the script), no element ids (several charts share a page). The
look comes from `/static/charts.css`, served by Linli, which styles pygal's classes.

Texts are translated in the locale of the request; numbers are shown with two decimals."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pygal
from babel.dates import format_skeleton
from markupsafe import Markup
from pygal.style import Style

from linli.i18n import N_, babel_locale, gettext
from linli.supervision.chart_figures import AlertsByDay, ComplaintTrend, PriceIndex

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG)
ET.register_namespace("xlink", XLINK)

# The sizes pygal lays the chart out with; static/charts.css was rendered from this style.
STYLE = Style(
    font_family='system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif',
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#888888",
    title_font_size=16,
    legend_font_size=13,
    label_font_size=11,
    major_label_font_size=11,
)
COMMON = {
    "style": STYLE,
    "js": [],
    "css": [],
    "disable_xml_declaration": True,
    "explicit_size": False,
    "width": 900,
    "height": 420,
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 3,
    "truncate_legend": -1,
    "x_label_rotation": 40,
    "show_minor_x_labels": False,
    "margin": 16,
    "print_values": False,
    "tooltip_border_radius": 0,
}


def day_labels(days: Sequence[date]) -> list[str]:
    locale = babel_locale()
    return [format_skeleton("MMMd", day, locale=locale) for day in days]


def major_every(days: Sequence[date]) -> list[str]:
    """At most about 15 labelled days on the x axis, whatever the span."""
    labels = day_labels(days)
    step = max(1, len(labels) // 15)
    return labels[::step]


def _two_decimals(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _numbers(values: Sequence[Decimal | None]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def clean(svg: str, css_class: str) -> Markup:
    """pygal's SVG without script, styles, comments, tooltips or ids (see the module note)."""
    root = ET.fromstring(svg)  # noqa: S314 - our own output, no external entities
    for parent in root.iter():
        for child in list(parent):
            tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
            classes = child.get("class", "").split()
            if tag in ("script", "style") or "tooltip-overlay" in classes:
                parent.remove(child)
    for element in root.iter():
        for name in ("style", "id", "onclick", "onmouseover", "onmouseout"):
            element.attrib.pop(name, None)
    root.set("role", "img")
    root.set("class", f"{root.get('class', '')} linli-chart {css_class}".strip())
    # ElementTree writes no comments it did not keep, and escapes every text and attribute.
    return Markup(ET.tostring(root, encoding="unicode"))  # noqa: S704 - escaped by ElementTree


def _chart(kind: Any, title: str, days: Sequence[date]) -> Any:
    chart = kind(**COMMON, title=title, value_formatter=_two_decimals)
    chart.x_labels = day_labels(days)
    chart.x_labels_major = major_every(days)
    return chart


def alerts_chart(figure: AlertsByDay) -> Markup:
    chart = _chart(pygal.StackedBar, gettext(N_("Alerts raised by rule and day")), figure.days)
    # Rule titles are long: one legend row each, the chart taller by as much.
    chart.legend_at_bottom_columns = 1
    chart.height = 380 + 22 * max(1, len(figure.series))
    chart.value_formatter = lambda v: "" if v is None else f"{int(v)}"
    chart.y_title = gettext(N_("Alerts"))
    # Whole alerts on the y axis: pygal would otherwise pick fractional steps.
    highest = max(
        (sum(day) for day in zip(*(s.counts for s in figure.series), strict=True)), default=0
    )
    step = max(1, -(-highest // 8))
    chart.y_labels = list(range(0, max(highest, 1) + step, step))
    for series in figure.series:
        chart.add(gettext(series.title), series.counts)
    if not figure.series:
        chart.add(gettext(N_("No alerts")), [0] * len(figure.days))
    return clean(chart.render(is_unicode=True), "chart-alerts")


def complaint_chart(figure: ComplaintTrend) -> Markup:
    chart = _chart(pygal.Line, gettext(N_("Complaint rate")), figure.days)
    chart.y_title = gettext(N_("Complaints per 100 paid orders, in percent"))
    chart.add(
        gettext(N_("Rate over the trailing %(n)s days")) % {"n": figure.window_days},
        _numbers(figure.rates),
        allow_interruptions=True,
    )
    chart.add(
        gettext(N_("Threshold of the complaint-rate rule")),
        [float(figure.threshold_pct)] * len(figure.days),
        show_dots=False,
    )
    return clean(chart.render(is_unicode=True), "chart-complaints")


def price_index_chart(figure: PriceIndex) -> Markup:
    chart = _chart(pygal.Line, gettext(N_("Price index of necessities")), figure.days)
    chart.y_title = gettext(N_("Index (base date = 100)"))
    values = _numbers(figure.values)
    known = [v for v in values if v is not None]
    top = max([*known, 100.0]) * 1.05
    bottom = min([*known, 100.0]) * 0.95
    chart.range = (bottom, top)
    # The emergency window: a filled band, up to the top on the days a declaration is in
    # force and down to the bottom elsewhere (pygal does not fill an interrupted series).
    chart.add(
        gettext(N_("Emergency declaration in force")),
        [top if flagged else bottom for flagged in figure.in_emergency],
        fill=True,
        show_dots=False,
    )
    chart.add(gettext(N_("Index")), values, allow_interruptions=True)
    chart.add(
        gettext(N_("Base (100)")),
        [100.0] * len(figure.days),
        show_dots=False,
    )
    return clean(chart.render(is_unicode=True), "chart-prices")
