"""The book's account of itself: feature registries checked against the code, build info."""

import pytest

from circuits.bookinfo import FeatureStatus, build_info, feature_status, resolve, status_table


def test_registry_entries_are_checked_against_code_and_tests(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text("from circuits.runs import save_run\n\n"
                                     "def test_it():\n    save_run\n")
    entries = (
        ("1", "saving", "circuits.runs:save_run"),          # exists, named by a test
        ("2", "loading", "circuits.runs:load_run"),         # exists, no test names it
        ("3", "a method", "circuits.nowhere:thing"),        # module missing
        ("4", "a class", "circuits.runs:Run.nothing"),      # attribute missing
    )
    got = feature_status(entries, tests=tests)
    assert [s.state for s in got] == ["implemented", "untested", "not yet", "not yet"]
    assert "No module named 'circuits.nowhere'" in got[2].reason
    assert "nothing" in got[3].reason
    rows = status_table(got)
    assert rows[0] == ["1", "saving", "`circuits.runs:save_run`", "implemented"]
    assert rows[2][3] == "not yet"


def test_a_module_that_fails_to_import_is_not_yet_with_the_reason(tmp_path, monkeypatch):
    (tmp_path / "brokenmod_h3.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (status,) = feature_status([("1", "x", "brokenmod_h3:f")], tests=tmp_path)
    assert status.state == "not yet" and "half written" in status.reason


def test_resolve_rejects_a_malformed_target():
    with pytest.raises(ValueError, match=r"package\.module:attribute"):
        resolve("circuits.runs.save_run")
    assert resolve("circuits.runs:Run.describe") is not None


def test_part_registries_are_plain_data_with_dotted_targets():
    from circuits.bookinfo import PARTS, registry

    for package in PARTS:
        entries = registry(package)
        assert entries and all(len(e) == 3 and all(isinstance(x, str) and x for x in e)
                               for e in entries)
        assert all(e[2].startswith(f"{package}.") and ":" in e[2] for e in entries)
        assert all(isinstance(s, FeatureStatus) for s in feature_status(entries))


def test_build_info_names_commit_mode_versions_and_ngspice(monkeypatch):
    monkeypatch.setenv("BOOK_QUICK", "1")
    info = build_info()
    assert info["mode"] == "quick"
    assert info["versions"]["python"] and info["versions"]["jupyter-book"]
    assert info["ngspice"]["ngspice"] and info["machine"]["cpus"] >= 1
    assert info["commit"] is None or len(info["commit"]) == 40


def test_a_test_names_a_target_only_when_it_imports_its_module(tmp_path):
    from circuits.bookinfo import names_target

    target = "circuits.runs:save_run"
    assert names_target("from circuits.runs import save_run\n", target)
    assert names_target("from circuits import runs as R\nR.save_run()\n", target)
    assert names_target("from circuits import (\n    notebook,\n    runs,\n)\nruns.save_run\n",
                        target)
    assert names_target("import circuits.runs\ncircuits.runs.save_run()\n", target)
    # the word alone, another module of that name, or the import without the name: not tested
    assert not names_target("def test_it():\n    save_run = 1\n", target)
    assert not names_target("from lorarl.runs import save_run\n", target)
    assert not names_target("from mycircuits.runs import save_run\n", target)
    assert not names_target("from circuits.runs_old import save_run\n", target)
    assert not names_target("from circuits.runs import load_run\n", target)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_y.py").write_text("def test_it():\n    save_run = 'a word'\n")
    (status,) = feature_status([("1", "saving", target)], tests=tests)
    assert status.state == "untested"


def test_the_status_box_counts_the_states_in_words():
    from circuits.bookinfo import status_box

    def status(feature, exists, tested):
        return FeatureStatus("1", feature, "circuits.runs:x", exists, tested)

    one_each = [status("a", True, True), status("b", True, False), status("c", False, False)]
    assert status_box("macro", one_each) == (
        "Of the 3 features of MACRO that this book tracks, 1 is implemented and tested, 1 exists "
        "without a test that names it, and 1 is not implemented yet (first: c).")
    two_each = [status("a", True, True), status("d", True, True), status("b", True, False),
                status("e", True, False), status("c", False, False), status("f", False, False)]
    assert status_box("lorarl", two_each) == (
        "Of the 6 features of LoRA-RL that this book tracks, 2 are implemented and tested, 2 "
        "exist without a test that names them, and 2 are not implemented yet (first: c).")
    assert status_box("lorarl", two_each[:2]).endswith("2 are implemented and tested.")
