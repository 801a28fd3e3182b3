"""Readable coverage report, HTML (self-contained, no script) and Markdown: per data source the rules
converted and failed (with reasons), the fields they read, and their ATT&CK coverage matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from html import escape

from sigma_es_backend import __version__, attack
from sigma_es_backend.coverage import Cell, Coverage, DataSourceGroup, RuleEntry
from sigma_es_backend.coverage.layer import cell_comment, score

# Cell colour = highest Sigma level among the rules covering the technique.
LEVEL_COLORS = {"critical": "#b2182b", "high": "#ef8a62", "medium": "#fddbc7", "low": "#d1e5f0",
                "informational": "#eeeeee", None: "#eeeeee"}
LEVEL_TEXT = {"critical": "#ffffff"}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 2px solid #ccc; }
.meta { color: #555; margin: 0.2em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b2182b; font-weight: 600; }
.matrix { display: grid; grid-template-columns: repeat(var(--cols), minmax(64px, 1fr)); gap: 3px;
          font-size: 0.7em; margin: 0.6em 0; overflow-x: auto; }
.tactic { background: #444; color: #fff; padding: 4px; font-weight: 600; min-height: 2.6em; overflow-wrap: anywhere; }
.tactic small { display: block; font-weight: normal; color: #ddd; }
.column { display: flex; flex-direction: column; gap: 3px; }
.cell { padding: 3px; border-radius: 3px; border: 1px solid #bbb; overflow-wrap: anywhere; }
.cell b { display: block; } .empty { color: #999; font-style: italic; padding: 3px; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 4px; border: 1px solid #bbb; }
details { margin: 0.4em 0; } code { font-size: 0.95em; }
"""


def _cells_by_tactic(cells: dict[tuple[str, str], Cell]) -> dict[str, list[Cell]]:
    columns: dict[str, list[Cell]] = {t.shortname: [] for t in attack.tactics()}
    for (_, tactic), cell in cells.items():
        columns.setdefault(tactic, []).append(cell)
    for column in columns.values():
        column.sort(key=lambda c: (-len(c.rules), -score(c), c.technique.id))
    return columns


def _matrix_html(cells: dict[tuple[str, str], Cell]) -> str:
    if not cells:
        return '<p class="empty">No ATT&amp;CK technique covered by a converted rule.</p>'
    columns = _cells_by_tactic(cells)
    tactics = {t.shortname: t for t in attack.tactics()}
    heads, bodies = [], []
    for shortname, column in columns.items():
        tactic = tactics.get(shortname)
        label = f"{escape(tactic.name)}<small>{escape(tactic.id)} · {len(column)} techniques</small>" if tactic \
            else escape(shortname)
        heads.append(f'<div class="tactic">{label}</div>')
        items = []
        for cell in column:
            level = cell.top_level()
            style = f"background:{LEVEL_COLORS[level]};color:{LEVEL_TEXT.get(level, '#222')}"
            items.append(f'<div class="cell" style="{style}" title="{escape(cell_comment(cell))}">'
                         f'<b>{escape(cell.technique.id)}</b>{escape(cell.technique.name)} '
                         f'({len(cell.rules)})</div>')
        bodies.append(f'<div class="column">{"".join(items) or "<div class=empty>—</div>"}</div>')
    return (f'<div class="matrix" style="--cols:{len(columns)}">{"".join(heads)}{"".join(bodies)}</div>')


def _legend_html() -> str:
    spans = "".join(f'<span style="background:{LEVEL_COLORS[level]};color:{LEVEL_TEXT.get(level, "#222")}">'
                    f'{level}</span>' for level in ("critical", "high", "medium", "low", "informational"))
    return f'<p class="legend">Cell colour = highest rule level: {spans} (rule count in brackets)</p>'


def _failed_html(rules: list[RuleEntry]) -> str:
    if not rules:
        return '<p class="ok">Every rule converted.</p>'
    rows = "".join(f"<tr><td><code>{escape(r.path)}</code></td><td>{escape(r.title or '')}</td>"
                   f"<td>{escape(r.logsource)}</td><td>{escape(r.error or '')}</td></tr>" for r in rules)
    return (f'<table class="failed"><tr><th>Rule file</th><th>Title</th><th>Log source</th><th>Reason</th></tr>'
            f"{rows}</table>")


