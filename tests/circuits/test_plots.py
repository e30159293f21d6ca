"""The book's figures: readable text, circuit graphs placed by stage, sizing tables with units."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from circuits import get_amplifier, get_technology, list_amplifiers
from circuits.graph import circuit_graph
from circuits.plots import (
    FIGURE_WIDTH,
    graph_layout,
    markdown_table,
    plot_bode,
    plot_circuit_graphs,
    reference_sizing_table,
)
from circuits.results import SimulationResult


def _texts(fig):
    """The texts a reader sees: tick labels of hidden axes are not drawn."""
    fig.canvas.draw()
    hidden = {id(t) for ax in fig.axes if not ax.axison
              for t in ax.get_xticklabels() + ax.get_yticklabels()
              + [ax.xaxis.label, ax.yaxis.label, ax.xaxis.offsetText, ax.yaxis.offsetText]}
    return [t for t in fig.findobj(plt.Text)
            if t.get_text().strip() and t.get_visible() and id(t) not in hidden]


def _graphs():
    tech = get_technology("45nm")
    return {n: circuit_graph(get_amplifier(n), tech, get_amplifier(n).reference("45nm").params)
            for n in list_amplifiers()}


def test_graph_layout_puts_bias_left_load_right_and_pmos_above_nmos():
    for name, data in _graphs().items():
        pos = graph_layout(data)
        names = list(data.device_names)
        kinds = [int(k) for k in data.node_type]  # 0 nmos, 1 pmos
        x = {names[i]: p[0] for i, p in pos.items()}
        assert x["Cload"] == max(x.values()), name
        assert x["Iref"] == 0.0, name  # the bias source: no signal reaches it
        for col in set(x.values()):
            members = [i for i in pos if pos[i][0] == col]
            ys = [pos[i][1] for i in members if kinds[i] == 1]
            yn = [pos[i][1] for i in members if kinds[i] == 0]
            if ys and yn:
                assert min(ys) > max(yn), (name, col)
    two = graph_layout(_graphs()["two_stage"])
    names = list(_graphs()["two_stage"].device_names)
    col = {names[i]: p[0] for i, p in two.items()}
    assert col["M1"] < col["M6"] < col["Cload"]  # input stage, second stage, load


def test_figures_fit_the_page_and_their_text_reads_at_body_size():
    f = np.logspace(0, 9, 50)
    h = 1000 / (1 + 1j * f / 1e3)
    res = SimulationResult(ok=True, circuit="x", technology="45nm", params={}, frequency=f,
                           response=h, ugbw_hz=1e6)
    for fig in (plot_bode({"A": res}, "t"), plot_circuit_graphs(_graphs())):
        assert fig.get_size_inches()[0] <= FIGURE_WIDTH + 1e-9
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 11]
        assert small == []
        plt.close(fig)


def test_reference_sizing_table_has_units_values_and_reasons():
    amp = get_amplifier("two_stage")
    text = reference_sizing_table(amp, ["180nm", "45nm", "3nm"])
    lines = text.splitlines()
    assert lines[0] == "| parameter | sizes | unit | 180nm | 45nm |"
    ref = amp.reference("45nm")
    row = next(line for line in lines if line.startswith("| `l12`"))
    assert row.split("|")[3].strip() == "nm"
    assert row.split("|")[5].strip() == f"{ref.params['l12'] * 1e9:.3g}"
    assert next(line for line in lines if line.startswith("| `cc`")).split("|")[3].strip() == "pF"
    assert any(line.startswith("- **45nm**: ") and "\\*" in line for line in lines)  # escaped


def test_markdown_table_aligns_columns():
    assert markdown_table(["a", "b"], [[1, 2]]).splitlines()[1] == "| :--- | ---: |"
    with pytest.raises(TypeError):
        markdown_table(["a"], None)


def test_markdown_table_keeps_a_pipe_inside_its_cell():
    lines = markdown_table(["median |gm|", "b"], [["a|b", 2]]).splitlines()
    assert lines[0] == "| median \\|gm\\| | b |" and lines[2] == "| a\\|b | 2 |"


def test_span_and_listing_quote_results():
    from circuits.plots import listing, span

    assert span([3.0, None, 1200.0], 0, " ms") == "3 ms to 1,200 ms"
    assert span([2.04, 2.01], 1) == "2.0" and span([None]) == "—"
    assert listing(["A", "C"]) == "A, C" and listing([]) == "none"
