"""The edge-featured graph convolution on a hand-built graph, and the actor/critic on real
circuit graphs of different sizes."""

import torch

from lorarl.gcn import ActorCritic, Backbone, GCNConv, GraphLayout, encode, gcn_conv

torch.set_num_threads(1)


def _four_nodes():
    # 0 - 1 share two nets, 1 - 2 one net, 2 - 3 one net (each in both directions)
    edges = [(0, 1), (1, 0), (0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]
    ei = torch.tensor(edges, dtype=torch.long).t()
    attr = torch.tensor([[1, 0, 0, 0.5], [1, 0, 0, 0.5], [0, 1, 0, 0.2], [0, 1, 0, 0.2],
                         [0, 0, 1, 1.0], [0, 0, 1, 1.0], [1, 0, 0, 0.3], [1, 0, 0, 0.3]])
    return ei, attr


def test_gcn_conv_by_hand_on_four_nodes():
    ei, attr = _four_nodes()
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, -1.0]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])        # Theta, (3, 2)
    edge_weight = torch.tensor([[0.0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])  # Theta_e, (3, 4)
    bias = torch.tensor([0.1, 0.2, 0.3])
    out = gcn_conv(x, ei, attr, weight, edge_weight, bias)
    # degrees with self-loop: node0 1+2, node1 1+3, node2 1+2, node3 1+1
    d = [3.0, 4.0, 3.0, 2.0]
    h = x @ weight.t()

    def msg(j, i, e):
        return (h[j] + edge_weight @ attr[e]) / (d[i] * d[j]) ** 0.5

    expected = torch.stack([
        h[0] / d[0] + msg(1, 0, 1) + msg(1, 0, 3),
        h[1] / d[1] + msg(0, 1, 0) + msg(0, 1, 2) + msg(2, 1, 5),
        h[2] / d[2] + msg(1, 2, 4) + msg(3, 2, 7),
        h[3] / d[3] + msg(2, 3, 6),
    ]) + bias
    torch.testing.assert_close(out, expected)
    # a concrete value: node 3 = h3/2 + (h2 + [0.3, 1, 0]) / sqrt(6) + b
    n3 = torch.tensor([3.0, -1.0, 2.0]) / 2 + torch.tensor([1.3, 2.0, 2.0]) / 6 ** 0.5 + bias
    torch.testing.assert_close(out[3], n3)


def test_dense_module_equals_edge_by_edge_function():
    torch.manual_seed(0)
    ei, attr = _four_nodes()
    layout = GraphLayout.build(ei, 4, [[0], [1, 2], [3]], ["width", "length", "capacitance"])
    conv = GCNConv(2, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 4, 2)
    ea = torch.stack([attr, attr.flip(0)])
    out = conv(x, layout.adj, torch.matmul(layout.edge_agg, ea))
    for b in range(2):
        ref = gcn_conv(x[b], ei, ea[b], conv.lin.weight, conv.lin_edge.weight, conv.bias)
        torch.testing.assert_close(out[b], ref)
    # the normalised adjacency is symmetric with the self-loop weight 1/d on the diagonal
    torch.testing.assert_close(layout.adj, layout.adj.t())
    torch.testing.assert_close(layout.adj.diagonal(), torch.tensor([1 / 3, 1 / 4, 1 / 3, 1 / 2]))


def test_layout_rejects_bad_parameters():
    ei, _ = _four_nodes()
    import pytest

    with pytest.raises(ValueError, match="sizes no node"):
        GraphLayout.build(ei, 4, [[7]], ["width"])
    with pytest.raises(ValueError, match="kind"):
        GraphLayout.build(ei, 4, [[0]], ["voltage"])
    with pytest.raises(ValueError, match="outside"):
        GraphLayout.build(ei, 3, [[0]], ["width"])


def _real_layout(name):
    from circuits import circuit_graph, get_amplifier, get_technology
    from lorarl.env import parameter_nodes

    amp, tech = get_amplifier(name), get_technology("45nm")
    g = circuit_graph(amp, tech, amp.base(tech))
    nodes = parameter_nodes(name, "45nm")
    kinds = [p.kind for p in amp.parameters]
    return g, GraphLayout.build(g.edge_index, g.num_nodes, nodes, kinds)


def test_backbone_three_convolutions_with_layer_norm_and_relu():
    ei, attr = _four_nodes()
    layout = GraphLayout.build(ei, 4, [[0]], ["width"])
    bb = Backbone(14)
    assert len(bb.convs) == 3 and len(bb.norms) == 3
    assert bb.convs[0].lin.weight.shape == (256, 14)
    assert all(c.lin.weight.shape == (256, 256) for c in bb.convs[1:])
    h = bb(torch.randn(2, 4, 14), layout.adj, torch.matmul(layout.edge_agg, attr.expand(2, -1, -1)))
    assert h.shape == (2, 4, 256) and (h >= 0).all()  # ReLU last
    # each node's pre-ReLU output is layer-normalised: mean 0 over the features
    conv, norm = bb.convs[0], bb.norms[0]
    z = norm(conv(torch.randn(1, 4, 14), layout.adj, torch.zeros(1, 4, 4)))
    torch.testing.assert_close(z.mean(-1), torch.zeros(1, 4), atol=1e-5, rtol=0)


def test_one_network_for_graphs_of_different_sizes():
    torch.manual_seed(1)
    net = ActorCritic(hidden=32)
    for name in ("two_stage", "folded_cascode"):
        g, layout = _real_layout(name)
        x = g.x.expand(3, -1, -1)
        ea = g.edge_attr.expand(3, -1, -1)
        m = torch.zeros(3, 4)
        s = encode(layout, x, ea, m)
        assert s.shape == (3, g.num_nodes, 18)
        a = net.policy(layout, s)
        assert a.shape == (3, layout.num_params)
        assert a.abs().max() < 1
        # width and length of the same transistors get different actions
        assert len(set(a[0].round(decimals=6).tolist())) == layout.num_params
        q = net.q(layout, s, a)
        assert q.shape == (3,)
        assert not torch.allclose(q, net.q(layout, s, -a))  # the critic sees the action
        # the critic is not a sum of per-parameter terms: actions interact (a strong action
        # input makes the second-order effect visible at initialisation)
        with torch.no_grad():
            net.critic.lin1.weight[:, -1] *= 100
        b = a.clone()
        b[:, 0] = -b[:, 0]
        c = a.clone()
        c[:, 1] = -c[:, 1]
        bc = b.clone()
        bc[:, 1] = -bc[:, 1]
        lhs = net.q(layout, s, bc) - net.q(layout, s, b)
        rhs = net.q(layout, s, c) - net.q(layout, s, a)
        assert (lhs - rhs).abs().max() > 1e-4 * (lhs.abs().max() + 1e-6)
        assert not torch.allclose(lhs, rhs, rtol=1e-3, atol=1e-6)
        with torch.no_grad():
            net.critic.lin1.weight[:, -1] /= 100