def _fields_html(group: DataSourceGroup) -> str:
    fields = group.fields()
    if not fields:
        return "<p>No converted rule.</p>"
    rows = "".join(f"<tr><td><code>{escape(f.name)}</code></td><td>{escape(f.type)}</td>"
                   f"<td>{'yes' if f.ecs else 'no'}</td>"
                   f'<td class="num">{count}</td></tr>' for f, count in fields)
    return f"<table><tr><th>Field</th><th>Type</th><th>ECS</th><th>Rules</th></tr>{rows}</table>"


def _context_html(group: DataSourceGroup) -> str:
    ds = group.context
    if ds is None:
        return "<p>These rules' log sources have no data source in the mapping files (or the rule could not " \
               "be read).</p>"
    parts = [f'<p class="meta">Data source <code>{escape(ds.id)}</code></p>']
    if ds.integrations:
        items = ", ".join(f"<code>{escape(i.package)}{'/' + escape(i.integration) if i.integration else ''}</code> "
                          f"{escape(i.version)}" for i in ds.integrations)
        parts.append(f'<p class="meta">Integrations: {items}</p>')
    if ds.setup:
        parts.append(f'<p class="meta">Setup: {escape(ds.setup)}</p>')
    return "".join(parts)


def _rule_list_html(rules: Iterable[RuleEntry]) -> str:
    rows = "".join(f"<tr><td>{escape(r.title or '')}</td><td>{escape(r.level or '')}</td>"
                   f"<td>{escape(', '.join(t.id for t in r.attack.techniques))}</td>"
                   f"<td><code>{escape(r.path)}</code></td></tr>" for r in rules)
    return f"<table><tr><th>Title</th><th>Level</th><th>Techniques</th><th>File</th></tr>{rows}</table>"


def _summary_rows_html(groups: list[DataSourceGroup]) -> str:
    rows = []
    for g in groups:
        rows.append(f'<tr><td><a href="#ds-{escape(g.key)}">{escape(g.title)}</a></td>'
                    f'<td class="num">{len(g.rules)}</td><td class="num ok">{len(g.converted)}</td>'
                    f'<td class="num {"bad" if g.failed else ""}">{len(g.failed)}</td>'
                    f'<td class="num">{len({k[0] for k in g.matrix()})}</td></tr>')
    return ("<table><tr><th>Data source</th><th>Rules</th><th>Converted</th><th>Failed</th><th>Techniques</th>"
            f"</tr>{''.join(rows)}</table>")


def _tag_problems(coverage: Coverage) -> list[tuple[str, Counter[str]]]:
    """Tags that cover nothing in the matrix, with how many rules carry each."""
    return [("ATT&CK tags not in the bundled data (reported, not mapped)", coverage.unknown_tags()),
            (f"ATT&CK techniques retired by ATT&CK {attack.attack_version()} without replacement in the data "
             f"(reported, not mapped)", coverage.retired_tags())]


def html_report(coverage: Coverage, title: str = "Sigma rule coverage") -> str:
    groups = coverage.data_sources()
    sections = []
    for g in groups:
        sections.append(
            f'<section id="ds-{escape(g.key)}"><h2>{escape(g.title)}</h2>{_context_html(g)}'
            f'<p><span class="ok">{len(g.converted)} converted</span>, '
            f'<span class="{"bad" if g.failed else "ok"}">{len(g.failed)} failed</span></p>'
            f"<h3>ATT&amp;CK coverage</h3>{_matrix_html(g.matrix())}"
            f"<h3>Failed rules</h3>{_failed_html(g.failed)}"
            f"<h3>Fields required</h3>{_fields_html(g)}"
            f"<details><summary>Converted rules ({len(g.converted)})</summary>{_rule_list_html(g.converted)}"
            f"</details></section>")
    unknown_html = "".join(
        f"<p>{escape(label)}: " + ", ".join(f"<code>{escape(t)}</code> ({n})" for t, n in sorted(tags.items()))
        + "</p>" for label, tags in _tag_problems(coverage) if tags)
    untagged = coverage.untagged()
    total_techniques = len({k[0] for k in coverage.matrix()})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">Target <code>{escape(coverage.target)}</code> · pipelines <code>{escape(', '.join(coverage.pipelines))}
