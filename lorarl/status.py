"""What the LoRA-RL part must cover: the paper's sections and features, each with the dotted
path (``"module:attribute"``) of the object that implements it.

Plain data, read by :func:`circuits.bookinfo.feature_status` for the book page "Status" and the
box at the top of the part "LoRA-RL": a feature shows as implemented when its target imports
and a test names it. Keep the targets pointing at the real objects as the package grows.
"""

#: (paper section, feature, target) for every feature of LoRA-RL (issue 8's scope).
FEATURES: tuple[tuple[str, str, str], ...] = (
    ("3.1", "Sizing environment: graph state, perturbation action, FoM reward",
     "lorarl.env:SizingEnv"),
    ("3.1", "Environments stepped together on the simulator's worker pool",
     "lorarl.env:VecSizingEnv"),
    ("3.1", "Flat-observation wrapper for Stable-Baselines3", "lorarl.env:FlatObservation"),
    ("3.2", "GCN backbone: three edge-featured graph convolutions, hidden 256",
     "lorarl.gcn:Backbone"),
    ("3.2", "Actor and critic heads", "lorarl.gcn:ActorCritic"),
    ("2.3, 3.2", "LoRA layer W0 + (alpha/r) B A on a frozen projection",
     "lorarl.lora:LoRALinear"),
    ("2.3", "Adapters on every projection, trainable-parameter count",
     "lorarl.lora:inject_lora"),
    ("Alg. 1", "DDPG actor-critic (replay, target networks, noise, warm-up)",
     "lorarl.ddpg:DDPG"),
    ("3.3", "Two-phase training: pre-training, then adapters only", "lorarl.train:transfer"),
    ("4", "Black-box baselines on the same budget (random, CMA-ES, BO)",
     "lorarl.baselines:run_baseline"),
    ("4", "Run folders, checkpoints and resume", "lorarl.runlog:RunLog"),
    ("4", "Experiment grid over circuits, nodes, methods and seeds", "lorarl.grid:run_grid"),
    ("4, Table 1", "Episodes and simulations to reach the target FoM",
     "lorarl.analysis:table_one"),
    ("4, Table 2", "Final FoM after convergence, GCN-RL against LoRA-RL",
     "lorarl.analysis:table_two"),
    ("4", "Learning-speed curves and ablations (rank, 22 nm, sample efficiency)",
     "lorarl.analysis:learning_curves"),
)
