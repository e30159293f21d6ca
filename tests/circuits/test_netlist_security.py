"""A user netlist is data, never code: each way a netlist made ngspice run commands, write files,
fake metrics or show other files (every one escaped the former deny-list checker) is refused by
the allow-list reader, or made harmless by canonical writing. Canary files prove that nothing
ran."""

import os
import time

import pytest

from circuits import Amplifier, NetlistError, OpenLoopBench, ParameterError, get_technology

AMP = """*@param rz resistance 10 1e5 a resistor
.subckt amp inp inn out vdd vss rz=1k
G1 vss out inp inn 1m
R1 out vss 1meg
C1 out vss 1p
{extra}.ends amp
"""


def amp_text(extra: str = "") -> str:
    return AMP.format(extra=extra)


def control(canary) -> str:
    return f".control\nshell touch {canary}\n.endc\n"


def refused(path, match):
    """Reading ``path`` fails with a NetlistError whose message matches ``match``."""
    with pytest.raises(NetlistError, match=match) as info:
        Amplifier.from_file(path)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# Control blocks and commands


@pytest.mark.parametrize(("opening", "closing"), [
    (".controls", ".endcs"), (".CONTROLX", ".ENDCX"), (".control", ".endc"),
    (".contr", ".endc"), (".exec", ".endc")])
def test_control_keywords_matched_by_prefix_are_refused(tmp_path, opening, closing):
    canary = tmp_path / "canary"
    (tmp_path / "amp.sp").write_text(
        f"{opening}\nshell touch {canary}\n{closing}\n" + amp_text())
    msg = refused(tmp_path / "amp.sp", r"amp\.sp, line 1: statement not accepted")
    assert opening in msg
    assert not canary.exists()


@pytest.mark.parametrize("name", ["Rq>{canary}", "Rq`cat</dev/null>{canary}`",
                                  "Rq`touch${{IFS}}{canary}`", "Rq|tee", "R.x1.q"])
def test_device_names_that_would_reach_alter_commands_are_refused(tmp_path, name):
    canary = tmp_path / "canary"
    bad = name.format(canary=canary)
    (tmp_path / "amp.sp").write_text(amp_text(f"{bad} out vss {{rz}}\n"))
    refused(tmp_path / "amp.sp", r"amp\.sp, line 6: not a valid element name")
    assert not canary.exists()


def test_a_hand_built_device_cannot_reach_the_bench(tmp_path):
    """The bench writes every line again through the allow-list, so a Device built by hand
    (not read from a file) with a hostile name never reaches an alter command."""
    from dataclasses import replace

    from circuits.netlist import Device

    amp = Amplifier.from_text(amp_text("Rq out vss {rz}\n"))
    evil = Device(f"Rq>{tmp_path / 'canary'}", "R", ("out", "vss"), None, "{rz}")
    sub = replace(amp.subckt, devices=(*amp.subckt.devices[:-1], evil))
    with pytest.raises(NetlistError, match="not a valid element name"):
        OpenLoopBench(replace(amp, subckt=sub), get_technology("45nm"))
    bench = OpenLoopBench(amp, get_technology("45nm"))
    assert bench.alter_plan == [("r.x1.rq", {"resistance": "{rz}"})]
    assert bench.job({"rz": 2e3}).alters == ("r.x1.rq resistance=2000",)


# ---------------------------------------------------------------------------------------------
# Includes


@pytest.mark.parametrize("keyword", [".incl", ".includes", ".INCLUDEX", ".library", ".inclu"])
def test_include_spellings_outside_the_allow_list_are_refused(tmp_path, keyword):
    canary = tmp_path / "canary"
    (tmp_path / "evil.sp").write_text(control(canary))
    (tmp_path / "amp.sp").write_text(f"{keyword} {tmp_path / 'evil.sp'}\n" + amp_text())
    msg = refused(tmp_path / "amp.sp", r"amp\.sp, line 1: statement not accepted")
    assert keyword in msg
    assert not canary.exists()


