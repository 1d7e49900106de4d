"""Files under SLEUTH_HOME are the user's alone: the directories sleuth creates are 0700, its databases 0600.

Tokens, corrections, indexed documents, cached LLM replies and run checkpoints live there; with the default
umask they would be readable by every account on the machine. Existing files and directories keep the mode
they have: a user who opened them up on purpose is not overruled.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`mkdir -p path`, each directory it creates readable by the owner only.

    (`Path.mkdir(mode=..., parents=True)` applies the mode to the last directory alone: the parents it
    creates, SLEUTH_HOME itself among them, would get the umask's 0755.)
    """
    if not path.is_dir():
        if path.parent != path:
            private_dir(path.parent)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """`path`, created empty and owner-only (with its directory) when it does not exist yet.

    For SQLite databases: SQLite takes an empty file as a new database, and gives its `-wal`, `-shm` and
    journal files the database file's mode.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    return path
