"""Render a Report as one self-contained HTML page (inline CSS and images, no scripts)."""

from __future__ import annotations

from html import escape

from mathguard.report.display import fmt_number, metric_rows
from mathguard.report.finding import Finding, Severity
from mathguard.report.report import Report

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
td,th{border-bottom:1px solid #e3e8ee;padding:.25rem .6rem;text-align:left;vertical-align:top}
td.v{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-word}
figure{margin:1rem 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #e3e8ee}figcaption{font-size:.85rem;color:#5b7083;max-width:640px}
.summary{background:#f1f5f9;border-radius:6px;padding:.6rem .9rem}
nav ul{columns:2}
"""


def _badge(sev: Severity) -> str:
    return f'<span class="sev" style="background:{_COLORS[sev]}">{sev}</span>'


def _finding(f: Finding) -> str:
    ev = ", ".join(f"{escape(str(k))}={escape(fmt_number(v))}" for k, v in list(f.evidence.items())[:10]
                   if not isinstance(v, (dict, list, tuple)))
    parts = [
        f'<div class="finding" id="{escape(f.id)}">{_badge(f.severity)} '
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


def _body(report: Report, level: int, preamble: str = "") -> str:
    h = f"h{min(level, 6)}"
    anchor = "sec-" + "".join(c if c.isalnum() else "-" for c in report.title.lower())
    out = [f'<{h} id="{anchor}">{escape(report.title)}</{h}>', preamble]
    if report.summary:
        out.append(f'<p class="summary">{escape(report.summary)}</p>')
    for f in sorted(report.findings, key=lambda f: -f.severity):
        out.append(_finding(f))
    rows = metric_rows(report.metrics)
    if rows:
        out.append("<details open><summary>Metrics</summary><table>")
        out.extend(f'<tr><th>{escape(k)}</th><td class="v">{escape(v)}</td></tr>' for k, v in rows)
        out.append("</table></details>")
    for fig in report.figures:
        out.append(
            f'<figure><img alt="{escape(fig.title)}" src="{fig.data_uri()}">'
            f"<figcaption><b>{escape(fig.title)}</b>. {escape(fig.caption)}</figcaption></figure>"
        )
    for s in report.sections:
        out.append(_body(s, level + 1))
    return "\n".join(out)


def render_html(report: Report) -> str:
    worst = report.worst
    counts = {s: 0 for s in Severity}
    for f in report.all_findings():
        counts[f.severity] += 1
    tally = " ".join(f"{_badge(s)} {n}" for s, n in sorted(counts.items(), reverse=True) if n)
    nav = ""
    if report.sections:
        items = "".join(
            f'<li><a href="#sec-{"".join(c if c.isalnum() else "-" for c in s.title.lower())}">'
            f"{escape(s.title)}</a></li>"
            for s in report.sections
        )
        nav = f"<nav><ul>{items}</ul></nav>"
    head = (
        f"<p>Worst severity: {_badge(worst) if worst is not None else 'none'} &nbsp; {tally}</p>"
    )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>"
        f"{_body(report, 1, head + nav)}</body></html>"
    )