@pytest.mark.parametrize("line", [".inc evil.sp", ".INCLUDE evil.sp", ".Include ./evil.sp",
                                  ".LIB evil.lib TT", ".lib evil.lib tt"])
def test_accepted_include_spellings_are_read_by_the_allow_list(tmp_path, line):
    canary = tmp_path / "canary"
    (tmp_path / "evil.sp").write_text("* models\n" + control(canary))
    (tmp_path / "evil.lib").write_text(".lib tt\n" + control(canary) + ".endl tt\n")
    (tmp_path / "amp.sp").write_text(line + "\n" + amp_text())
    msg = refused(tmp_path / "amp.sp",
                  r"amp\.sp, line 1: in the file it includes: .*evil\.(sp|lib), line 2: "
                  "statement not accepted")
    assert "shell" not in msg and str(canary) not in msg
    assert not canary.exists()


@pytest.mark.parametrize("where", ["include", "section"])
def test_star_hash_lines_never_reach_ngspice(tmp_path, sim, where):
    canary = tmp_path / "canary"
    if where == "include":
        (tmp_path / "inc.sp").write_text(f"*# shell touch {canary}\n.param zz=1\n")
        head = ".include inc.sp\n"
    else:
        (tmp_path / "inc.lib").write_text(
            f".lib tt\n*# shell touch {canary}\n.param zz=1\n.endl tt\n")
        head = ".lib inc.lib tt\n"
    (tmp_path / "amp.sp").write_text(head + f"*# shell touch {canary}\n" + amp_text())
    amp = Amplifier.from_file(tmp_path / "amp.sp")
    bench = sim.bench(amp, "45nm")
    assert "*#" not in bench.netlist and "shell" not in bench.netlist
    assert ".param zz=1" in bench.netlist
    res = sim.simulate(amp, "45nm")
    assert res.ok, res.reason
    assert not canary.exists()


@pytest.mark.parametrize("name", ['x"y.sp', "x'y.sp", "'x.sp'", '"x.sp"', "x,y.sp", "x$y.sp",
                                  "x`y`.sp", "~/x.sp", "x\u00e9.sp"])
def test_file_names_ngspice_would_split_differently_are_refused(tmp_path, name):
    canary = tmp_path / "canary"
    (tmp_path / "x").write_text(".param zz=1\n")
    (tmp_path / "x.sp").write_text(".param zz=1\n")
    (tmp_path / "amp.sp").write_text(f".include {name}\n" + amp_text())
    refused(tmp_path / "amp.sp", r"amp\.sp, line 1: (file name refused|character .* not allowed)")
    assert not canary.exists()


def test_nested_relative_includes_resolve_against_the_including_file(tmp_path, monkeypatch):
    """ngspice looked for ``inner.sp`` in its working directory first; now it opens no file a
    netlist names: the project reads ``dir/inner.sp`` and inlines it."""
    from circuits import Simulator

    canary = tmp_path / "canary"
    (tmp_path / "dir").mkdir()
    (tmp_path / "cwd").mkdir()
    (tmp_path / "dir" / "mid.sp").write_text(".include inner.sp\n")
    (tmp_path / "dir" / "inner.sp").write_text(".param zz=1\n")
    (tmp_path / "cwd" / "inner.sp").write_text(control(canary))
    (tmp_path / "amp.sp").write_text(".include dir/mid.sp\n" + amp_text())
    monkeypatch.chdir(tmp_path / "cwd")
    amp = Amplifier.from_file(tmp_path / "amp.sp")
    assert [os.path.basename(f) for f in amp.netlist.files] == ["mid.sp", "inner.sp"]
    with Simulator(workers=1, timeout=20.0) as sim:
        assert ".include" not in sim.bench(amp, "45nm").netlist
        res = sim.simulate(amp, "45nm")
    assert res.ok, res.reason
    assert not canary.exists()


