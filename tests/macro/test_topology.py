"""The topology space: Table I, the 57-way action and its masks, validity, enumeration."""

import numpy as np
import pytest

from macro.design import Design, DesignError
from macro.topology import (
    CONNECTION_TYPES,
    N_ACTIONS,
    N_CHOICES,
    N_TOPOLOGIES,
    N_TYPES,
    TUNABLE_PAIRS,
    Topology,
    action_mask,
    action_offsets,
    enumerate_topologies,
    sample_topologies,
    table_one,
)


def test_action_space_sizes():
    assert N_TYPES == len(CONNECTION_TYPES) == 25
    assert N_CHOICES == (11, 11, 25, 5, 5)
    assert N_ACTIONS == sum(N_CHOICES) == 57
    assert action_offsets() == (0, 11, 22, 47, 52)
    assert TUNABLE_PAIRS[0] == ("vin", "n2") and TUNABLE_PAIRS[2] == ("n1", "vout")


def test_table_one_matches_the_paper():
    rows = {r["connection"]: r for r in table_one()}
    assert {k: r["total"] for k, r in rows.items()} == {
        "R / C": 2, "gm+ / gm-": 4, "R, C in parallel/serial": 2,
        "gm, R/C in parallel/serial": 16, "disconnection": 1}
    assert rows["gm+ / gm-"]["directions"] == "+/-"
    assert sorted(t for r in rows.values() for t in r["types"]) == list(range(25))
    # pairs limited to the first 11 types have no feedback gm; ground pairs only passives
    assert all(CONNECTION_TYPES[t].direction != "fb" for t in range(11))
    assert all(CONNECTION_TYPES[t].passive for t in range(5))
    assert all(not CONNECTION_TYPES[t].passive for t in range(5, 25))


def test_masks_open_one_block_per_step():
    chosen: tuple[int, ...] = ()
    covered = np.zeros(N_ACTIONS, dtype=int)
    for step, n in enumerate(N_CHOICES):
        mask = action_mask(step, chosen)
        assert mask.dtype == bool and mask.shape == (57,)
        assert mask.sum() == n
        start = action_offsets()[step]
        assert mask[start:start + n].all()
        covered += mask
        chosen = (*chosen, n - 1)
    assert (covered == 1).all()


@pytest.mark.parametrize("step, chosen", [(5, (0,) * 5), (-1, ()), (1, ()), (1, (11,)),
                                          (2, (0, 3, 1))])
def test_mask_rejects_bad_steps(step, chosen):
    with pytest.raises(ValueError):
        action_mask(step, chosen)


def test_enumeration_counts_75625_distinct_valid_topologies():
    tops = list(enumerate_topologies())
    assert len(tops) == N_TOPOLOGIES == 75_625
    assert len(set(tops)) == len(tops)
    assert all(t.is_valid() for t in tops[::997])


def test_actions_round_trip_and_reject_bad_input():
    rng = np.random.default_rng(0)
    for t in sample_topologies(200, rng):
        acts = t.to_actions()
        assert Topology.from_actions(acts) == t
        assert Topology.from_actions(acts[::-1]) == t  # any order
        assert all(action_mask(k, t.types[:k])[a] for k, a in enumerate(acts))
    with pytest.raises(ValueError):
        Topology.from_actions([0, 1, 22, 47, 52])  # two actions in the first block
    with pytest.raises(ValueError):
        Topology.from_actions([0, 11, 22, 47, 57])
    with pytest.raises(ValueError):
        Topology.from_actions([0, 11, 22, 47])


