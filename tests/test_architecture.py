"""The shape of the code: a library that never imports the WebUI, packages without import
cycles, and a thin script."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "lib_animatediff"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The library modules ``path`` imports at module level (not inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.startswith("lib_animatediff"):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if (LIBRARY.parent / Path(*candidate.split("."))).with_suffix(".py").is_file() else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("lib_animatediff")}
    return found


def test_the_library_never_imports_the_webui():
    for path in LIBRARY.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
                assert not any(name == "modules" or name.startswith("modules.") for name in names), f"{path} imports the WebUI"


def library_graph() -> dict[str, set[str]]:
    graph = {module_name(path): imports_of(path) for path in LIBRARY.rglob("*.py")}
    return {name: {dep for dep in deps if dep in graph and dep != name} for name, deps in graph.items()}


def package_of(module: str) -> str:
    """``lib_animatediff.sampling.plan`` → ``lib_animatediff.sampling``; a top-level module is
    a package of its own."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycles_between_modules():
    assert_acyclic(library_graph())


def test_no_package_imports_one_that_imports_it_back():
    packages: dict[str, set[str]] = {}
    for name, deps in library_graph().items():
        packages.setdefault(package_of(name), set()).update(package_of(dep) for dep in deps if package_of(dep) != package_of(name))
    assert_acyclic(packages)


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " → ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for dep in sorted(graph.get(name, ())):
            if not dep.startswith(name + "."):  # a package importing its own modules is no cycle
                visit(dep)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_script_is_a_thin_translation_layer():
    lines = (REPO / "scripts" / "animatediff.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"scripts/animatediff.py has {len(lines)} lines; the job's logic belongs in lib_animatediff"


def test_the_tools_the_webui_never_runs_live_apart():
    for path in LIBRARY.rglob("*.py"):
        if "devtools" in path.parts or path.name in ("cli.py", "__main__.py"):
            continue
        assert not any(dep.startswith("lib_animatediff.devtools") for dep in imports_of(path)), f"{path} imports a developer tool"
