"""Run folders: atomic writes, provenance, full results reused by quick builds."""

import json
import re

import pytest

from circuits.runs import load_or_run, load_run, provenance, save_run, write_json_atomic


def test_write_json_atomic_leaves_no_partial_file(tmp_path):
    path = tmp_path / "a" / "x.json"
    write_json_atomic(path, {"v": 1})
    assert json.loads(path.read_text()) == {"v": 1}
    with pytest.raises(ValueError):  # NaN is not JSON: the old file stays, no temporary left
        write_json_atomic(path, {"v": float("nan")})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_quick_builds_reuse_a_full_run_with_the_same_inputs(tmp_path):
    calls = []

    def compute(n):
        calls.append(n)
        return {"sum": sum(range(n))}

    quick = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert quick.mode == "quick" and quick.metrics == {"sum": 45} and not quick.saved
    assert not (tmp_path / "demo").exists()
    full = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=True, seed=3,
                       root=tmp_path)
    assert full.mode == "full" and full.metrics == {"sum": 4950} and full.saved
    again = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert again.metrics == {"sum": 4950} and again.mode == "full"
    assert calls == [10, 100]  # the quick build loaded the full run instead of computing
    assert again.provenance["seed"] == 3 and again.provenance["wall_s"] >= 0
    # other inputs: the saved run does not apply
    other = load_or_run("demo", {"n": 200}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert other.mode == "quick" and calls == [10, 100, 10]


def test_an_interrupted_overwrite_keeps_the_old_run_whole(tmp_path, monkeypatch):
    import circuits.runs as runs

    save_run("r", {"n": 100, "mode": "full"}, {"score": 1.0}, {"seed": 1}, root=tmp_path)
    real = runs.write_json_atomic

    def crash_on_config(path, obj):
        if path.name == "config.json":
            raise KeyboardInterrupt  # the writer dies after metrics and provenance
        real(path, obj)

    monkeypatch.setattr(runs, "write_json_atomic", crash_on_config)
    with pytest.raises(KeyboardInterrupt):
        save_run("r", {"n": 5000, "mode": "full"}, {"score": 99.0}, {"seed": 2}, root=tmp_path)
    monkeypatch.undo()
    old = load_run("r", {"n": 100, "mode": "full"}, root=tmp_path)
    assert old.metrics == {"score": 1.0} and old.provenance == {"seed": 1}
    assert load_run("r", {"n": 5000, "mode": "full"}, root=tmp_path) is None
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging folder left behind
    save_run("r", {"n": 5000, "mode": "full"}, {"score": 99.0}, {"seed": 2}, root=tmp_path)
    assert load_run("r", {"n": 5000, "mode": "full"}, root=tmp_path).metrics == {"score": 99.0}
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_full_and_loaded_runs_give_the_same_plain_data(tmp_path):
    import numpy as np

    def compute():
        return {"count": np.int64(3), "by_n": {8: np.float64(1.5)}, "pair": (1, 2),
                "curve": np.arange(3.0), "bad": float("inf")}

    full = load_or_run("d", {}, {}, compute, full_mode=True, root=tmp_path)
    loaded = load_or_run("d", {}, {}, compute, full_mode=False, root=tmp_path)
    expected = {"count": 3, "by_n": {"8": 1.5}, "pair": [1, 2], "curve": [0.0, 1.0, 2.0],
                "bad": None}
    assert full.metrics == loaded.metrics == expected


def test_provenance_records_versions_machine_and_commit():
    prov = provenance(seed=7, wall_s=1.5)
    assert prov["seed"] == 7 and prov["wall_s"] == 1.5
    assert prov["versions"]["python"] and prov["versions"]["numpy"]
    assert prov["machine"]["cpus"] >= 1 and prov["machine"]["cpu"]
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    # the simulator too: the program's version and the library the engine loads
    assert re.fullmatch(r"\d+(\.\d+)*\S*", prov["versions"]["ngspice"])
    assert "libngspice" in prov["versions"]["libngspice"]
    assert prov["code"] == {"packages": [], "files": {}}
    coded = provenance(code=["circuits.runs"])
    assert set(coded["code"]["files"]) >= {"circuits/runs.py"}


def _package(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def demo_package(tmp_path, monkeypatch):
    """A throw-away package ``fpdemo``: ``work`` imports ``helper``; ``other`` is unrelated."""
    import importlib
    import sys

    src = tmp_path / "src"
    _package(src, {
        "fpdemo/__init__.py": "",
        "fpdemo/work.py": "from .helper import scale\n\ndef compute(n):\n"
                          "    return {'v': scale(n)}\n",
        "fpdemo/helper.py": "def scale(n):\n    return 2 * n\n",
        "fpdemo/other.py": "X = 1\n",
        "fpdemo/data/table.json": "{}\n",
    })
    monkeypatch.syspath_prepend(str(src))
    importlib.invalidate_caches()
    yield src / "fpdemo"
    for name in [m for m in sys.modules if m == "fpdemo" or m.startswith("fpdemo.")]:
        del sys.modules[name]


def test_code_files_follow_imports_and_keep_data(demo_package):
    from circuits.runs import code_files

    assert list(code_files(["fpdemo.work"])) == [
        "fpdemo/data/table.json", "fpdemo/helper.py", "fpdemo/work.py"]
    assert "fpdemo/other.py" in code_files(["fpdemo"])
    with pytest.raises(ValueError, match="no importable"):
        code_files(["fpdemo_missing"])


def test_a_run_is_stale_after_a_dependency_changes(demo_package, tmp_path):
    import importlib

    work = importlib.import_module("fpdemo.work")
    results = tmp_path / "results"
    full = load_or_run("fpdemo/r", {"n": 3}, {"n": 1}, work.compute, full_mode=True,
                       root=results)
    assert full.metrics == {"v": 6}
    recorded = full.provenance["code"]
    assert recorded["packages"] == ["fpdemo.work"] and "fpdemo/helper.py" in recorded["files"]
    fresh = load_or_run("fpdemo/r", {"n": 3}, {"n": 1}, work.compute, full_mode=False,
                        root=results)
    assert fresh.saved and fresh.stale is False and "older code" not in fresh.describe()
    # an unrelated module changes: still current
    (demo_package / "other.py").write_text("X = 2\n")
    assert load_run("fpdemo/r", {"n": 3, "mode": "full"}, root=results).stale is False
    # a module the computation imports changes: stale, quoted all the same, and says so
    (demo_package / "helper.py").write_text("def scale(n):\n    return 3 * n\n")
    stale = load_or_run("fpdemo/r", {"n": 3}, {"n": 1}, work.compute, full_mode=False,
                        root=results)
    assert stale.metrics == {"v": 6} and stale.stale is True
    assert stale.changed == ("fpdemo/helper.py",)
    # a caller about to compute anew takes it as absent
    assert load_run("fpdemo/r", {"n": 3, "mode": "full"}, root=results, current=True) is None
    text = stale.describe()
    assert "made by older code" in text and full.commit in text and "helper.py" in text
    # a data file changes, or one is added: stale too
    (demo_package / "helper.py").write_text("def scale(n):\n    return 2 * n\n")
    assert load_run("fpdemo/r", {"n": 3, "mode": "full"}, root=results).stale is False
    (demo_package / "data" / "more.json").write_text("[]\n")
    again = load_run("fpdemo/r", {"n": 3, "mode": "full"}, root=results)
    assert again.stale is True and again.changed == ("fpdemo/data/more.json",)
    # re-running in full mode makes it current again
    load_or_run("fpdemo/r", {"n": 3}, {"n": 1}, work.compute, full_mode=True, root=results)
    assert load_run("fpdemo/r", {"n": 3, "mode": "full"}, root=results).stale is False


def test_saved_runs_are_listed_with_their_status(demo_package, tmp_path, capsys):
    import importlib

    from circuits.bookinfo import main, runs_table
    from circuits.runs import saved_runs

    work = importlib.import_module("fpdemo.work")
    results = tmp_path / "results"
    for name in ("fpdemo/a", "fpdemo/b"):
        load_or_run(name, {"n": 3}, {"n": 1}, work.compute, full_mode=True, root=results)
    (results / "fpdemo" / ".b.new.x").mkdir()  # a save in progress is not a run
    (demo_package / "work.py").write_text((demo_package / "work.py").read_text() + "# edit\n")
    runs = saved_runs(results)
    assert [(r.name, r.status()) for r in runs] == [("fpdemo/a", "stale"), ("fpdemo/b", "stale")]
    rows = runs_table(runs)
    assert rows[0][0] == "`fpdemo/a`" and rows[0][4] == "stale (1 file changed)"
    assert rows[0][3].endswith(f"on {runs[0].machine()}")
    main(["stale", "--root", str(results)])
    out = capsys.readouterr().out
    assert "fpdemo/a: stale" in out and "changed: fpdemo/work.py" in out


def test_a_run_without_a_fingerprint_is_judged_by_git(tmp_path):
    from circuits.runs import _git, staleness

    head = _git("rev-parse", "HEAD")
    if head is None:
        pytest.skip("not a git checkout")
    # the commit that added the first saved run predates every change since to these files
    first = _git("rev-list", "--max-parents=0", "HEAD")
    stale, changed = staleness("circuits/x", {"git_commit": first.splitlines()[0]},
                               code=["circuits.runs"])
    assert stale is True and "circuits/runs.py" in changed
    unknown = staleness("circuits/x", {"git_commit": "0" * 40}, code=["circuits.runs"])
    assert unknown == (None, ())


def test_notebooks_quote_a_run_by_its_name_or_its_folder(tmp_path):
    from circuits.runs import quoting_notebooks

    def notebook(name, code, markdown=""):
        cells = [{"cell_type": "code", "source": [code]},
                 {"cell_type": "markdown", "source": [markdown]}]
        (tmp_path / f"{name}.ipynb").write_text(json.dumps({"cells": cells}))

    notebook("by_name", 'run = load_or_run("macro/experiment/full/bobo-exp1", ...)')
    notebook("by_folder", "RUNS = 'macro/experiment/full/'\nruns = load_runs('full')")
    notebook("other_run", 'load_or_run("macro/experiment/full/bobo-exp12", ...)')
    notebook("other_folder", 'RUNS = "macro/experiment/quick/"\nx = "macro/exp"')
    notebook("prose_only", "x = 1", "the run `macro/experiment/full/bobo-exp1`")
    found = [p.stem for p in quoting_notebooks("macro/experiment/full/bobo-exp1", tmp_path)]
    assert found == ["by_folder", "by_name"]
    assert [p.stem for p in quoting_notebooks("macro/experiment/full/dvae", tmp_path)] == [
        "by_folder"]


class _EditableFinder:
    """Finds the package ``fpshadow`` under ``root`` after the path finder, as an editable
    install's finder does (``pip install -e``)."""

    def __init__(self, root):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        import importlib.util

        parts = fullname.split(".")
        if parts[0] != "fpshadow":
            return None
        if parts[-1] == "__init__":
            parts = parts[:-1]
        base = self.root.joinpath(*parts)
        if (base / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                fullname, base / "__init__.py", submodule_search_locations=[str(base)])
        if base.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(fullname, base.with_suffix(".py"))
        return None


def test_a_folder_named_like_the_package_does_not_change_its_fingerprint(tmp_path, monkeypatch):
    # a notebook of book/ runs in book/, where book/macro (chapters) is named like the package
    # macro: with an editable install, the import system then sees that folder as a namespace
    # package `macro`, and the fingerprint must still be taken of the real package
    import importlib
    import sys

    from circuits.runs import code_files

    _package(tmp_path / "src", {
        "fpshadow/__init__.py": "", "fpshadow/work.py": "from . import helper\n",
        "fpshadow/helper.py": "X = 1\n", "fpshadow/other.py": "Y = 2\n"})
    _package(tmp_path / "book", {"fpshadow/index.md": "# a chapter\n"})
    monkeypatch.chdir(tmp_path / "book")
    monkeypatch.syspath_prepend(str(tmp_path / "book"))
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, _EditableFinder(tmp_path / "src")])
    importlib.invalidate_caches()
    try:
        assert list(code_files(["fpshadow.work"])) == ["fpshadow/helper.py", "fpshadow/work.py"]
        assert list(code_files(["fpshadow"])) == [
            "fpshadow/__init__.py", "fpshadow/helper.py", "fpshadow/other.py", "fpshadow/work.py"]
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fpshadow"]:
            del sys.modules[name]


