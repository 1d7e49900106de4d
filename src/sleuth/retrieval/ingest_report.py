"""What adding files to a collection did, file by file (`Collection.add`'s report)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileReport:
    """What adding one file did."""

    source: str
    added: int = 0
    updated: int = 0
    skipped: int = 0
    """Passages already indexed unchanged (a re-added file), or duplicates of passages held elsewhere."""
    removed: int = 0
    """Passages of an earlier version of the file that the new version no longer has."""
    error: str | None = None
    """Why the file was not indexed at all."""
    warnings: list[str] = field(default_factory=list)
    """Problems with parts of the file (malformed jsonl lines, a sheet past the row cap); the rest was indexed."""
    chunked: list[str] = field(default_factory=list)
    """jsonl records too long to be one passage, split into chunks under their id (`<id>`, `<id>#2`, ...)."""
    duplicate_of: str | None = None
    """The file already read in this add that this path resolves to (a symlink, or a path named twice)."""


@dataclass
class IngestReport:
    """What `Collection.add` did, file by file."""

    files: list[FileReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Files in the given directories whose type is not supported."""

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def errors(self) -> list[FileReport]:
        return [f for f in self.files if f.error]
