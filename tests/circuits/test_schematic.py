"""Schematics are drawn by code and checked against the netlists they show."""

import pytest
from matplotlib.figure import Figure

from circuits import Amplifier, get_amplifier, list_amplifiers
from circuits.schematic import (
    LAYOUTS,
    SchematicBuilder,
    SchematicError,
    draw_amplifier,
    draw_figure3,
    to_png,
)

SMALL = """
*@param w1 width  M1 width
*@param r1 resistance 1 1e6 load resistor
.subckt small inp inn out vdd vss w1=1u r1=10k
M1 out inp vss vss nch W={w1} L=90n
R1 vdd out {r1}
C1 inn vss 1p
.ends small
"""


def small_layout(b: SchematicBuilder, out: str = "wire") -> None:
    """The small circuit; ``out`` joins R1 and M1 by a ``"wire"``, by ``"tags"`` or not."""
    b.rail("vdd", 4.0, -1.0, 3.0)
    b.rail("vss", 0.0, -1.0, 3.0)
    b.mos("M1", (0.0, 0.0), gate="left")
    b.to_rail("M1.s", "vss")
    b.element("R1", (0.0, 4.0), (0.0, 2.5))
    b.to_rail("R1.p", "vdd")
    if out == "wire":
        b.wire("R1.n", b.point("out", (0.0, 2.0), "out"), "M1.d", dots=(1,))
    elif out == "tags":
        b.tag("R1.n", side="right")
        b.tag("M1.d", side="right")
    b.pin("M1.d", "out", side="left")
    b.pin("M1.g", "inp", side="left")
    b.element("C1", (2.0, 2.0), (2.0, 0.0))
    b.to_rail("C1.n", "vss")
    b.pin("C1.p", "inn", side="up")


@pytest.fixture
def small():
    return Amplifier.from_text(SMALL, source="small.sp")


def test_every_builtin_amplifier_has_a_checked_layout():
    assert set(LAYOUTS) == set(list_amplifiers())
    for name in list_amplifiers():
        png = to_png(draw_amplifier(name))
        assert png.startswith(b"\x89PNG")


def test_figure3_has_one_panel_per_amplifier():
    fig = draw_figure3()
    assert isinstance(fig, Figure)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == [f"{get_amplifier(n).label}: {n}" for n in list_amplifiers()]


def test_hand_checked_small_circuit_draws(small):
    draw_amplifier(small, small_layout)


def test_wire_between_different_nets_is_refused(small):
    def wrong(b):
        b.mos("M1", (0.0, 0.0))
        b.element("R1", (0.0, 4.0), (0.0, 2.5))
        b.wire("R1.p", "M1.d")  # vdd to out

    with pytest.raises(SchematicError, match="joins different nets"):
        draw_amplifier(small, wrong)


def test_missing_device_and_broken_net_are_reported(small):
    def partial(b):
        b.rail("vdd", 4.0, -1.0, 3.0)
        b.rail("vss", 0.0, -1.0, 3.0)
        b.mos("M1", (0.0, 0.0), gate="left")
        b.element("R1", (0.0, 4.0), (0.0, 2.5))
        b.to_rail("R1.p", "vdd")

    with pytest.raises(SchematicError) as err:
        draw_amplifier(small, partial)
    text = str(err.value)
    assert "devices not drawn: C1" in text
    assert "net out is drawn in 2 pieces" in text
    assert "pin inp is not labelled" in text


def test_unknown_device_and_bulk_off_rail_are_refused(small):
    with pytest.raises(SchematicError, match="does not have"):
        draw_amplifier(small, lambda b: b.mos("M7", (0.0, 0.0)))
    odd = Amplifier.from_text(SMALL.replace("M1 out inp vss vss", "M1 out inp vss inn"))
    with pytest.raises(SchematicError, match="bulk on inn"):
        draw_amplifier(odd, small_layout)


def test_layout_fails_when_the_netlist_changes_under_it():
    amp = get_amplifier("two_stage")
    text = amp.path.read_text().replace("M4 n2 n1 vdd vdd", "M4 n2 n2 vdd vdd")
    changed = Amplifier.from_text(text, name="two_stage", source="edited.sp")
    with pytest.raises(SchematicError, match=r"a wire joins different nets \['n1', 'n2'\]"):
        draw_amplifier(changed, LAYOUTS["two_stage"])


def test_net_tags_connect_like_wires(small):
    draw_amplifier(small, lambda b: small_layout(b, out="tags"))
    with pytest.raises(SchematicError, match="net out is drawn in 2 pieces"):
        draw_amplifier(small, lambda b: small_layout(b, out="none"))


def test_a_wire_drawn_over_another_net_is_a_short(small):
    def over_terminal(b):
        small_layout(b)
        # an inp stub routed straight through M1's source terminal (vss) and beyond
        b.wire("M1.g", (-2.0, 0.75), (-2.0, 0.0), (0.5, 0.0))

    with pytest.raises(SchematicError, match=r"M1\.s \(vss\) touches a wire of inp"):
        draw_amplifier(small, over_terminal)

    def along_a_wire(b):
        small_layout(b)
        b.wire("C1.p", (2.5, 2.0), (2.5, 4.0), (2.8, 4.0))  # inn runs along the vdd rail

    with pytest.raises(SchematicError, match="run over each other"):
        draw_amplifier(small, along_a_wire)


def test_wires_that_merely_cross_are_not_connected(small):
    def crossing(b):
        small_layout(b)
        b.wire("C1.p", (1.2, 2.0), (1.2, 2.2), (-1.5, 2.2))  # inn crosses out's wire at x = 0

    draw_amplifier(small, crossing)


def test_junctions_get_dots_and_crossings_of_different_nets_do_not(small):
    def layout(b: SchematicBuilder) -> None:
        small_layout(b, out="none")
        # R1.n to M1.d through (0, 2): a T-junction with the pin wire of out, drawn without dots
        b.wire("R1.n", (0.0, 2.0), "M1.d")
        # the inn net crosses the vertical out wire without joining it
        b.wire("C1.p", (2.0, 2.2), (-0.6, 2.2), (-0.6, 1.2))

    b = SchematicBuilder(small)
    layout(b)
    b.check()
    joins = b.junctions()
    assert (0.0, 1.5) in joins and joins[(0.0, 1.5)] == "out"  # pin stub meets M1's drain
    assert (0.0, 2.2) not in joins  # inn crosses out: no join
    added = b.mark_junctions()
    assert (0.0, 1.5) in added and b.stray_dots() == []
    assert b.mark_junctions() == []  # each junction is dotted once


def test_every_join_of_the_builtin_schematics_is_dotted_and_no_dot_is_stray():
    import schemdraw.elements as elm

    for name, layout in LAYOUTS.items():
        b = SchematicBuilder(get_amplifier(name))
        layout(b)
        b.check()
        assert b.stray_dots() == [], name  # the hand-placed dots are all on joins
        drawn = {(round(float(e.absanchors["start"][0]), 3) + 0.0,
                  round(float(e.absanchors["start"][1]), 3) + 0.0)
                 for e in draw_amplifier(name).elements
                 if isinstance(e, elm.Dot) and not e.params.get("open")}
        assert set(b.junctions()) <= drawn, (name, sorted(set(b.junctions()) - drawn))