@pytest.fixture
def three_packages(tmp_path, monkeypatch):
    """Throw-away packages ``cdapp``, ``cdlib`` and ``cdext``: ``cdapp.work`` imports a name
    that ``cdlib/__init__`` takes from ``cdlib.core`` (which imports ``cdlib.util``) and the
    module ``cdlib.extra``; ``cdlib.unused`` is imported by nothing and imports ``cdext.x``;
    ``cdlib.sub`` is a subpackage with a module ``mod``."""
    import importlib
    import sys

    src = tmp_path / "src"
    _package(src, {
        "cdapp/__init__.py": "",
        "cdapp/work.py": "from cdlib import thing\nimport cdlib.extra\n\nfrom .local import x\n",
        "cdapp/local.py": "x = 1\n",
        "cdlib/__init__.py": "from .core import thing\n\nOWN = 1\n",
        "cdlib/core.py": "from .util import f\n\nthing = f()\n",
        "cdlib/util.py": "def f():\n    return 1\n",
        "cdlib/extra.py": "y = 2\n",
        "cdlib/unused.py": "import cdext.x\n",
        "cdlib/sub/__init__.py": "",
        "cdlib/sub/mod.py": "w = 4\n",
        "cdext/__init__.py": "",
        "cdext/x.py": "v = 5\n",
    })
    monkeypatch.syspath_prepend(str(src))
    importlib.invalidate_caches()
    yield src
    for name in [m for m in sys.modules if m.split(".")[0] in ("cdapp", "cdlib", "cdext")]:
        del sys.modules[name]


