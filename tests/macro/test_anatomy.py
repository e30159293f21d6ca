"""Where a design's parameters sit in their ranges (the Table II chapter's anatomy table)."""

import pytest

from macro.anatomy import anatomy, anatomy_rows
from macro.design import Design
from macro.topology import Topology


def _corner(types):
    """Every gm at its lower bound, every stage gain at its upper bound, the rest default."""
    topo = Topology(types)
    values = dict(Design.default(topo).values)
    for s in topo.parameters():
        if s.kind == "gm":
            values[s.name] = s.lo
        elif s.kind == "rscl":
            values[s.name] = s.hi
    return topo, values


def test_a_default_design_sits_at_no_bound():
    topo = Topology((0, 0, 0, 0, 0))
    a = anatomy(topo.types, Design.default(topo).values)
    assert a["n_params"] == 6 and a["n_gm"] == 3 and a["n_gain"] == 3
    assert a["at_bound"] == a["gm_low"] == a["gain_high"] == 0
    assert len(a["stage_gm_s"]) == len(a["stage_gain"]) == 3


def test_the_low_power_corner_is_counted_and_draws_less_power():
    types = (0, 0, 4, 0, 0)  # a series R-C from n1 to vout: R and C stay at their defaults
    topo, values = _corner(types)
    a = anatomy(types, values)
    assert a["gm_low"] == a["n_gm"] == 3 and a["gain_high"] == a["n_gain"] == 3
    assert a["at_bound"] == 6 and a["n_params"] == 8
    lo_gm = min(s.lo for s in topo.parameters() if s.kind == "gm")
    hi_gain = max(s.hi for s in topo.parameters() if s.kind == "rscl")
    assert a["stage_gm_s"] == pytest.approx([lo_gm] * 3)
    assert a["stage_gain"] == pytest.approx([hi_gain] * 3)
    assert a["power_w"] < anatomy(types, Design.default(topo).values)["power_w"]


def test_the_table_has_a_row_per_repeat_and_dashes_for_a_missing_one():
    types = (0, 0, 4, 0, 0)
    _, values = _corner(types)
    header, rows = anatomy_rows({"bobo": [{"types": types, "values": values, "fom": 1.5e6},
                                          None]})
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    assert rows[0][:3] == ["BOBO", "exp1", "1,500,000"] and rows[0][-1] == "6 of 8"
    assert rows[1][2:] == ["–"] * (len(header) - 2)
