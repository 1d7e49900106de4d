"""Plan approval in the terminal: show a paused report's outline and accept, edit (in $EDITOR) or keep it paused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import typer
import yaml

from sleuth.commands.common import console, plain

if TYPE_CHECKING:
    from sleuth.agents.results import ResearchReport


def show_plan(outline: dict[str, Any]) -> None:
    console.print(f"[bold]Plan:[/] {plain(outline.get('title'))}")
    for number, section in enumerate(outline.get("sections") or [], start=1):
        console.print(f"  {number}. [bold]{plain(section.get('heading'))}[/]")
        for question in section.get("questions") or []:
            console.print(f"     - {plain(question)}")


def approval(report: ResearchReport) -> tuple[bool, dict[str, Any] | None]:
    """Ask whether to run the paused plan: (run it?, the edited plan or None for the plan as drafted).

    An edited plan that does not validate is shown with the reason and asked about again, so an edit
    mistake loses nothing; "n" leaves the run paused (resume it later with --resume RUN_ID --approve).
    """
    from sleuth.agents.research.nodes.outline import PlanError, parse_plan

    outline = report.outline or {}
    show_plan(outline)
    text = yaml.safe_dump(outline, sort_keys=False, allow_unicode=True)
    while True:
        choice = typer.prompt("Run this plan? [y]es, [e]dit, [n]o (keep it paused)", default="y").strip().lower()
        if choice in ("y", "yes"):
            return True, None
        if choice in ("n", "no"):
            console.print(
                f"The run stays paused. Continue it with: sleuth research --resume {plain(report.run_id)} --approve"
            )
            return False, None
        if choice not in ("e", "edit"):
            continue
        edited = click.edit(text, extension=".yaml")
        if edited is None:  # the editor was closed without saving
            continue
        text = edited
        try:
            plan = dict(parse_plan(yaml.safe_load(edited)))
        except (yaml.YAMLError, PlanError) as exc:
            console.print(f"[red]{plain(str(exc))}[/]")
            continue
        show_plan(plan)
        return True, plan
