* Circuit A (LoRA-RL Figure 3): two-stage Miller-compensated op-amp, the reference circuit.
* NMOS differential pair M1/M2 with PMOS mirror load M3/M4 and tail M5; PMOS common-source
* second stage M6 with NMOS current sink M7; M8 is the diode that the reference current Iref
* biases; Miller capacitor Cc with nulling resistor Rz between the two stage outputs.
* Pins: inp inn out vdd vss. Generic device names nch/pch are resolved by the technology.
*@param w12   width       M1 M2 input-pair width
*@param l12   length      M1 M2 input-pair length
*@param w34   width       M3 M4 mirror-load width
*@param l34   length      M3 M4 mirror-load length
*@param w5    width       M5 tail current-source width
*@param w6    width       M6 second-stage driver width
*@param l6    length      M6 second-stage driver length
*@param w7    width       M7 second-stage current-sink width
*@param w8    width       M8 bias diode width
*@param lb    length      M5 M7 M8 bias-mirror length
*@param ibias current     1e-6 2e-4 reference bias current
*@param cc    capacitance 1e-14 1e-11 Miller compensation capacitor
*@param rz    resistance  10 1e5 nulling resistor in series with Cc
.subckt two_stage inp inn out vdd vss w12=2u l12=0.18u w34=1.5u l34=0.18u w5=3u w6=6u l6=0.18u
+ w7=6u w8=1.5u lb=0.36u ibias=10u cc=1p rz=1.6k
M1 n1 inn tail vss nch W={w12} L={l12}
M2 n2 inp tail vss nch W={w12} L={l12}
M3 n1 n1 vdd vdd pch W={w34} L={l34}
M4 n2 n1 vdd vdd pch W={w34} L={l34}
M5 tail nb vss vss nch W={w5} L={lb}
M6 out n2 vdd vdd pch W={w6} L={l6}
M7 out nb vss vss nch W={w7} L={lb}
M8 nb nb vss vss nch W={w8} L={lb}
Iref vdd nb DC {ibias}
Rz n2 nz {rz}
Cc nz out {cc}
.ends two_stage