def test_code_dependencies_follow_imports_across_packages(three_packages):
    from circuits.runs import code_dependencies, code_files

    tops = ("cdapp", "cdlib", "cdext")
    work = three_packages / "cdapp" / "work.py"
    deps = code_dependencies("cdapp.work", tops)
    # the name from cdlib's __init__ is traced to the module that defines it
    assert deps == ["cdapp.work", "cdlib.core", "cdlib.extra"]
    files = code_files(deps)
    assert "cdlib/util.py" in files and "cdapp/local.py" in files
    assert "cdlib/unused.py" not in files and "cdlib/__init__.py" not in files
    # a module another one already covers is not listed twice
    work.write_text("from cdlib import thing\nfrom cdlib.util import f\n")
    assert code_dependencies("cdapp.work", tops) == ["cdapp.work", "cdlib.core"]
    # a submodule imported by name from a subpackage is that module
    work.write_text("from cdlib.sub import mod\n")
    assert code_dependencies("cdapp.work", tops) == ["cdapp.work", "cdlib.sub.mod"]
    # a name the __init__ defines itself brings the whole package, with what any of its
    # modules imports from the others; a whole package is never dropped for a module of it
    work.write_text("from cdlib import OWN\nimport cdlib.extra\n")
    assert code_dependencies("cdapp.work", tops) == ["cdapp.work", "cdext.x", "cdlib"]
    assert "cdlib/unused.py" in code_files(code_dependencies("cdapp.work", tops))
    with pytest.raises(ValueError, match="not in the packages"):
        code_dependencies("json.decoder", tops)


