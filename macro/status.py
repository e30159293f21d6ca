"""What the MACRO part must cover: the paper's sections and features, each with the dotted path
(``"module:attribute"``) of the object that implements it.

Plain data, read by :func:`circuits.bookinfo.feature_status` for the book page "Status" and the
box at the top of the part "MACRO": a feature shows as implemented when its target imports and a
test names it. Keep the targets pointing at the real objects as the package grows.
"""

#: (paper section, feature, target) for every feature of MACRO (issues 9 and 10's scope).
FEATURES: tuple[tuple[str, str, str], ...] = (
    ("II-B, III-A, Table I", "Topology space: 25 connection types, 57-way action, masks",
     "macro.topology:Topology"),
    ("II-B", "Enumeration of the 75,625 topologies", "macro.topology:enumerate_topologies"),
    ("II-B", "Behaviour-level design of a topology", "macro.design:Design"),
    ("II-B", "Batched small-signal solver", "macro.solver:evaluate"),
    ("II-B", "ngspice reference of the same design", "macro.reference:evaluate_ngspice"),
    ("II-C", "D-VAE over topology DAGs", "macro.dvae:DVAE"),
    ("III-A", "Agent T: topology policy with masked softmax", "macro.agents:AgentT"),
    ("III-B", "Agent P: Gaussian sizing policy", "macro.agents:AgentP"),
    ("III-C", "Reward, equations (14)-(16)", "macro.reward:score"),
    ("III-D, III-E", "Co-training by policy gradient, data pool", "macro.train:train"),
    ("IV-B", "BOBO baseline", "macro.baselines:bobo"),
    ("IV-B", "RLBO baseline", "macro.baselines:rlbo"),
    ("IV, Table II", "Behaviour-level experiment: three methods, three repeats",
     "macro.experiment:run_experiment"),
    ("IV-C", "gm/Id tables from ngspice", "macro.gmid:gmid_tables"),
    ("IV-C", "Mapping to a 180 nm transistor-level amplifier", "macro.mapping:map_design"),
    ("IV-C", "Constrained-BO re-optimisation in ngspice", "macro.reoptimise:reoptimise"),
    ("IV-D, Table III", "Transistor-level results of the best designs",
     "macro.transistor:table_three"),
)
