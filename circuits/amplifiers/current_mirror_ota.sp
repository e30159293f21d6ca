* Circuit C (LoRA-RL Figure 3): current-mirror (symmetrical) OTA.
* NMOS pair M1/M2 with tail M5 into PMOS diodes M3/M4; PMOS mirrors M6/M7 (ratio w67/w34)
* and the NMOS mirror M8/M9 deliver the differential current to the single output node.
* M10 is the bias diode of the reference current Iref. The load capacitor compensates.
* Header defaults are the 45 nm reference sizing (current_mirror_ota.json).
* Pins: inp inn out vdd vss. Generic device names nch/pch are resolved by the technology.
*@param w12   width       M1 M2 input-pair width
*@param l12   length      M1 M2 input-pair length
*@param w34   width       M3 M4 PMOS diode width
*@param l34   length      M3 M4 M6 M7 PMOS mirror length
*@param w67   width       M6 M7 PMOS output-mirror width
*@param w89   width       M8 M9 NMOS mirror width
*@param l89   length      M8 M9 NMOS mirror length
*@param w5    width       M5 tail current-source width
*@param wb    width       M10 bias diode width
*@param lb    length      M5 M10 bias-mirror length
*@param ibias current     1e-6 2e-4 reference bias current
.subckt current_mirror_ota inp inn out vdd vss w12=1u l12=90n w34=0.7u l34=360n w67=1.4u
+ w89=0.7u l89=360n w5=1.5u wb=1.5u lb=360n ibias=5u
M1 n1 inn tail vss nch W={w12} L={l12}
M2 n2 inp tail vss nch W={w12} L={l12}
M3 n1 n1 vdd vdd pch W={w34} L={l34}
M4 n2 n2 vdd vdd pch W={w34} L={l34}
M5 tail nb vss vss nch W={w5} L={lb}
M6 n3 n1 vdd vdd pch W={w67} L={l34}
M7 out n2 vdd vdd pch W={w67} L={l34}
M8 n3 n3 vss vss nch W={w89} L={l89}
M9 out n3 vss vss nch W={w89} L={l89}
M10 nb nb vss vss nch W={wb} L={lb}
Iref vdd nb DC {ibias}
.ends current_mirror_ota
