* Circuit D (LoRA-RL Figure 3): three-stage nested-Miller-compensated (NMC) op-amp.
* Stage 1: NMOS pair M1/M2, PMOS mirror M3/M4, tail M5. Stage 2 (non-inverting): common source
* M6 into the PMOS mirror M7/M8 with sink M9. Stage 3 (inverting): PMOS common source M10 with
* sink M11. M12 is the bias diode of Iref. Outer Miller capacitor Cm1 (n2-out), inner Cm2 (n3-out).
* Pins: inp inn out vdd vss. Generic device names nch/pch are resolved by the technology.
*@param w12   width       M1 M2 input-pair width
*@param l12   length      M1 M2 input-pair length
*@param w34   width       M3 M4 mirror-load width
*@param l34   length      M3 M4 mirror-load length
*@param w5    width       M5 tail current-source width
*@param w6    width       M6 second-stage driver width
*@param l6    length      M6 second-stage driver length
*@param w78   width       M7 M8 second-stage mirror width
*@param l78   length      M7 M8 second-stage mirror length
*@param w9    width       M9 second-stage sink width
*@param w10   width       M10 output driver width
*@param l10   length      M10 output driver length
*@param w11   width       M11 output sink width
*@param wb    width       M12 bias diode width
*@param lb    length      M5 M9 M11 M12 bias-mirror length
*@param ibias current     1e-6 2e-4 reference bias current
*@param cm1   capacitance 1e-14 1e-11 outer Miller capacitor
*@param cm2   capacitance 1e-14 1e-11 inner Miller capacitor
.subckt three_stage_nmc inp inn out vdd vss w12=1.5u l12=0.18u w34=1u l34=0.18u w5=3u w6=1.5u
+ l6=0.18u w78=2u l78=0.18u w9=3u w10=16u l10=0.18u w11=24u wb=1.5u lb=0.36u ibias=5u cm1=1.5p cm2=0.8p
M1 n1 inn tail vss nch W={w12} L={l12}
M2 n2 inp tail vss nch W={w12} L={l12}
M3 n1 n1 vdd vdd pch W={w34} L={l34}
M4 n2 n1 vdd vdd pch W={w34} L={l34}
M5 tail nb vss vss nch W={w5} L={lb}
M6 n3a n2 vss vss nch W={w6} L={l6}
M7 n3a n3a vdd vdd pch W={w78} L={l78}
M8 n3 n3a vdd vdd pch W={w78} L={l78}
M9 n3 nb vss vss nch W={w9} L={lb}
M10 out n3 vdd vdd pch W={w10} L={l10}
M11 out nb vss vss nch W={w11} L={lb}
M12 nb nb vss vss nch W={wb} L={lb}
Iref vdd nb DC {ibias}
Cm1 n2 out {cm1}
Cm2 n3 out {cm2}
.ends three_stage_nmc