</code> · {escape(attack.data_version())} · sigma-es {escape(__version__)}</p>
<p class="meta">Rules from: {escape(', '.join(coverage.paths))}</p>
<p id="totals"><b>{len(coverage.rules)}</b> rules: <span class="ok">{len(coverage.converted)} converted</span>,
<span class="{'bad' if coverage.failed else 'ok'}">{len(coverage.failed)} failed</span>;
{total_techniques} ATT&amp;CK techniques covered; {len(untagged)} converted rules name no technique.</p>
{unknown_html}
{_summary_rows_html(groups)}
<h2>ATT&amp;CK coverage, all data sources</h2>
{_legend_html()}
{_matrix_html(coverage.matrix())}
{''.join(sections)}
</body></html>
"""


# -- Markdown ----------------------------------------------------------------------------------------------
def _md(text: str | None) -> str:
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _matrix_md(cells: dict[tuple[str, str], Cell]) -> list[str]:
    if not cells:
        return ["No ATT&CK technique covered by a converted rule.", ""]
    tactics = {t.shortname: t for t in attack.tactics()}
    lines = ["| Tactic | Techniques (rules, highest level) |", "| --- | --- |"]
    for shortname, column in _cells_by_tactic(cells).items():
        tactic = tactics.get(shortname)
        name = f"{tactic.name} ({tactic.id})" if tactic else shortname
        items = "; ".join(f"{c.technique.id} {_md(c.technique.name)} ({len(c.rules)}, {c.top_level() or 'no level'})"
                          for c in column) or "—"
        lines.append(f"| {_md(name)} | {items} |")
    return [*lines, ""]


def markdown_report(coverage: Coverage, title: str = "Sigma rule coverage") -> str:
    groups = coverage.data_sources()
    lines = [f"# {title}", "",
             f"Target `{coverage.target}`, pipelines `{', '.join(coverage.pipelines)}`, {attack.data_version()}, "
             f"sigma-es {__version__}. Rules from: {', '.join(coverage.paths)}.", "",
             f"**{len(coverage.rules)}** rules: {len(coverage.converted)} converted, {len(coverage.failed)} failed; "
             f"{len({k[0] for k in coverage.matrix()})} ATT&CK techniques covered; "
             f"{len(coverage.untagged())} converted rules name no technique.", ""]
    for label, tags in _tag_problems(coverage):
        if tags:
            lines += [f"{label}: " + ", ".join(f"`{t}` ({n})" for t, n in sorted(tags.items())), ""]
    lines += ["| Data source | Rules | Converted | Failed | Techniques |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {_md(g.title)} | {len(g.rules)} | {len(g.converted)} | {len(g.failed)} | "
              f"{len({k[0] for k in g.matrix()})} |" for g in groups]
    lines += ["", "## ATT&CK coverage, all data sources", "", *_matrix_md(coverage.matrix())]
    for g in groups:
        lines += [f"## {g.title}", ""]
        ds = g.context
        if ds is not None:
            lines.append(f"Data source `{ds.id}`.")
            if ds.integrations:
                lines.append("Integrations: " + ", ".join(
                    f"`{i.package}{'/' + i.integration if i.integration else ''}` {i.version}"
                    for i in ds.integrations) + ".")
            if ds.setup:
                lines.append(f"Setup: {ds.setup}")
        else:
            lines.append("These rules' log sources have no data source in the mapping files "
                         "(or the rule could not be read).")
        lines += ["", f"{len(g.converted)} converted, {len(g.failed)} failed.", "", "### ATT&CK coverage", "",
                  *_matrix_md(g.matrix()), "### Failed rules", ""]
        if g.failed:
            lines += ["| Rule file | Title | Log source | Reason |", "| --- | --- | --- | --- |"]
            lines += [f"| `{_md(r.path)}` | {_md(r.title)} | {_md(r.logsource)} | {_md(r.error)} |" for r in g.failed]
        else:
            lines.append("Every rule converted.")
        lines += ["", "### Fields required", ""]
        fields = g.fields()
        if fields:
            lines += ["| Field | Type | ECS | Rules |", "| --- | --- | --- | ---: |"]
            lines += [f"| `{_md(f.name)}` | {_md(f.type)} | {'yes' if f.ecs else 'no'} | {count} |"
                      for f, count in fields]
        else:
            lines.append("No converted rule.")
        lines.append("")
    return "\n".join(lines)
