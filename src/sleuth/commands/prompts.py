"""`sleuth prompts show|diff|hash`: look at prompt sets (built-in `defaults`/`minimal` or a directory)."""

from __future__ import annotations

import json

import typer
from rich.panel import Panel
from rich.syntax import Syntax

from sleuth.commands.common import console, fail, plain, printable
from sleuth.prompts.sets import BUILTIN_SETS, PromptSet, diff, load_prompt_set

app = typer.Typer(help="Show, compare and hash prompt sets (role -> prompt text).", no_args_is_help=True)

SET_HELP = f"A built-in set ({', '.join(BUILTIN_SETS)}) or a directory of <role>.yaml files."


def _load(source: str) -> PromptSet:
    try:
        return load_prompt_set(source)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


@app.command("show")
def show(
    source: str = typer.Argument("defaults", help=SET_HELP),
    role: str = typer.Option(None, "--role", "-r", help="Show only this role."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the prompts of a set, role by role, with its hash."""
    prompts = _load(source)
    roles = sorted(prompts.prompts)
    if role is not None:
        if role not in prompts.prompts:
            fail(f"prompt set {prompts.name!r} has no role {role!r}; it has: {', '.join(roles) or 'none'}")
        roles = [role]
    if as_json:
        print(
            json.dumps(
                {"name": prompts.name, "hash": prompts.hash, "prompts": {r: prompts[r] for r in roles}},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    console.print(f"[bold]{plain(prompts.name)}[/] · hash {prompts.hash} · {len(prompts.prompts)} roles")
    for name in roles:
        text = prompts[name]
        console.print(Panel(plain(text.rstrip()), title=f"{plain(name)} ({len(text)} chars)", title_align="left"))


@app.command("diff")
def diff_cmd(
    a: str = typer.Argument(..., help=SET_HELP),
    b: str = typer.Argument(..., help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a unified diff of two sets, role by role (nothing when they are equal)."""
    left, right = _load(a), _load(b)
    text = diff(left, right)
    if as_json:
        changed = sorted(r for r in set(left.prompts) | set(right.prompts) if left.get(r) != right.get(r))
        print(
            json.dumps(
                {
                    "a": {"name": left.name, "hash": left.hash},
                    "b": {"name": right.name, "hash": right.hash},
                    "changed_roles": changed,
                    "diff": text,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not text:
        console.print(f"identical ({left.hash})")
        return
    console.print(Syntax(printable(text), "diff", word_wrap=True))


@app.command("hash")
def hash_cmd(
    source: str = typer.Argument("defaults", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the content hash of a set (the one every run records)."""
    prompts = _load(source)
    if as_json:
        print(json.dumps({"name": prompts.name, "hash": prompts.hash}))
    else:
        print(prompts.hash)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="prompts")