def test_home_directory_includes_are_refused_at_any_depth(tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "evil.sp").write_text(control(canary))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "mid.sp").write_text("* fine so far\n.include ~/evil.sp\n")
    (tmp_path / "amp.sp").write_text(".include mid.sp\n" + amp_text())
    refused(tmp_path / "amp.sp", r"mid\.sp, line 2: file name refused")
    assert not canary.exists()


def test_an_included_file_changed_after_reading_does_not_matter(tmp_path, sim):
    canary = tmp_path / "canary"
    (tmp_path / "inc.sp").write_text(".param zz=1\n")
    (tmp_path / "amp.sp").write_text(".include inc.sp\n" + amp_text())
    amp = Amplifier.from_file(tmp_path / "amp.sp")
    (tmp_path / "inc.sp").write_text(control(canary))  # after the read, before the simulation
    bench = sim.bench(amp, "45nm")
    assert ".param zz=1" in bench.netlist and str(tmp_path) not in bench.netlist
    res = sim.simulate(amp, "45nm")
    assert res.ok, res.reason
    assert not canary.exists()


def test_elements_outside_the_subckt_are_refused(tmp_path):
    # a resistor at the top level would load the bench's output and fake the gain
    (tmp_path / "amp.sp").write_text(amp_text() + "Rfake out 0 1\n")
    refused(tmp_path / "amp.sp", r"amp\.sp, line 7: element outside a \.subckt refused")
    (tmp_path / "amp.sp").write_text(amp_text() + ".ac dec 10 1 1g\n")
    refused(tmp_path / "amp.sp", r"amp\.sp, line 7: statement not accepted")


def test_errors_never_show_the_lines_of_an_included_file(tmp_path):
    (tmp_path / "secret.txt").write_text("Rsecret_token_12345 a b {pass word}\nR2\n")
    (tmp_path / "amp.sp").write_text(f".include {tmp_path / 'secret.txt'}\n" + amp_text())
    msg = refused(tmp_path / "amp.sp", r"secret\.txt, line 1: bad value")
    assert "secret_token" not in msg and "pass" not in msg
    (tmp_path / "secret.txt").write_text("api_key_abcdef = 1\n")
    msg = refused(tmp_path / "amp.sp", r"secret\.txt, line 1: empty element line")
    assert "api_key" not in msg
    (tmp_path / "secret.txt").write_text("password: hunter2\n")
    msg = refused(tmp_path / "amp.sp", r"secret\.txt, line 1: unsupported element")
    assert "password" not in msg and "hunter2" not in msg


# ---------------------------------------------------------------------------------------------
# Size, depth and odd inputs


def _big(n: int) -> str:
    lines = [f"M{i} n{i} n{i + 1} vss vss nch W=1u L=0.1u" if i % 2 else f"R{i} n{i} n{i + 1} 1k"
             for i in range(n)]
    return ".subckt big inp inn out vdd vss\n" + "\n".join(lines) + "\nR_o n0 out 1k\n.ends\n"


def test_a_subckt_with_20000_elements_is_read_in_linear_time():
    def cpu(n):
        text = _big(n)
        start = time.process_time()
        amp = Amplifier.from_text(text)
        return time.process_time() - start, amp

    small = min(cpu(2000)[0] for _ in range(3))
    runs = [cpu(20000) for _ in range(2)]
    large = min(t for t, _ in runs)
    assert len(runs[0][1].subckt.devices) == 20001
    # linear reading gives a ratio of about 12 (CPU time, best of runs); quadratic reading
    # (list.count over the element names) gave about 100
    assert large / max(small, 1e-3) < 30


def test_device_values_that_cannot_be_computed_are_parameter_errors():
    amp = Amplifier.from_text(amp_text("Rd out vss {rz/(rz-2k)}\nCo out vss {1p*10^(rz/100)}\n"))
    bench = OpenLoopBench(amp, get_technology("45nm"))
    assert bench.alter_plan is not None
    assert len(bench.job({"rz": 1e3}).alters) == 2
    with pytest.raises(ParameterError, match=r"rd resistance.*division by zero"):
        bench.job({"rz": 2e3})
    with pytest.raises(ParameterError, match=r"co capacitance.*overflow"):
        bench.job({"rz": 5e4})


