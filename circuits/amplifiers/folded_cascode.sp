* Circuit B (LoRA-RL Figure 3): folded-cascode OTA with PMOS input pair.
* PMOS pair M1/M2 with tail M0 folds into NMOS sinks M3/M4 and NMOS cascodes M5/M6; the load is
* a wide-swing PMOS cascode mirror (cascodes M7/M8, mirror M9/M10 with gates on node o1).
* Bias network from the reference current Iref: MB1 (vbn), MB2/MB3 (vbp), MB4/MB5 (NMOS cascode
* gate vcn), MB6/MB7 (PMOS cascode gate vcp). The load capacitor compensates.
* Header defaults are the 45 nm reference sizing (folded_cascode.json).
* Pins: inp inn out vdd vss. Generic device names nch/pch are resolved by the technology.
*@param w0    width       M0 tail current-source width
*@param w12   width       M1 M2 input-pair width
*@param l12   length      M1 M2 input-pair length
*@param w34   width       M3 M4 NMOS current-sink width
*@param w56   width       M5 M6 NMOS cascode width
*@param l56   length      M5 M6 NMOS cascode length
*@param w78   width       M7 M8 PMOS cascode width
*@param l78   length      M7 M8 PMOS cascode length
*@param w910  width       M9 M10 PMOS mirror width
*@param lp    length      M0 M9 M10 MB3 MB5 MB6 PMOS current-source length
*@param lnn   length      M3 M4 MB1 MB2 MB4 MB7 NMOS current-sink length
*@param wb1   width       MB1 MB2 MB7 NMOS bias-mirror width
*@param wb3   width       MB3 MB5 PMOS bias-mirror width
*@param wbcn  width       MB4 NMOS cascode-bias diode width
*@param wbcp  width       MB6 PMOS cascode-bias diode width
*@param ibias current     1e-6 2e-4 reference bias current Iref
.subckt folded_cascode inp inn out vdd vss w0=6.4u w12=8u l12=90n w34=3.2u w56=2u l56=360n
+ w78=1.5u l78=180n w910=3.2u lp=360n lnn=360n wb1=0.8u wb3=1.6u wbcn=0.12u wbcp=0.21u ibias=5u
M0 tail vbp vdd vdd pch W={w0} L={lp}
M1 f1 inp tail vdd pch W={w12} L={l12}
M2 f2 inn tail vdd pch W={w12} L={l12}
M3 f1 vbn vss vss nch W={w34} L={lnn}
M4 f2 vbn vss vss nch W={w34} L={lnn}
M5 o1 vcn f1 vss nch W={w56} L={l56}
M6 out vcn f2 vss nch W={w56} L={l56}
M7 o1 vcp p1 vdd pch W={w78} L={l78}
M8 out vcp p2 vdd pch W={w78} L={l78}
M9 p1 o1 vdd vdd pch W={w910} L={lp}
M10 p2 o1 vdd vdd pch W={w910} L={lp}
Iref vdd vbn DC {ibias}
MB1 vbn vbn vss vss nch W={wb1} L={lnn}
MB2 vbp vbn vss vss nch W={wb1} L={lnn}
MB3 vbp vbp vdd vdd pch W={wb3} L={lp}
MB4 vcn vcn vss vss nch W={wbcn} L={lnn}
MB5 vcn vbp vdd vdd pch W={wb3} L={lp}
MB6 vcp vcp vdd vdd pch W={wbcp} L={lp}
MB7 vcp vbn vss vss nch W={wb1} L={lnn}
.ends folded_cascode