def test_the_engine_is_in_the_fingerprint_of_the_transistor_level_runs():
    from circuits.runs import code_files
    from macro import gmid, transistor

    for files in (code_files(transistor.dependencies()), code_files(gmid.dependencies())):
        assert {"circuits/engine.py", "circuits/simulator.py", "circuits/pool.py",
                "circuits/characterize.py"} <= set(files)
        # what the runs do not use is not in it: the book's checker, the CLIs, the agents
        assert not {"circuits/bookcheck.py", "circuits/cli.py", "macro/cli.py",
                    "lorarl/ddpg.py"} & set(files)


def test_a_run_of_a_project_module_records_the_other_packages_it_imports(tmp_path):
    def compute():
        return {"v": 1}

    compute.__module__ = "macro.bench"  # simulates through circuits.Simulator
    run = load_or_run("cross", {}, {}, compute, full_mode=True, root=tmp_path)
    recorded = run.provenance["code"]
    assert "macro.bench" in recorded["packages"] and any(
        p.startswith("circuits.") for p in recorded["packages"])
    assert {"macro/bench.py", "circuits/simulator.py", "circuits/engine.py",
            "circuits/native/fastpath.c"} <= set(recorded["files"])
    assert load_run("cross", {"mode": "full"}, root=tmp_path).stale is False
