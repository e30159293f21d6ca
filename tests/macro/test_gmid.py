"""gm/Id tables of the 180 nm node: shape of the curves, look-ups, and the cache keyed by the
model card."""

import numpy as np
import pytest

import macro.gmid as gmid
from macro.gmid import GmIdError, GmIdTables, gmid_tables


@pytest.fixture(scope="module")
def tables():
    return gmid_tables("180nm", save=False)


def test_tables_cover_both_polarities_and_lengths(tables):
    for pol in ("n", "p"):
        t = tables[pol]
        assert t.gm_id.shape == t.jd.shape == t.gain.shape == (len(t.vds), len(t.lengths),
                                                                len(t.vgs))
        assert np.all(np.diff(t.lengths) > 0) and np.all(np.diff(t.vds) > 0)
        # strong inversion: gm/Id falls with |Vgs| after its peak; Jd rises
        row = t.gm_id[1, 0]
        peak = int(np.argmax(row))
        assert np.all(np.diff(row[peak + 5:]) < 0)
        assert np.all(np.diff(t.jd[1, 0][peak:]) > 0)


def test_lookup_longer_channel_more_gain_less_density(tables):
    vgs_s, jd_s, a_s = tables["n"].lookup(10.0, 0.18e-6)
    vgs_l, jd_l, a_l = tables["n"].lookup(10.0, 1.44e-6)
    assert a_l > 2 * a_s
    assert jd_l < jd_s / 3
    assert 0.3 < vgs_s < 1.2 and 0.3 < vgs_l < 1.2
    # the look-up inverts gm_id_at
    assert tables["n"].gm_id_at(vgs_l, 1.44e-6) == pytest.approx(10.0, rel=0.02)


def test_output_conductance_grows_at_low_vds(tables):
    """Channel-length modulation: the intrinsic gain at a quarter of VDD is well below the one
    at half VDD (the reason the tables keep |Vds|)."""
    low = tables["n"].lookup(10.0, 0.72e-6, vds=0.45)[2]
    mid = tables["n"].lookup(10.0, 0.72e-6)[2]
    between = tables["n"].lookup(10.0, 0.72e-6, vds=0.675)[2]
    assert low < 0.8 * mid
    assert low < between < mid


def test_unreachable_gm_id_and_length_are_errors(tables):
    with pytest.raises(GmIdError, match="not reached"):
        tables["n"].lookup(60.0, 0.36e-6)
    with pytest.raises(GmIdError, match="outside"):
        tables["p"].lookup(10.0, 50e-6)


def test_json_round_trip(tables):
    back = GmIdTables.from_json(tables.to_json())
    assert np.allclose(back.n.gain, tables.n.gain, rtol=1e-5)
    assert back.p.lookup(10.0, 0.72e-6) == pytest.approx(tables.p.lookup(10.0, 0.72e-6),
                                                         rel=1e-4)


@pytest.fixture
def computed(monkeypatch):
    """The technologies whose tables were computed (not loaded) while the test ran."""
    calls = []
    real = gmid.compute_tables

    def counting(tech):
        calls.append(tech)
        return real(tech)

    monkeypatch.setattr(gmid, "compute_tables", counting)
    return calls


def test_cache_is_reused_and_recomputed_when_the_model_card_changes(tmp_path, monkeypatch,
                                                                    computed):
    calls = computed
    gmid_tables("180nm", root=tmp_path)
    gmid_tables("180nm", root=tmp_path)
    assert len(calls) == 1
    assert (tmp_path / "macro/gmid/180nm/config.json").exists()
    monkeypatch.setattr(gmid, "model_card_hash", lambda tech: "another model card")
    gmid_tables("180nm", root=tmp_path)
    assert len(calls) == 2


def test_tables_made_by_older_code_are_recomputed(tmp_path, computed):
    import json

    calls = computed
    gmid_tables("180nm", root=tmp_path)
    prov_path = tmp_path / "macro/gmid/180nm/provenance.json"
    prov = json.loads(prov_path.read_text())
    assert "circuits/engine.py" in prov["code"]["files"]  # the engine is part of its code
    prov["code"]["files"]["circuits/engine.py"] = "0" * 64  # as if made by another engine
    prov_path.write_text(json.dumps(prov))
    gmid_tables("180nm", root=tmp_path)
    assert len(calls) == 2
    gmid_tables("180nm", root=tmp_path)  # current again: reused
    assert len(calls) == 2