def test_a_candidate_whose_values_cannot_be_computed_fails_alone(sim):
    amp = Amplifier.from_text(amp_text("Rd out vss {1meg*rz/(rz-2k)}\n"))
    bad, good = sim.simulate_many(amp, "45nm", [{"rz": 2e3}, {"rz": 3e3}])
    assert not bad.ok and bad.failure.value == "invalid_parameter"
    assert "division by zero" in bad.reason
    assert good.ok, good.reason


def test_a_deep_include_chain_is_a_netlist_error(tmp_path):
    for i in range(40):
        (tmp_path / f"f{i}.sp").write_text(f".include f{i + 1}.sp\n")
    (tmp_path / "f40.sp").write_text(".param zz=1\n")
    (tmp_path / "amp.sp").write_text(".include f0.sp\n" + amp_text())
    refused(tmp_path / "amp.sp", "includes nested deeper than 16")
    (tmp_path / "f10.sp").write_text(".param zz=1\n")  # a chain of 11 files is fine
    assert len(Amplifier.from_file(tmp_path / "amp.sp").netlist.files) == 11


def test_non_ascii_names_are_refused_and_comments_may_hold_anything(tmp_path):
    (tmp_path / "amp.sp").write_text("* Verst\u00e4rker \u2014 \u00b5A\n"
                                     + amp_text("R\u00b5 out vss 1k\n"))
    refused(tmp_path / "amp.sp", r"amp\.sp, line 7: character '\\xb5' not allowed")
    (tmp_path / "amp.sp").write_text("* Verst\u00e4rker \u2014 \u00b5A\n" + amp_text())
    assert Amplifier.from_file(tmp_path / "amp.sp").subckt.name == "amp"


def test_fifos_devices_binary_and_huge_files_are_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.sp")  # opening it for reading would block forever
    refused(tmp_path / "fifo.sp", "not a regular file")
    (tmp_path / "amp.sp").write_text(".include fifo.sp\n" + amp_text())
    refused(tmp_path / "amp.sp", r"line 1: in the file it includes: .*fifo\.sp: not a regular")
    (tmp_path / "amp.sp").write_text(".include /dev/zero\n" + amp_text())
    refused(tmp_path / "amp.sp", "not a regular file")
    (tmp_path / "bin.sp").write_bytes(b".param a=1\n\x00\x01\x02")
    (tmp_path / "amp.sp").write_text(".include bin.sp\n" + amp_text())
    refused(tmp_path / "amp.sp", "a binary file")
    (tmp_path / "latin.sp").write_bytes(b"* caf\xe9\n.param a=1\n")
    (tmp_path / "amp.sp").write_text(".include latin.sp\n" + amp_text())
    refused(tmp_path / "amp.sp", "not UTF-8 text")
    with open(tmp_path / "huge.sp", "wb") as f:
        f.truncate(9 * 2**20)  # sparse: nothing is written to disk
    refused(tmp_path / "huge.sp", "larger than 8 MiB")


def test_names_given_in_python_cannot_add_lines_to_the_bench():
    from dataclasses import replace

    from circuits import DesignParameter, TechnologyError

    amp = Amplifier.from_text(amp_text(), name="amp\n.control\nshell touch x\n.endc")
    tech = replace(get_technology("45nm"), name="t\n.control")
    bench = OpenLoopBench(amp, tech)
    lines = bench.netlist.splitlines()
    assert lines[0].startswith("* open-loop AC bench: amp_.control_shell")  # one title line
    assert not any(ln.lstrip().lower().startswith((".control", ".endc", "shell"))
                   for ln in lines)
    evil = replace(amp, parameters=(DesignParameter("rz\n.control", "resistance", 10, 1e5),))
    with pytest.raises(NetlistError, match="parameter name"):
        OpenLoopBench(evil, get_technology("45nm"))
    with pytest.raises(TechnologyError, match="nmos device name"):
        replace(get_technology("45nm"), nmos="nch45\n.control")
