"""Render a Report as one self-contained HTML page (inline CSS and images, no scripts)."""

from __future__ import annotations

from html import escape

from mathguard.report.display import fmt_number, is_scalar
from mathguard.report.jsonable import jsonable
from mathguard.report.finding import Finding, Severity
from mathguard.report.shape import ReportShape
from mathguard.report.table import Table


_COLORS = {
    Severity.INFO: "#5b7083",
    Severity.LOW: "#2f7d32",
    Severity.MEDIUM: "#b58100",
    Severity.HIGH: "#d0510f",
    Severity.CRITICAL: "#b00020",
}

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2733;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #e3e8ee;padding-bottom:.3rem;margin-top:2.5rem}
h3{margin-top:1.6rem}
.sev{display:inline-block;color:#fff;border-radius:4px;padding:0 .45rem;font-size:.8rem;
font-weight:600;text-transform:uppercase;min-width:4.5rem;text-align:center}
.finding{border:1px solid #e3e8ee;border-radius:6px;padding:.6rem .9rem;margin:.6rem 0;background:#fbfcfd}
.finding .title{font-weight:600}.finding .fix{color:#1b5e20}.finding .ev{color:#5b7083;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
.scroll{overflow-x:auto;max-width:100%}details.nested{margin:.2rem 0}details.nested>summary{cursor:pointer}
.finding table{font-size:.85rem}
td,th{border-bottom:1px solid #e3e8ee;padding:.25rem .6rem;text-align:left;vertical-align:top}
td.v{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-word}
td,th{overflow-wrap:break-word}
figure{margin:1rem 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #e3e8ee}figcaption{font-size:.85rem;color:#5b7083;max-width:640px}
.summary{background:#f1f5f9;border-radius:6px;padding:.6rem .9rem}
nav ul{columns:2}
table.grid th{background:#f1f5f9}table.grid caption{text-align:left;font-weight:600;padding:.3rem 0}
.note{font-size:.85rem;color:#5b7083;margin-top:0}
"""


def _badge(sev: Severity) -> str:
    return f'<span class="sev" style="background:{_COLORS[sev]}">{sev}</span>'


class _Ids:
    """Element ids unique within one page: a repeated finding id or section title gets -2, -3, …"""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, base: str) -> str:
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in base.lower())
        ident, k = slug, 1
        while ident in self.used:
            k += 1
            ident = f"{slug}-{k}"
        self.used.add(ident)
        return ident


def _finding(f: Finding, ids: _Ids) -> str:
    ev = ", ".join(f"{escape(str(k))}={escape(fmt_number(v))}" for k, v in list(f.evidence.items())[:10]
                   if not isinstance(v, (dict, list, tuple)))
    parts = [
        f'<div class="finding" id="{escape(ids.take(f.id))}">{_badge(f.severity)} '
        f'<span class="title">{escape(f.title)}</span> <code>{escape(f.id)}</code>'
    ]
    if f.detail:
        parts.append(f"<div>{escape(f.detail)}</div>")
    if f.fix:
        parts.append(f'<div class="fix"><b>Fix:</b> {escape(f.fix)}</div>')
    if ev:
        parts.append(f'<div class="ev">{ev}</div>')
    parts.append("</div>")
    return "".join(parts)


def _cell(v: object) -> str:
    return escape(fmt_number(v)) if is_scalar(v) else _value(v)


#: A list of scalars longer than this, or a mapping of more entries, opens on request.
INLINE = 12


def _value(v: object) -> str:
    """Any metric value, readable in full: scalars as text, records as tables, long or deep ones collapsible."""
    v = jsonable(v) if not isinstance(v, (dict, list, tuple)) else v
    if is_scalar(v):
        return escape(fmt_number(v))
    if isinstance(v, dict):
        if not v:
            return "{}"
        if all(_record(x) for x in v.values()):
            inner = _records([str(k) for k in v], list(v.values()))
        else:
            inner = "<table>" + "".join(f"<tr><th>{escape(str(k))}</th><td class=\"v\">{_value(x)}</td></tr>"
                                        for k, x in v.items()) + "</table>"
        if len(v) <= INLINE and _record(v):
            return inner
        return _fold(f"{len(v)} entr{'y' if len(v) == 1 else 'ies'}", inner)
    items = list(v)
    if all(is_scalar(x) for x in items):
        text = ", ".join(escape(fmt_number(x)) for x in items)
        return f"[{text}]" if len(items) <= INLINE else _fold(f"{len(items)} values", f"[{text}]")
    if all(_record(x) for x in items):
        return _fold(f"{len(items)} records", _records(None, items))
    return _fold(f"{len(items)} items", "<ol>" + "".join(f"<li>{_value(x)}</li>" for x in items) + "</ol>")


def _record(v: object) -> bool:
    return isinstance(v, dict) and all(is_scalar(x) for x in v.values())


def _records(labels: list[str] | None, records: list[dict]) -> str:
    """Records as one table: a column per key any of them has, a first column of ``labels`` when given."""
    columns = list(dict.fromkeys(k for r in records for k in r))
    rows = tuple(((label,) if labels is not None else ()) + tuple(r.get(c, "") for c in columns)
                 for label, r in zip(labels or [None] * len(records), records))
    return _table(Table("", (("",) if labels is not None else ()) + tuple(map(str, columns)), rows), {})



def _fold(label: str, inner: str) -> str:
    return f'<details class="nested"><summary>{escape(label)}</summary><div class="scroll">{inner}</div></details>'


def _table(table: Table, anchors: dict[str, str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = []
    links = table.links or (None,) * len(table.rows)
    for row, link in zip(table.rows, links):
        cells = [_cell(v) for v in row]
        if link is not None and link in anchors:
            cells[0] = f'<a href="#{anchors[link]}">{cells[0]}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = f"<caption>{escape(table.title)}</caption>" if table.title else ""
    note = f'<p class="note">{escape(table.caption)}</p>' if table.caption else ""
    return f'<div class="scroll"><table class="grid">{caption}<tr>{head}</tr>{"".join(body)}</table></div>{note}'


def _metrics(metrics: dict, tables: set[str]) -> str:
    """Every metric, readable to its last value (nested ones in collapsible tables); a metric the report already
    shows as a table of the same name (the scorecard) is not repeated."""
    rows = [(k, v) for k, v in metrics.items() if k.lower() not in tables]
    if not rows:
        return ""
    body = "".join(f'<tr><th>{escape(str(k))}</th><td class="v">{_value(v)}</td></tr>' for k, v in rows)
    return f'<details open><summary>Metrics</summary><div class="scroll"><table>{body}</table></div></details>'


def _anchors(report: ReportShape, ids: _Ids, out: dict[int, str]) -> None:
    """Section anchors assigned once, in document order, before anything links to them."""
    for s in report.sections:
        out[id(s)] = ids.take("sec-" + s.title)
        _anchors(s, ids, out)


def _body(report: ReportShape, level: int, ids: _Ids, anchors: dict[int, str], preamble: str = "") -> str:
    h = f"h{min(level, 6)}"
    anchor = anchors.get(id(report), "top")
    out = [f'<{h} id="{anchor}">{escape(report.title)}</{h}>', preamble]
    if report.summary:
        out.append(f'<p class="summary">{escape(report.summary)}</p>')
    by_title: dict[str, str] = {}
    for s in report.sections:
        by_title.setdefault(s.title, anchors[id(s)])  # a title links to its first section
    out.extend(_table(t, by_title) for t in report.tables)
    out.extend(_findings(report.findings, ids))
    out.append(_metrics(report.metrics, {t.title.lower() for t in report.tables}))
    for fig in report.figures:
        out.append(
            f'<figure><img alt="{escape(fig.title)}" src="{fig.data_uri()}">'
            f"<figcaption><b>{escape(fig.title)}</b>. {escape(fig.caption)}</figcaption></figure>"
        )
    for s in report.sections:
        out.append(_body(s, level + 1, ids, anchors))
    return "\n".join(out)


def _findings(findings: list[Finding], ids: _Ids) -> list[str]:
    """One card per finding, worst first; a finding id that repeats becomes one card with a row per case."""
    groups: dict[str, list[Finding]] = {}
    for f in sorted(findings, key=lambda f: -f.severity):
        groups.setdefault(f.id, []).append(f)
    out = []
    for fid, group in groups.items():
        if len(group) == 1:
            out.append(_finding(group[0], ids))
            continue
        first = group[0]
        rows = tuple((str(f.severity), f.title, ", ".join(f"{k}={fmt_number(v)}" for k, v in f.evidence.items()
                                                      if is_scalar(v))) for f in group)
        table = _table(Table("", ("severity", "title", "evidence"), rows), {})
        out.append(
            f'<div class="finding" id="{escape(ids.take(fid))}">{_badge(first.severity)} '
            f'<span class="title">{len(group)} × {escape(first.title)}</span> <code>{escape(fid)}</code>'
            + (f"<div>{escape(first.detail)}</div>" if first.detail else "")
            + (f'<div class="fix"><b>Fix:</b> {escape(first.fix)}</div>' if first.fix else "")
            + _fold(f"all {len(group)} cases", table) + "</div>")
    return out


def render_html(report: ReportShape) -> str:
    worst = report.worst
    counts = {s: 0 for s in Severity}
    for f in report.all_findings():
        counts[f.severity] += 1
    tally = " · ".join(f"{n} {s}" for s, n in sorted(counts.items(), reverse=True) if n)
    ids = _Ids()
    ids.take("top")
    anchors: dict[int, str] = {}
    _anchors(report, ids, anchors)
    nav = ""
    if report.sections:
        items = "".join(f'<li><a href="#{anchors[id(s)]}">{escape(s.title)}</a></li>' for s in report.sections)
        nav = f"<nav><ul>{items}</ul></nav>"
    head = (
        f"<p>Worst severity: {_badge(worst) if worst is not None else 'none'} &nbsp; "
        f"{tally or 'no findings'}</p>"
    )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>"
        f"{_body(report, 1, ids, anchors, head + nav)}</body></html>"
    )
