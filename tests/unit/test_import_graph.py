"""The layering of the tree, kept by a test: every import of every module under `src/sleuth` (lazy imports in
functions and `TYPE_CHECKING` ones included) goes down the floors or stays on its floor, no two parts import
each other (directly or round a longer circle), and production code never imports `sleuth.testing`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import sleuth

SRC = Path(sleuth.__file__).parent

FLOORS: list[set[str]] = [
    {"cli", "sleuth"},  # `sleuth` is the package's own __init__: the facade a user imports
    {"commands"},
    {"server"},
    {"mcp"},
    {"optimizers"},
    {"evals"},
    {"api", "export"},  # export renders an agents report; commands and server call it
    {"agents"},
    {"feedback"},
    {"llm", "retrieval", "prompts"},
    {"tracing"},  # the spans every layer above opens; set up from settings
    {"config", "settings_wire"},  # settings_wire: settings sent to the warm worker
    {"text", "sqlite", "database", "private", "override", "names", "heap"},
]
"""Top to bottom: a part may import its own floor and the floors below it."""

TESTING = "testing"
"""May import anything; nothing in production imports it."""

ALLOWED = {
    ("sleuth.commands.server", "testing"): "`sleuth serve --fake-llm` serves the grounded fake model, for demos",
    ("sleuth.commands.mcp", "testing"): "`sleuth mcp --fake-llm` runs on the fakes, for tests and demos",
    (
        "sleuth.commands.worker",
        "testing",
    ): "`sleuth worker run --fake-embedder` serves the hash embedder, for tests",
}
"""(importing module, imported part) pairs that break a rule on purpose, each with its reason."""


@dataclass(frozen=True)
class Edge:
    """One import statement of one module, of a module of another part."""

    importer: str
    imported: str
    where: str

    @property
    def parts(self) -> tuple[str, str]:
        return part(self.importer), part(self.imported)

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.where})"


def part(module: str) -> str:
    """The top-level sub-package or module a module belongs to (`sleuth` for the package's __init__)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "sleuth"


def floor_of(name: str) -> int:
    return next(i for i, floor in enumerate(FLOORS) if name in floor)


def imports_in(source: str, module: str, *, is_package: bool, where: str) -> list[Edge]:
    """The imports of `module` (whose text is `source`) that reach into another part of sleuth."""
    package = module if is_package else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            # `from sleuth import testing` imports the sub-package, not a name of `sleuth`
            targets = [f"{base}.{a.name}" if base == "sleuth" else base for a in node.names]
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        edges += [Edge(module, t, line) for t in targets if t == "sleuth" or t.startswith("sleuth.")]
    return [e for e in edges if e.parts[0] != e.parts[1]]


def all_edges() -> list[Edge]:
    edges = []
    for path in sorted(SRC.rglob("*.py")):
        names = list(path.relative_to(SRC.parent).with_suffix("").parts)
        module = ".".join(names[:-1] if names[-1] == "__init__" else names)
        where = str(path.relative_to(SRC.parent))
        edges += imports_in(
            path.read_text(encoding="utf-8"), module, is_package=names[-1] == "__init__", where=where
        )
    return edges


def against_the_layering(edges: list[Edge]) -> list[str]:
    """Each edge that goes up a floor or into `sleuth.testing`, with why it is wrong."""
    bad = []
    for edge in edges:
        importer, imported = edge.parts
        if importer == TESTING or (edge.importer, imported) in ALLOWED:
            continue
        if imported == TESTING:
            bad.append(f"{edge}: production code imports sleuth.testing")
        elif floor_of(imported) < floor_of(importer):
            bad.append(
                f"{edge}: {importer} (floor {floor_of(importer)}) imports {imported} (floor {floor_of(imported)})"
            )
    return bad


def in_circles(edges: list[Edge]) -> list[str]:
    """One example edge for each pair of parts (a, b) where a imports b and b leads back to a."""
    graph: dict[str, set[str]] = defaultdict(set)
    examples: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        graph[edge.parts[0]].add(edge.parts[1])
        examples.setdefault(edge.parts, edge)

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return False

    return [str(examples[(a, b)]) for a in sorted(graph) for b in sorted(graph[a]) if reaches(b, a)]


def test_every_part_of_the_tree_has_a_floor() -> None:
    parts = {part(e.importer) for e in all_edges()} | {p.stem for p in SRC.glob("*.py")} - {"__init__"}
    parts |= {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    placed = set().union(*FLOORS) | {TESTING}
    assert parts <= placed, f"parts with no floor in this test (say where they sit): {sorted(parts - placed)}"


def test_no_import_goes_up_a_floor_or_into_testing() -> None:
    bad = against_the_layering(all_edges())
    assert not bad, "imports against the layering (top to bottom: cli, commands, server, optimizers, ...):\n" + (
        "\n".join(bad)
    )


def test_no_two_parts_import_each_other() -> None:
    cyclic = in_circles(all_edges())
    assert not cyclic, "imports that close a circle between parts:\n" + "\n".join(cyclic)


def test_the_checks_find_what_they_look_for() -> None:
    # A check that finds nothing must be able to find something: made-up modules, parsed like real ones.
    probe = imports_in(
        "from sleuth.evals.metrics import f1_score\nfrom . import store\n\ndef f():\n    import sleuth.testing\n",
        "sleuth.feedback.probe",
        is_package=False,
        where="probe.py",
    )
    assert [str(e) for e in probe] == [
        "sleuth.feedback.probe -> sleuth.evals.metrics (probe.py:1)",
        "sleuth.feedback.probe -> sleuth.testing (probe.py:5)",
    ]
    bad = against_the_layering(probe)
    assert "feedback (floor 8) imports evals (floor 5)" in bad[0] and "imports sleuth.testing" in bad[1]
    back = imports_in("from ..feedback import store\n", "sleuth.llm.probe", is_package=False, where="back.py")
    assert in_circles(back) == []  # one way only
    circle = back + imports_in("import sleuth.llm.base\n", "sleuth.feedback.x", is_package=False, where="x.py")
    assert sorted(in_circles(circle)) == [
        "sleuth.feedback.x -> sleuth.llm.base (x.py:1)",
        "sleuth.llm.probe -> sleuth.feedback (back.py:1)",
    ]


HEAVY = ("torch", "transformers", "FlagEmbedding", "chromadb", "langgraph", "bm25s", "numba", "openai", "fastapi")
"""Libraries that take seconds to import: a command loads them when it runs, never at start-up."""


def test_starting_the_cli_imports_no_heavy_library() -> None:
    # In a fresh interpreter (the test process has long since imported all of them). Opening a collection, as
    # a search sent to the warm worker does, loads none of them either.
    probe = (
        "import json, sys\n"
        "import sleuth.cli\n"
        "def heavy(): return sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "at_start = heavy()\n"
        "from sleuth.config import Settings\n"
        "from sleuth.retrieval.index import open_collection\n"
        "open_collection(Settings(), 'zoo').close()\n"
        "print(json.dumps([at_start, heavy()]))"
    )
    done = subprocess.run([sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [[], []]


def test_sending_a_research_run_to_the_warm_worker_imports_no_heavy_library() -> None:
    # What `sleuth research` loads to send its run to a warm worker and show what comes back (the run's
    # records, the worker's client, the web-mode check); the worker holds the rest. numpy too: it waits for a
    # run that searches here.
    probe = (
        "import json, sys\n"
        "import sleuth.cli, sleuth.commands.research_runs, sleuth.server.worker_research\n"
        "from sleuth.config import Settings\n"
        "from sleuth.retrieval.web.sources import web_mode\n"
        "web_mode(Settings())\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY, "numpy"], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
