# Block design + bitstream for the preprocessing kernel on a PYNQ board (Vivado batch mode):
#
#   vivado -mode batch -source fpga/vivado/block_design.tcl \
#          -tclargs <board> <ip_repo_dir> <out_dir> <clock_mhz> [jobs]
#
# <board>: kv260 | zcu104 | pynq-z2. <ip_repo_dir>: the exported HLS IP (fpga/Makefile `hls`).
# Writes <out_dir>/adas_preprocess.bit and <out_dir>/adas_preprocess.hwh (the same base name,
# which is how pynq.Overlay finds the metadata). Written for Vivado 2024.1/2024.2; the board
# files (kv260_som, zcu104, pynq-z2) must be installed in Vivado's board store.
#
# Layout: the processing system's fabric clock 0 at <clock_mhz> drives the kernel; the kernel's
# control registers (s_axi_control) hang off the PS master port through an AXI interconnect;
# its three m_axi masters (gmem_in, gmem_tab, gmem_out) reach DDR through one high-performance
# slave port of the PS (HP0), whose 128-bit width matches the kernel's widened bursts.

if {[llength $argv] < 4} {
    puts "usage: block_design.tcl <board> <ip_repo_dir> <out_dir> <clock_mhz> \[jobs\]"
    exit 2
}
lassign $argv board ip_repo out_dir clock_mhz jobs
if {$jobs eq ""} { set jobs 4 }

switch -- $board {
    kv260 {
        set part xck26-sfvc784-2LV-c
        set board_part xilinx.com:kv260_som:part0:1.4
        set ps_vlnv xilinx.com:ip:zynq_ultra_ps_e
        set ps_rule xilinx.com:bd_rule:zynq_ultra_ps_e
    }
    zcu104 {
        set part xczu7ev-ffvc1156-2-e
        set board_part xilinx.com:zcu104:part0:1.1
        set ps_vlnv xilinx.com:ip:zynq_ultra_ps_e
        set ps_rule xilinx.com:bd_rule:zynq_ultra_ps_e
    }
    pynq-z2 {
        set part xc7z020clg400-1
        set board_part tul.com.tw:pynq-z2:part0:1.0
        set ps_vlnv xilinx.com:ip:processing_system7
        set ps_rule xilinx.com:bd_rule:processing_system7
    }
    default {
        puts "unknown board '$board': kv260, zcu104 or pynq-z2"
        exit 2
    }
}

set name adas_preprocess
set proj_dir [file join $out_dir vivado_project]
create_project $name $proj_dir -part $part -force
set_property board_part $board_part [current_project]
set_property ip_repo_paths [list [file normalize $ip_repo]] [current_project]
update_ip_catalog

create_bd_design $name
set ps [create_bd_cell -type ip -vlnv $ps_vlnv ps]
apply_bd_automation -rule $ps_rule -config {apply_board_preset "1"} $ps

if {$ps_vlnv eq "xilinx.com:ip:zynq_ultra_ps_e"} {
    set_property -dict [list \
        CONFIG.PSU__USE__M_AXI_GP0 {1} \
        CONFIG.PSU__USE__M_AXI_GP1 {0} \
        CONFIG.PSU__USE__M_AXI_GP2 {0} \
        CONFIG.PSU__USE__S_AXI_GP2 {1} \
        CONFIG.PSU__SAXIGP2__DATA_WIDTH {128} \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz \
    ] $ps
    set ps_master /ps/M_AXI_HPM0_FPD
    set ps_slave /ps/S_AXI_HP0_FPD
} else {
    set_property -dict [list \
        CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz \
    ] $ps
    set ps_master /ps/M_AXI_GP0
    set ps_slave /ps/S_AXI_HP0
}

set kernel [create_bd_cell -type ip -vlnv adas.dev:hls:preprocess_top:1.0 preprocess_top_0]

# Control: PS master -> kernel registers.
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
    Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
    Master $ps_master Slave /preprocess_top_0/s_axi_control intc_ip {New AXI Interconnect} \
] [get_bd_intf_pins preprocess_top_0/s_axi_control]

# Data: every kernel master -> DDR through the PS slave port (one SmartConnect/interconnect).
foreach m {m_axi_gmem_in m_axi_gmem_tab m_axi_gmem_out} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
        Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
        Master /preprocess_top_0/$m Slave $ps_slave intc_ip {Auto} \
    ] [get_bd_intf_pins $ps_slave]
}
assign_bd_address
validate_bd_design
save_bd_design

set bd_file [get_files $name.bd]
make_wrapper -files $bd_file -top
add_files -norecurse [file join $proj_dir $name.gen sources_1 bd $name hdl ${name}_wrapper.v]
set_property top ${name}_wrapper [current_fileset]

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    puts "implementation failed: see $proj_dir"
    exit 1
}

file mkdir $out_dir
file copy -force [file join $proj_dir $name.runs impl_1 ${name}_wrapper.bit] \
    [file join $out_dir $name.bit]
file copy -force [file join $proj_dir $name.gen sources_1 bd $name hw_handoff $name.hwh] \
    [file join $out_dir $name.hwh]

# What the build used and achieved: the README's expected figures come from these reports.
open_run impl_1
report_utilization -file [file join $out_dir utilization.txt]
report_timing_summary -file [file join $out_dir timing.txt]
puts "wrote [file join $out_dir $name.bit] and .hwh"
