"""HTML building blocks of the report: escaped text, tables, inline figures, the page.

Everything a reader sees passes through ``esc`` (``html.escape``, quotes included): config
names, strategy labels and attributes come from files a user may have edited. Figures are PNG
embedded as base64 ``data:`` URIs and the style sheet is inline, so the page fetches nothing: it
opens the same offline, attached to an e-mail, or years later.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

#: Marks a file as a rollout report, so ``--overwrite`` replaces only reports (report/target.py).
GENERATOR = "rollout report"

STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif;
       max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
p.lead { color: #444; margin-top: 0; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.55em; text-align: right; vertical-align: top; }
th { background: #f2f2f2; }
th.l, td.l { text-align: left; }
span.nw { white-space: nowrap; }
table.facts td { text-align: left; }
table.facts td:first-child { font-weight: bold; white-space: nowrap; }
code, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.92em;
              overflow-wrap: anywhere; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.caption { color: #444; font-size: 0.9em; }
ul.summary li { margin-bottom: 0.3em; }
p.note { background: #fff8e1; border-left: 4px solid #f0c040; padding: 0.4em 0.7em; }
footer { margin-top: 2.5em; color: #666; font-size: 0.85em; border-top: 1px solid #ccc; }
"""


def esc(value: Any) -> str:
    """Text for the page: ``html.escape`` of ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


def paragraph(text: str, cls: str = "caption") -> str:
    """One paragraph of plain text (escaped)."""
    return f'<p class="{esc(cls)}">{esc(text)}</p>'


def cell(value: Any) -> str:
    """A table cell's content: escaped text, or a tuple of lines (each escaped and kept whole
    on its line)."""
    if isinstance(value, tuple):
        return "<br>".join(f'<span class="nw">{esc(line)}</span>' for line in value)
    return esc(value)


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], cls: str = "",
          left: Sequence[int] = (0,)) -> str:
    """A table of escaped cells: columns ``left`` (text) left-aligned, the others (numbers)
    right-aligned; a cell that is a tuple is shown as lines."""
    def align(j: int) -> str:
        return ' class="l"' if j in left else ""

    head = "".join(f"<th{align(j)}>{cell(h)}</th>" for j, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{align(j)}>{cell(c)}</td>" for j, c in enumerate(row))
                   + "</tr>" for row in rows)
    attr = f' class="{esc(cls)}"' if cls else ""
    return (f'<div class="wide"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}'
            "</tbody></table></div>")


def bullets(items: Iterable[str]) -> str:
    """A list of plain sentences (escaped)."""
    return '<ul class="summary">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def facts(rows: Iterable[tuple[Any, Any]]) -> str:
    """A two-column table of labels and values (no header)."""
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def png_data_uri(fig: Any, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed if it
    belongs to pyplot, so a long report does not pile up open figures)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if getattr(fig, "number", None) is not None:       # made by pyplot: release it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure(fig: Any, alt: str, caption: str, dpi: int = 100) -> str:
    """A figure inline, with its alternative text and a caption (both escaped)."""
    return (f'<figure><img src="{png_data_uri(fig, dpi)}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def page(title: str, body: str, footer: str) -> str:
    """The whole document: inline style, no script, nothing fetched."""
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="{esc(GENERATOR)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}<footer>{footer}</footer></body></html>\n")