def test_validity_and_sampling():
    assert Topology((10, 10, 24, 4, 4)).is_valid()
    bad = Topology((11, 0, 0, 0, 0))
    assert not bad.is_valid() and "vin-n2" in bad.invalid_reason()
    assert not Topology((0, 0, 0, 5, 0)).is_valid()
    with pytest.raises(ValueError):
        bad.to_actions()
    with pytest.raises(ValueError):
        Topology((25, 0, 0, 0, 0))
    with pytest.raises(ValueError):
        Topology((0, 0, 0, 0))
    rng = np.random.default_rng(1)
    valid = sample_topologies(500, rng)
    assert all(t.is_valid() for t in valid)
    anything = sample_topologies(500, rng, valid_only=False)
    frac = np.mean([t.is_valid() for t in anything])
    expected = np.prod(N_CHOICES) / 25**5
    assert 0 < frac < 0.05 and abs(frac - expected) < 0.02


def test_parameters_follow_the_connection_types():
    names = [p.name for p in Topology((0, 0, 0, 0, 0)).parameters()]
    assert names == ["g1", "rscl1", "g2", "rscl2", "g3", "rscl3"]
    t = Topology((2, 5, 22, 4, 1))
    specs = {p.name: p for p in t.parameters()}
    assert specs["vin_n2_c"].lo == 1e-14 and specs["vin_n2_c"].hi == 1e-11  # C alone
    assert specs["vin_vout_gm"].lo == 1e-5 and specs["vin_vout_gm"].hi == 1e-2
    assert specs["n1_vout_c"].lo == 5e-13  # C in a combination
    assert specs["n1_gnd_r"].hi == 1e7 and specs["n2_gnd_r"].hi == 1e6
    assert specs["g1"].hi == 1e-3 and specs["rscl1"].lo == 40 and specs["rscl1"].hi == 80
    assert all(p.lo <= p.default <= p.hi for p in specs.values())


def test_graph_is_a_dag_in_signal_order():
    g = Topology((2, 0, 12, 3, 0)).graph()
    assert g.nodes == ("vin", "n1", "n2", "vout", "gnd")
    assert all(i < j for i, j, _ in g.edges)
    assert (0, 1, "+gm") in g.edges and (1, 3, 12) in g.edges and (0, 2, 2) in g.edges
    assert not any(i == 0 and j == 3 for i, j, _ in g.edges)  # disconnection omitted
    assert g.types[1, 3] == 12 and np.tril(g.types).sum() == 0


def test_design_validation_and_unit_coordinates():
    t = Topology((4, 0, 21, 0, 3))
    rng = np.random.default_rng(2)
    d = Design.random(t, rng)
    u = d.unit()
    assert u.shape == (len(t.parameters()),) and ((u >= 0) & (u <= 1)).all()
    back = Design.from_unit(t, u)
    assert all(np.isclose(back.values[k], v, rtol=1e-12) for k, v in d.values.items())
    assert Design(t).values["g1"] == pytest.approx(1e-4)  # defaults fill missing values
    with pytest.raises(DesignError, match="unknown"):
        Design(t, {"n1_gnd_r": 1e5})  # pair n1-gnd has no connection here
    with pytest.raises(DesignError, match="outside"):
        Design(t, {"g1": 2e-3})
    with pytest.raises(DesignError, match="finite"):
        Design(t, {"g1": float("nan")})
    with pytest.raises(DesignError, match="invalid topology"):
        Design(Topology((11, 0, 0, 0, 0)))
    with pytest.raises(DesignError):
        Design.from_unit(t, np.zeros(3))
    with pytest.raises(AttributeError):
        d.topology = t  # immutable


def test_every_node_of_every_connection_has_a_resistive_path_to_ground():
    """Main nodes have their stage's output resistance; an internal node ``x_<pair>`` of any
    allowed connection must reach a main node or ground through a resistor (so that every one
    of the 75,625 topologies has a non-singular DC conductance matrix)."""
    from macro.design import connection_recipes

    for pair, n in zip(TUNABLE_PAIRS, N_CHOICES, strict=True):
        for t in range(n):
            elements = connection_recipes(pair, t)[1]
            internal = {x for e in elements for x in (e.a, e.b) if x.startswith("x_")}
            for x in internal:
                assert any(e.kind == "R" and x in (e.a, e.b) for e in elements), (pair, t, x)
            assert len(internal) == (CONNECTION_TYPES[t].arrangement == "series")
