"""Prompt sets: role -> text, loaded from package data or a directory, saved, hashed and diffed."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from sleuth.names import ROLES as MODEL_ROLES

ROLES = (
    *MODEL_ROLES,
    "ask_reminder",
    "ask_followup",
    "ask_read",
    "ask_read_next",
    "ask_read_final",
    "ask_read_side",
    "ask_nudge_no_tag",
    "ask_nudge_search_first",
    "ask_nudge_repeated",
    "ask_nudge_not_an_answer",
    "ask_time_is_up",
)
"""Every role a prompt set may hold; a set may hold a subset (missing roles fall back to defaults)."""

BUILTIN_SETS = ("defaults", "minimal")


@dataclass
class PromptSet:
    """A named mapping role -> prompt text: exactly the candidate GEPA optimizes.

    Each role's file is YAML `{role: ..., text: ...}` (one file per role, `<role>.yaml`).
    """

    prompts: dict[str, str]
    name: str = "custom"
    meta: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, role: str) -> str:
        try:
            return self.prompts[role]
        except KeyError:
            raise KeyError(f"prompt set {self.name!r} has no prompt for role {role!r}") from None

    def get(self, role: str, default: str = "") -> str:
        return self.prompts.get(role, default)

    @property
    def hash(self) -> str:
        """Content hash (first 12 hex of sha256 over the sorted role texts); recorded by every run."""
        blob = json.dumps(self.prompts, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:12]

    def with_prompts(self, updates: Mapping[str, str], name: str | None = None) -> PromptSet:
        return PromptSet({**self.prompts, **updates}, name or self.name, dict(self.meta))

    def save(self, directory: Path) -> Path:
        """Write one YAML file per role plus `promptset.json` (name, hash) to `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        for role, text in self.prompts.items():
            (directory / f"{role}.yaml").write_text(
                yaml.safe_dump({"role": role, "text": text}, sort_keys=False, allow_unicode=True, width=110),
                encoding="utf-8",
            )
        (directory / "promptset.json").write_text(json.dumps({"name": self.name, "hash": self.hash, **self.meta}))
        return directory


def _read_role_file(text: str, origin: str) -> tuple[str, str]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data.get("role"):
        raise ValueError(f"{origin}: a prompt file needs string fields 'role' and 'text'")
    return str(data["role"]), data["text"]


def load_builtin(name: str = "defaults") -> PromptSet:
    """Load a prompt set shipped in the package (`defaults` or `minimal`); roles `minimal` leaves out (the ASP
    loop's nudges, which describe its tags rather than the task) come from `defaults`, as for a directory."""
    if name not in BUILTIN_SETS:
        raise ValueError(f"unknown built-in prompt set {name!r}; choose one of {', '.join(BUILTIN_SETS)}")
    prompts: dict[str, str] = {}
    for entry in sorted(resources.files("sleuth.prompts").joinpath(name).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            role, text = _read_role_file(entry.read_text(encoding="utf-8"), f"{name}/{entry.name}")
            prompts[role] = text
    if name != "defaults":
        prompts = {**load_builtin("defaults").prompts, **prompts}
    return PromptSet(prompts, name)


def load_prompt_set(source: str | Path | None = None) -> PromptSet:
    """Load a built-in set by name or a directory of `<role>.yaml` files.

    Roles a directory lacks are filled from the defaults, so a partial set (e.g. an optimized `ask`
    prompt only) is usable as it is.
    """
    if source is None or str(source) in BUILTIN_SETS:
        return load_builtin(str(source or "defaults"))
    directory = Path(source)
    if not directory.is_dir():
        raise FileNotFoundError(f"prompt set {source!r} is neither a built-in set nor a directory")
    prompts = dict(load_builtin("defaults").prompts)
    for path in sorted(directory.glob("*.yaml")):
        role, text = _read_role_file(path.read_text(encoding="utf-8"), str(path))
        prompts[role] = text
    name = directory.name
    meta_path = directory / "promptset.json"
    if meta_path.exists():
        name = json.loads(meta_path.read_text()).get("name", name)
    return PromptSet(prompts, name)


def diff(a: PromptSet, b: PromptSet) -> str:
    """A unified diff of two sets, role by role (empty when they are equal)."""
    chunks = []
    for role in sorted(set(a.prompts) | set(b.prompts)):
        left, right = a.get(role).splitlines(keepends=True), b.get(role).splitlines(keepends=True)
        if left != right:
            chunks.append("".join(difflib.unified_diff(left, right, f"{a.name}/{role}", f"{b.name}/{role}")))
    return "\n".join(chunks)
