/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nl_tc's messages against what iproute2's tc sends for the same command, byte for byte.
 *
 * How the vectors were made: tc from iproute2 v7.1.0 (built from source; Debian 12's 6.1 sends
 * netem latency as 32-bit ticks in tc_netem_qopt, 6.10 and later as TCA_NETEM_LATENCY64 /
 * JITTER64 like chaosd) run under
 *     ip netns exec x strace -e trace=sendmsg -e write=3 tc <command>
 * in a scratch network namespace where lo is ifindex 1, on a kernel without sch_netem (the
 * kernel refuses, but strace still shows the request). The command line is above each vector;
 * the last one is ip(8)'s, for nl_link's IFB.
 * Sequence number and port id (bytes 8-15) are not compared. The netem delay tables (4096
 * int16 from /usr/lib/x86_64-linux-gnu/tc/{normal,pareto}.dist) are kept as their length and
 * FNV-1a 64 hash; the table chaosd loads (netem_dist_load) must hash the same. */
#include <arpa/inet.h>
#include <check.h>
#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nl_link.h"
#include "nl_tc.h"
#include "test-util.h"

struct vector {
	const char *name;
	const char *hex;
	size_t dist_n;      /* entries of the delay table cut off after the hex, 0 = none */
	uint64_t dist_fnv;  /* FNV-1a 64 of those table bytes */
};

static const struct vector vectors[] = {
	/* tc qdisc add dev lo parent 2:1 handle 8002: tbf rate 10mbit burst 1518 limit 62500
	 * (tc 6.1 of Debian 12: see expect_tbf for the bytes not compared) */
	{ "tbf_add",
	  "64040000240005067449156b00000000000000000100000000000280010002000000000008000100"
	  "74626600380402002800010003010000ffff0000d012130000000000000000000000000024f40000"
	  "184a00000000000008000600ee050000040402005d000000bb0000002801000086010000f4010000"
	  "51020000af0200001c0300007a030000e803000045040000a3040000100500006e050000dc050000"
	  "39060000970600000407000062070000d00700002d0800008b080000f808000056090000c4090000"
	  "210a00007f0a0000ec0a00004a0b0000b80b0000150c0000730c0000e00c00003e0d0000ac0d0000"
	  "090e0000670e0000d40e0000320f0000a00f0000fd0f00005b100000c81000002611000094110000"
	  "f11100004f120000bc1200001a13000088130000e513000043140000b01400000e1500007c150000"
	  "d915000037160000a41600000217000070170000cd1700002b18000098180000f618000064190000"
	  "c11900001f1a00008c1a0000ea1a0000581b0000b51b0000131c0000801c0000de1c00004c1d0000"
	  "a91d0000071e0000741e0000d21e0000401f00009d1f0000fb1f000068200000c620000034210000"
	  "91210000ef2100005c220000ba2200002823000085230000e323000050240000ae2400001c250000"
	  "79250000d725000044260000a2260000102700006d270000cb270000382800009628000004290000"
	  "61290000bf2900002c2a00008a2a0000f82a0000552b0000b32b0000202c00007e2c0000ec2c0000"
	  "492d0000a72d0000142e0000722e0000e02e00003d2f00009b2f00000830000066300000d4300000"
	  "313100008f310000fc3100005a320000c83200002533000083330000f03300004e340000bc340000"
	  "1935000077350000e435000042360000b03600000d3700006b370000d837000036380000a4380000"
	  "013900005f390000cc3900002a3a0000983a0000f53a0000533b0000c03b00001e3c00008c3c0000"
	  "e93c0000473d0000b43d0000123e0000803e0000dd3e00003b3f0000a83f00000640000074400000"
	  "d14000002f4100009c410000fa41000068420000c54200002343000090430000ee4300005c440000"
	  "b94400001745000084450000e245000050460000ad4600000b47000078470000d647000044480000"
	  "a1480000ff4800006c490000ca490000384a0000954a0000f34a0000604b0000be4b00002c4c0000"
	  "894c0000e74c0000544d0000b24d0000204e00007d4e0000db4e0000484f0000a64f000014500000"
	  "71500000cf5000003c5100009a5100000852000065520000c3520000305300008e530000fc530000"
	  "59540000b75400002455000082550000f05500004d560000ab5600001857000076570000e4570000"
	  "415800009f5800000c5900006a590000d8590000355a0000935a0000005b00005e5b0000cc5b0000"
	  "295c0000875c0000f45c0000525d0000c05d00001d5e00007b5e0000e85e0000465f0000b45f0000"
	  "116000006f600000dc6000003a610000a86100000562000063620000d06200002e6300009c630000"
	  "f9630000"
	  , 0, 0 },
	/* tc qdisc replace dev lo parent 2:1 handle 8002: tbf rate 1tbit burst 262144
	 *     limit 16777216 (tc 6.1) */
	{ "tbf_replace64",
	  "70040000240005057449156b00000000000000000100000000000280010002000000000008000100"
	  "74626600440402002800010003010000ffff0000ffffffff00000000000000000000000000000001"
	  "b90300000000000008000600000004000c00040000a2941a1d000000040402000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "00000000000000000000000000000000"
	  , 0, 0 },
	/* tc qdisc add dev lo clsact */
	{ "clsact_add",
	  "300000002400050668ee066b0000000000000000010000000000fffff1ffffff000000000b000100"
	  "636c736163740000"
	  , 0, 0 },
	/* tc qdisc del dev lo clsact */
	{ "clsact_del",
	  "300000002500050068ee066b0000000000000000010000000000fffff1ffffff000000000b000100"
	  "636c736163740000"
	  , 0, 0 },
	/* tc qdisc add dev lo root handle 1: htb direct_qlen 1000 */
	{ "htb_root",
	  "500000002400050668ee066b00000000000000000100000000000100ffffffff0000000008000100"
	  "687462002400020018000200030000000a00000000000000000000000000000008000500e8030000"
	  , 0, 0 },
	/* tc class add dev lo parent 1: classid 1:2a htb rate 1tbit ceil 1tbit burst 256k cburst
	 *     256k quantum 200000
	 */
	{ "htb_class",
	  "800800002800050668ee066b0000000000000000010000002a000100000001000000000008000100"
	  "68746200540802000c00060000a2941a1d0000000c00070000a2941a1d0000003000010003010000"
	  "ffff0000ffffffff03010000ffff0000ffffffff2100000021000000400d03000000000000000000"
	  "04040400010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000100000001000000010000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000002000000020000000200000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000030000000300000003000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000400000004000000040000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000005000000"
	  "05000000050000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000060000000600000006000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000700000007000000"
	  "07000000080000000800000008000000080000000800000008000000080000000800000008000000"
	  "08000000080000000800000008000000080000000800000008000000040403000100000001000000"
	  "01000000010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000100000001000000010000000100000001000000010000000100000001000000"
	  "01000000010000000200000002000000020000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000002000000020000000200000002000000"
	  "02000000020000000200000002000000020000000200000003000000030000000300000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000030000000300000003000000030000000300000003000000030000000300000003000000"
	  "03000000040000000400000004000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000400000004000000040000000400000004000000"
	  "04000000040000000400000004000000040000000500000005000000050000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000005000000"
	  "05000000050000000500000005000000050000000500000005000000050000000500000006000000"
	  "06000000060000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000060000000600000006000000060000000600000006000000"
	  "06000000060000000600000006000000070000000700000007000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000700000007000000"
	  "07000000070000000700000007000000070000000700000007000000070000000800000008000000"
	  "08000000080000000800000008000000080000000800000008000000080000000800000008000000"
	  "08000000080000000800000008000000"
	  , 0, 0 },
	/* tc class del dev lo classid 1:2a */
	{ "class_del",
	  "240000002900050068ee066b0000000000000000010000002a0001000000000000000000"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 5000 loss 5% */
	{ "netem_loss",
	  "4c0000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000001c0002000000000088130000cdcccc0c000000000000000000000000"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 100000 delay 100ms 10ms 25%
	 *     distribution normal loss 5% 10%
	 */
	{ "netem_delay_dist",
	  "782000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000004820020000000000a0860100cdcccc0c0000000000000000000000000c000a00"
	  "00e1f505000000000c000b00809698000000000010000100000000409a9999190000000004200200"
	  , 4096, UINT64_C(0x3f198b6014c3b3b8) },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 1000 delay 50ms reorder 25% 50%
	 *     gap 5
	 */
	{ "netem_reorder",
	  "740000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000004400020000000000e8030000000000000500000000000000000000000c000a00"
	  "80f0fa0200000000100001000000000000000000000000000c0003000000004000000080"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 1000 loss gemodel 1% 10% 70%
	 *     0.1%
	 */
	{ "netem_ge",
	  "640000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000003400020000000000e80300000000000000000000000000000000000018000580"
	  "14000200295c8f029a999919cdcccc4c37894100"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 1000 rate 100mbit */
	{ "netem_rate",
	  "600000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000003000020000000000e80300000000000000000000000000000000000014000600"
	  "20bcbe00000000000000000000000000"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 1000 rate 100gbit */
	{ "netem_rate64",
	  "6c0000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000003c00020000000000e8030000000000000000000000000000000000000c000800"
	  "00dd0ee90200000014000600ffffffff000000000000000000000000"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 1000 duplicate 2% corrupt 1%
	 *     20%
	 */
	{ "netem_corrupt_dup",
	  "680000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000003800020000000000e8030000000000000000000052b81e050000000010000100"
	  "0000000000000000000000000c000400295c8f0233333333"
	  , 0, 0 },
	/* tc qdisc add dev lo parent 1:2a handle 2a: netem limit 2000 delay 200ms 20ms
	 *     distribution pareto loss gemodel 2% 30% rate 1mbit
	 */
	{ "netem_pareto_combo",
	  "942000002400050669ee066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000006420020000000000d0070000000000000000000000000000000000000c000a00"
	  "00c2eb0b000000000c000b00002d310100000000180005801400020052b81e05cccccc4c00000000"
	  "000000001400060048e8010000000000000000000000000004200200"
	  , 4096, UINT64_C(0x209e1d3c861819fa) },
	/* tc qdisc del dev lo parent 1:2a handle 2a: */
	{ "netem_del",
	  "240000002500050069ee066b00000000000000000100000000002a002a00010000000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle ::1 u32 skip_hw match ip dst
	 *     10.0.5.0/24 action mirred egress redirect dev lo
	 */
	{ "u32_v4_mirred",
	  "940000002c00050669ee066b00000000000000000100000001000000f3ffffff0800a1c408000100"
	  "753332006800020038000700340001000b0001006d69727265640000240002802000020000000000"
	  "00000000040000000000000000000000010000000100000024000500010001000000000000000000"
	  "00000000ffffff000a000500100000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo ingress prio 50337 protocol ip handle ::2 u32 skip_hw match u8
	 *     0x45 0xff at 0 match u16 0 0x1fff at 6 match u8 6 0xff at 9 match ip src
	 *     10.0.5.7/32 match u16 443 0xffff at 20 action mirred egress redirect dev lo
	 */
	{ "u32_v4_port_mirred",
	  "d40000002c0005066aee066b00000000000000000100000002000000f2ffffff0800a1c408000100"
	  "75333200a800020038000700340001000b0001006d69727265640000240002802000020000000000"
	  "00000000040000000000000000000000010000000100000064000500010005000000000000000000"
	  "00000000ff00000045000000000000000000000000001fff00000000040000000000000000ff0000"
	  "000600000800000000000000ffffffff0a0005070c00000000000000ffff000001bb000014000000"
	  "0000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo parent 1: prio 50338 protocol ipv6 handle ::3 u32 match ip6 dst
	 *     fd00:5::/64 flowid 1:2a skip_hw
	 */
	{ "u32_v6_flowid",
	  "740000002c0005066aee066b000000000000000001000000030000000000010086dda2c408000100"
	  "7533320048000200080001002a0001003400050001000200000000000000000000000000ffffffff"
	  "fd0000051800000000000000ffffffff000000001c0000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo parent 1: prio 50338 protocol ipv6 handle ::4 u32 match u8 17
	 *     0xff at 6 match ip6 dst fd00:5:0:0:1::/80 match u16 53 0xffff at 42 flowid 1:2a
	 *     skip_hw
	 */
	{ "u32_v6_port_flowid",
	  "a40000002c0005066aee066b000000000000000001000000040000000000010086dda2c408000100"
	  "7533320078000200080001002a00010064000500010005000000000000000000000000000000ff00"
	  "000011000400000000000000fffffffffd0000051800000000000000ffffffff000000001c000000"
	  "00000000ffff00000001000020000000000000000000ffff00000035280000000000000008000b00"
	  "01000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle ::5 u32 skip_hw match u32 0
	 *     0 at 0 action mirred egress redirect dev lo
	 */
	{ "u32_v4_zero",
	  "940000002c0005066aee066b00000000000000000100000005000000f3ffffff0800a1c408000100"
	  "753332006800020038000700340001000b0001006d69727265640000240002802000020000000000"
	  "00000000040000000000000000000000010000000100000024000500010001000000000000000000"
	  "000000000000000000000000000000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle 4a0: u32 divisor 256 skip_hw
	 *     (iproute2 6.1 tc, like the hashed-u32 vectors below)
	 */
	{ "u32_table_256",
	  "400000002c0005068918076b0000000000000000010000000000004af3ffffff0800a1c408000100"
	  "7533320014000200080004000001000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle 4a1: u32 divisor 1 skip_hw */
	{ "u32_table_1",
	  "400000002c0005068918076b0000000000000000010000000000104af3ffffff0800a1c408000100"
	  "7533320014000200080004000100000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle ::21 u32 link 4a0: hashkey
	 *     mask 0x000000ff at 16 skip_hw match u32 0 0 at 0
	 */
	{ "u32_link_hashed",
	  "640000002c0005068918076b00000000000000000100000021000000f3ffffff0800a1c408000100"
	  "7533320038000200080003000000004a24000500000001000000000000001000000000ff00000000"
	  "00000000000000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle ::1 u32 link 4a1: skip_hw
	 *     match u32 0 0 at 0
	 */
	{ "u32_link_one_bucket",
	  "640000002c0005068918076b00000000000000000100000001000000f3ffffff0800a1c408000100"
	  "7533320038000200080003000000104a240005000000010000000000000000000000000000000000"
	  "00000000000000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter add dev lo egress prio 50337 protocol ip handle ::5 u32 ht 4a0:7: skip_hw
	 *     match ip dst 10.0.5.7/32 action mirred egress redirect dev lo
	 */
	{ "u32_in_bucket_mirred",
	  "9c0000002c0005068918076b00000000000000000100000005000000f3ffffff0800a1c408000100"
	  "753332007000020038000700340001000b0001006d69727265640000240002802000020000000000"
	  "000000000400000000000000000000000100000001000000080002000070004a2400050001000100"
	  "000000000000000000000000ffffffff0a000507100000000000000008000b0001000000"
	  , 0, 0 },
	/* tc filter del dev lo egress prio 50337 protocol ip handle 4a0: u32 */
	{ "filter_del_table",
	  "2c0000002d0005008918076b0000000000000000010000000000004af3ffffff0800a1c408000100"
	  "75333200"
	  , 0, 0 },
	/* tc filter del dev lo egress prio 50337 protocol ip handle 800::1 u32 */
	{ "filter_del_node",
	  "2c0000002d0005006aee066b00000000000000000100000001000080f3ffffff0800a1c408000100"
	  "75333200"
	  , 0, 0 },
	/* tc filter del dev lo egress prio 50337 protocol ip */
	{ "filter_del_prio",
	  "240000002d0005006aee066b00000000000000000100000000000000f3ffffff0800a1c4"
	  , 0, 0 },
	/* tc qdisc change dev lo parent 1:2a handle 2a: netem limit 1000 delay 100ms 10ms 0%
	 *     reorder 0% corrupt 0% rate 0bit
	 */
	{ "netem_change",
	  "a00000002400050069ef066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000007000020000000000e8030000000000000000000000000000000000000c000a00"
	  "00e1f505000000000c000b008096980000000000100001000000000000000000000000000c000300"
	  "00000000000000000c00040000000000000000001400060000000000000000000000000000000000"
	  , 0, 0 },
	/* tc qdisc change dev lo parent 1:2a handle 2a: netem limit 3000 delay 20ms 0ms 0% loss
	 *     gemodel 5% 40% 90% 1% reorder 0% corrupt 0% rate 10gbit
	 */
	{ "netem_change_ge",
	  "b8000000240005006aef066b00000000000000000100000000002a002a000100000000000a000100"
	  "6e6574656d0000008800020000000000b80b0000000000000000000000000000000000000c000a00"
	  "002d3101000000000c000b000000000000000000100001000000000000000000000000000c000300"
	  "00000000000000000c00040000000000000000001800058014000200cdcccc0c6666666699999919"
	  "295c8f0214000600807c814a000000000000000000000000"
	  , 0, 0 },
	/* ip link add name chd-o3 txqueuelen 1000 up type ifb   (iproute2 6.1 ip, for nl_link) */
	{ "link_ifb_add",
	  "4000000010000506e3f7066b000000000000000000000000010000000100000008000d00e8030000"
	  "0b0003006368642d6f3300000c0012000700010069666200"
	  , 0, 0 },
	/* tc filter add dev lo parent 1:2 protocol all prio 50339 handle 1 bpf bytecode
	 *     "4,40 0 0 12,21 0 1 2048,6 0 0 4294967295,6 0 0 65539" classid 1:3 skip_hw
	 *     (iproute2 6.1 tc)
	 */
	{ "bpf_add",
	  "6c0000002c000506dd18076b00000000000000000100000001000000020001000003a3c408000100"
	  "62706600400002000800030003000100060004000400000024000500280000000c00000015000001"
	  "0008000006000000ffffffff06000000030001000800090001000000"
	  , 0, 0 },
};

static struct nl_socket *sock;
static struct nl_batch batch;

static void setup(void)
{
	ck_assert_int_eq(nl_socket_open(NETLINK_ROUTE, &sock), 0);
	ck_assert_int_eq(nl_batch_init(&batch), 0);
}

static void teardown(void)
{
	nl_batch_done(&batch);
	sock = nl_socket_free(sock);
}

static const struct vector *find_vector(const char *name)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		if (strcmp(vectors[i].name, name) == 0)
			return &vectors[i];
	ck_abort_msg("no vector %s", name);
	return NULL;
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;

	ck_assert_uint_le(n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static const struct nlmsghdr *only_msg(void)
{
	ck_assert_uint_eq(batch.n, 1);
	return mnl_nlmsg_batch_head(batch.b);
}

/* Compare the one message in the batch with vector name. flags_ignored: tc "change" sends no
 * flags where chaosd sends NLM_F_REPLACE; the caller checks flags itself. */
static void expect_vector(const char *name, bool flags_ignored)
{
	static uint8_t exp[16384];
	const struct vector *v = find_vector(name);
	const struct nlmsghdr *nlh = only_msg();
	const uint8_t *got = (const uint8_t *)nlh;
	size_t n = unhex(v->hex, exp, sizeof(exp));
	size_t got_len = nlh->nlmsg_len;

	ck_assert_uint_eq(mnl_nlmsg_batch_size(batch.b), MNL_ALIGN(got_len));
	if (v->dist_n) {
		ck_assert_msg(got_len == n + v->dist_n * 2, "%s: length %zu, tc sent %zu", name,
				got_len, n + v->dist_n * 2);
		ck_assert_msg(fnv1a(got + n, v->dist_n * 2) == v->dist_fnv,
				"%s: the delay table differs from the one tc sent", name);
	} else {
		ck_assert_msg(got_len == n, "%s: length %zu, tc sent %zu", name, got_len, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (i >= 8 && i < 16) /* nlmsg_seq, nlmsg_pid */
			continue;
		if (flags_ignored && (i == 6 || i == 7))
			continue;
		ck_assert_msg(got[i] == exp[i], "%s: byte %zu is %02x, tc sent %02x", name, i,
				got[i], exp[i]);
	}
}

static uint32_t pct(double p)
{
	/* iproute2's get_percent(): rint(p / 100 * UINT32_MAX) */
	return (uint32_t)rint(p / 100. * UINT32_MAX);
}

static const struct nl_tc_dev lo = { 1, "lo" };
#define CLASS_2A  0x0001002aU
#define NETEM_2A  0x002a0000U
#define HTB_ROOT  0x00010000U
#define MS        INT64_C(1000000)

START_TEST(test_clsact)
{
	ck_assert_int_eq(nl_tc_clsact_add(&batch, sock, lo), 0);
	expect_vector("clsact_add", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_clsact_del(&batch, sock, lo), 0);
	expect_vector("clsact_del", false);
}
END_TEST

START_TEST(test_htb)
{
	ck_assert_int_eq(nl_tc_htb_root_add(&batch, sock, lo, HTB_ROOT, 1000), 0);
	expect_vector("htb_root", false);
	nl_batch_reset(&batch);
	/* 1tbit = 125e9 bytes/s, burst 256k, quantum 200000 */
	ck_assert_int_eq(nl_tc_htb_class_add(&batch, sock, lo, HTB_ROOT, CLASS_2A,
				UINT64_C(125000000000), 262144, 200000), 0);
	expect_vector("htb_class", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_class_del(&batch, sock, lo, CLASS_2A), 0);
	expect_vector("class_del", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_htb_class_add(&batch, sock, lo, HTB_ROOT, CLASS_2A, 0, 0, 0),
			-EINVAL);
}
END_TEST

static void expect_netem(const char *name, const struct netem_config *cfg,
		const struct netem_dist *dist)
{
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A, cfg, dist, false),
			0);
	expect_vector(name, false);
}

/* tc 6.1 computes its tick counts another way than the tc 7.1 the other vectors come from (and
 * than the kernel, which takes the bucket from TCA_TBF_BURST and the rate from the ratespec once
 * its linklayer is set): the buffer field and the rate table's values are those of the htb
 * class above, checked there; everything else is compared byte for byte. */
static void expect_tbf(const char *name, const struct netem_shaper *sh, bool change,
		size_t rtab_at)
{
	static uint8_t exp[4096];
	const struct vector *v = find_vector(name);
	const struct nlmsghdr *nlh;
	const uint8_t *got;
	size_t n = unhex(v->hex, exp, sizeof(exp));

	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_tbf_put(&batch, sock, lo, 0x00020001, 0x80020000, sh, change), 0);
	nlh = only_msg();
	got = (const uint8_t *)nlh;
	ck_assert_uint_eq(nlh->nlmsg_len, n);
	for (size_t i = 0; i < n; i++) {
		if ((i >= 8 && i < 16) || (i >= 80 && i < 84) || (i >= rtab_at && i < rtab_at + 1024))
			continue;
		ck_assert_msg(got[i] == exp[i], "%s: byte %zu is %02x, tc sent %02x", name, i,
				got[i], exp[i]);
	}
}

START_TEST(test_tbf)
{
	expect_tbf("tbf_add", &(struct netem_shaper){ 1250000, 1518, 62500 }, false, 100);
	expect_tbf("tbf_replace64",
			&(struct netem_shaper){ UINT64_C(125000000000), 262144, 16777216 }, true,
			112);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_tbf_put(&batch, sock, lo, 0x00020001, 0x80020000,
				 &(struct netem_shaper){ 0, 1518, 62500 }, false),
			-EINVAL);
	ck_assert_int_eq(nl_tc_tbf_put(&batch, sock, lo, 0x00020001, 0x80020000,
				 &(struct netem_shaper){ 1250000, 1518, 0 }, false),
			-EINVAL);
}
END_TEST

START_TEST(test_netem_create)
{
	expect_netem("netem_loss", &(struct netem_config){ .limit = 5000, .loss = pct(5) }, NULL);
	expect_netem("netem_reorder",
			&(struct netem_config){ .limit = 1000, .latency_ns = 50 * MS,
				.reorder = pct(25), .reorder_corr = pct(50), .gap = 5 },
			NULL);
	expect_netem("netem_ge",
			&(struct netem_config){ .limit = 1000, .gemodel = true, .ge_p = pct(1),
				.ge_r = pct(10), .ge_h = UINT32_MAX - pct(70), .ge_k1 = pct(0.1) },
			NULL);
	expect_netem("netem_rate",
			&(struct netem_config){ .limit = 1000, .rate_bytes_per_sec = 12500000 },
			NULL);
	expect_netem("netem_rate64",
			&(struct netem_config){ .limit = 1000,
				.rate_bytes_per_sec = UINT64_C(12500000000) },
			NULL);
	expect_netem("netem_corrupt_dup",
			&(struct netem_config){ .limit = 1000, .duplicate = pct(2),
				.corrupt = pct(1), .corrupt_corr = pct(20) },
			NULL);
}
END_TEST

/* iproute2 (a test dependency: tests/install-deps.sh) ships the tables: no table, no pass */
static void load_table(const char *name, struct netem_dist *ret)
{
	struct diag d;

	diag_init(&d);
	ck_assert_msg(netem_dist_load(name, ret, &d) == 0, "%s.dist: %s", name, diag_text(&d));
}

START_TEST(test_netem_tables)
{
	struct netem_dist normal = {}, pareto = {};

	load_table("normal", &normal);
	expect_netem("netem_delay_dist",
			&(struct netem_config){ .limit = 100000, .latency_ns = 100 * MS,
				.jitter_ns = 10 * MS, .delay_corr = pct(25), .loss = pct(5),
				.loss_corr = pct(10) },
			&normal);
	load_table("pareto", &pareto);
	expect_netem("netem_pareto_combo",
			&(struct netem_config){ .limit = 2000, .latency_ns = 200 * MS,
				.jitter_ns = 20 * MS, .gemodel = true, .ge_p = pct(2),
				.ge_r = pct(30), .rate_bytes_per_sec = 125000 },
			&pareto);
	netem_dist_done(&normal);
	netem_dist_done(&pareto);
}
END_TEST

START_TEST(test_netem_change)
{
	const struct nlmsghdr *nlh;

	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .limit = 1000, .latency_ns = 100 * MS,
					.jitter_ns = 10 * MS },
				NULL, true), 0);
	expect_vector("netem_change", true);
	/* In place: same handle, no create, no exclusive (sch_api.c then calls qdisc_change). */
	nlh = only_msg();
	ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE);

	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .limit = 3000, .latency_ns = 20 * MS,
					.gemodel = true, .ge_p = pct(5), .ge_r = pct(40),
					.ge_h = UINT32_MAX - pct(90), .ge_k1 = pct(1),
					.rate_bytes_per_sec = 1250000000 },
				NULL, true), 0);
	expect_vector("netem_change_ge", true);
}
END_TEST

/* The attribute of type t inside netem's TCA_OPTIONS of the one message in the batch. */
static const struct nlattr *netem_attr(uint16_t t)
{
	const struct nlmsghdr *nlh = only_msg();
	const struct nlattr *a, *opts = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct tcmsg))
		if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	ck_assert_ptr_nonnull(opts);
	const uint8_t *p = (const uint8_t *)mnl_attr_get_payload(opts) +
			   MNL_ALIGN(sizeof(struct tc_netem_qopt));
	const uint8_t *end = (const uint8_t *)opts + opts->nla_len;
	while (p + sizeof(struct nlattr) <= end) {
		a = (const struct nlattr *)p;
		if (mnl_attr_get_type(a) == t)
			return a;
		p += MNL_ALIGN(a->nla_len);
	}
	return NULL;
}

START_TEST(test_netem_defaults)
{
	const struct tc_netem_reorder *r;
	const struct tc_netem_qopt *q;
	const struct nlattr *opts = NULL, *a;

	/* limit 0 would drop everything: netem's default 1000 is sent instead. A gap alone is
	 * 100 % reordering (the kernel's own compatibility rule), made explicit. */
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .latency_ns = MS, .gap = 3 }, NULL, false),
			0);
	mnl_attr_for_each(a, only_msg(), sizeof(struct tcmsg))
		if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	ck_assert_ptr_nonnull(opts);
	q = mnl_attr_get_payload(opts);
	ck_assert_uint_eq(q->limit, 1000);
	ck_assert_uint_eq(q->gap, 3);
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_REORDER));
	r = mnl_attr_get_payload(netem_attr(TCA_NETEM_REORDER));
	ck_assert_uint_eq(r->probability, UINT32_MAX);
	/* create leaves out what is at its default */
	ck_assert_ptr_null(netem_attr(TCA_NETEM_CORRUPT));
	ck_assert_ptr_null(netem_attr(TCA_NETEM_RATE));
	ck_assert_ptr_null(netem_attr(TCA_NETEM_LOSS));

	/* reorder without gap gets gap 1, as tc does */
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .latency_ns = MS, .reorder = pct(10) },
				NULL,
				false), 0);
	opts = NULL;
	mnl_attr_for_each(a, only_msg(), sizeof(struct tcmsg))
		if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	q = mnl_attr_get_payload(opts);
	ck_assert_uint_eq(q->gap, 1);

	/* change sends every attribute so nothing of the old configuration survives */
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .limit = 10 }, NULL, true), 0);
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_CORR));
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_REORDER));
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_CORRUPT));
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_RATE));
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_LATENCY64));
	ck_assert_ptr_nonnull(netem_attr(TCA_NETEM_JITTER64));
	ck_assert_ptr_null(netem_attr(TCA_NETEM_DELAY_DIST));

	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, CLASS_2A, NETEM_2A,
				&(struct netem_config){ .latency_ns = -1 }, NULL, false), -EINVAL);
}
END_TEST

START_TEST(test_netem_uniform_table)
{
	int16_t t[NL_TC_UNIFORM_TABLE];
	double sum = 0;

	nl_tc_netem_uniform(t);
	for (int i = 0; i < NL_TC_UNIFORM_TABLE; i++) {
		ck_assert_int_ge(t[i], -8192);
		ck_assert_int_lt(t[i], 8192);
		if (i)
			ck_assert_int_eq(t[i] - t[i - 1], 4);
		sum += t[i];
	}
	ck_assert(fabs(sum / NL_TC_UNIFORM_TABLE) < 1e-9);
}
END_TEST

START_TEST(test_qdisc_del)
{
	ck_assert_int_eq(nl_tc_qdisc_del(&batch, sock, lo, CLASS_2A, NETEM_2A, NULL), 0);
	expect_vector("netem_del", false);
}
END_TEST

static struct nl_tc_match match(int family, const char *addr, unsigned len, bool src,
		uint8_t proto, uint16_t port)
{
	struct nl_tc_match m = { .family = family, .prefix_len = (uint8_t)len, .src = src,
		.ipproto = proto, .port = port };
	ck_assert_int_eq(inet_pton(family, addr, m.addr), 1);
	return m;
}

START_TEST(test_u32)
{
	struct nl_tc_u32 f = { .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 1, .redirect_ifindex = 1 };
	struct nl_tc_match m;

	m = match(AF_INET, "10.0.5.0", 24, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_v4_mirred", false);

	nl_batch_reset(&batch);
	f.parent = NL_TC_INGRESS_PARENT;
	f.handle = 2;
	m = match(AF_INET, "10.0.5.7", 32, true, IPPROTO_TCP, 443);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_v4_port_mirred", false);

	nl_batch_reset(&batch);
	f = (struct nl_tc_u32){ .ifindex = 1, .parent = HTB_ROOT, .prio = 50338,
		.protocol = ETH_P_IPV6, .handle = 3, .classid = CLASS_2A };
	m = match(AF_INET6, "fd00:5::", 64, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_v6_flowid", false);

	nl_batch_reset(&batch);
	f.handle = 4;
	m = match(AF_INET6, "fd00:5:0:0:1::", 80, false, IPPROTO_UDP, 53);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_v6_port_flowid", false);

	nl_batch_reset(&batch);
	f = (struct nl_tc_u32){ .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 5, .redirect_ifindex = 1 };
	m = match(AF_INET, "0.0.0.0", 0, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_v4_zero", false);

	/* node ids outside chaosd's range are refused */
	nl_batch_reset(&batch);
	f.handle = 0x800;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	f.handle = 0;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	ck_assert_uint_eq(batch.n, 0);
}
END_TEST

/* A service edge's filters: the mark match, and on ingress the connmark restore before the
 * redirect; both read back from the message as a dump would show them. */
START_TEST(test_u32_mark)
{
	struct nl_tc_u32 f = { .ifindex = 1, .parent = NL_TC_INGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 6, .redirect_ifindex = 7, .connmark = true };
	struct nl_tc_match m = match(AF_INET, "10.0.5.0", 24, true, 0, 0);
	struct nl_tc_u32_info u;
	struct nl_tc_obj o;

	m.mark = 0x00030000;
	m.mark_mask = 0x00ff0000;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	ck_assert_int_eq(nl_tc_parse(only_msg(), &o), 0);
	ck_assert_int_eq(nl_tc_u32_parse(&o, &u), 0);
	ck_assert(u.has_mark);
	ck_assert_uint_eq(u.mark, 0x00030000);
	ck_assert_uint_eq(u.mark_mask, 0x00ff0000);
	ck_assert(u.connmark);
	ck_assert_int_eq(u.redirect_ifindex, 7); /* the redirect still comes after it */
	ck_assert_uint_eq(u.nkeys, 1);

	/* without them: neither is there */
	nl_batch_reset(&batch);
	f.connmark = false;
	m.mark = m.mark_mask = 0;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	ck_assert_int_eq(nl_tc_parse(only_msg(), &o), 0);
	ck_assert_int_eq(nl_tc_u32_parse(&o, &u), 0);
	ck_assert(!u.has_mark);
	ck_assert(!u.connmark);
	ck_assert_int_eq(u.redirect_ifindex, 7);

	/* a mark outside its mask, a connmark with nowhere to go: refused, nothing queued */
	nl_batch_reset(&batch);
	m.mark = 0x1;
	m.mark_mask = 0x00ff0000;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	m.mark = 0;
	f.connmark = true;
	f.redirect_ifindex = 0;
	f.classid = 0x10001;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	ck_assert_uint_eq(batch.n, 0);
}
END_TEST

START_TEST(test_u32_hashed)
{
	struct nl_tc_u32 f = { .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 0x21, .link = 0x4a000000, .hash_mask = 0xff,
		.hash_off = 16 };
	struct nl_tc_match all = { .family = AF_INET }, m;

	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x4a000000, 256), 0);
	expect_vector("u32_table_256", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x4a100000, 1), 0);
	expect_vector("u32_table_1", false);

	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &all, "lo"), 0);
	expect_vector("u32_link_hashed", false);
	nl_batch_reset(&batch);
	f = (struct nl_tc_u32){ .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 1, .link = 0x4a100000 };
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &all, "lo"), 0);
	expect_vector("u32_link_one_bucket", false);

	/* a node in bucket 7 of table 4a0:, with an id only a table of our own allows */
	nl_batch_reset(&batch);
	f = (struct nl_tc_u32){ .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 5, .ht = 0x4a007000, .redirect_ifindex = 1 };
	m = match(AF_INET, "10.0.5.7", 32, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	expect_vector("u32_in_bucket_mirred", false);
	nl_batch_reset(&batch);
	f.handle = 0xfff;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), 0);
	ck_assert_uint_eq(batch.n, 1);

	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_filter_del(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337, ETH_P_IP,
				0x4a000000), 0);
	expect_vector("filter_del_table", false);

	/* refused: a node id in ht, a link with a result, a hash key off a word boundary, a
	 * table id the kernel numbers itself, a divisor that is no power of two or above 256 */
	nl_batch_reset(&batch);
	f.handle = 0x1000;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	f.handle = 5;
	f.ht = 0x4a007001;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &m, "lo"), -EINVAL);
	f = (struct nl_tc_u32){ .ifindex = 1, .parent = NL_TC_EGRESS_PARENT, .prio = 50337,
		.protocol = ETH_P_IP, .handle = 1, .link = 0x4a000000, .classid = CLASS_2A };
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &all, "lo"), -EINVAL);
	f.classid = 0;
	f.hash_off = 18;
	ck_assert_int_eq(nl_tc_u32_add(&batch, sock, &f, &all, "lo"), -EINVAL);
	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x80000000, 256), -EINVAL);
	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x4a000000, 3), -EINVAL);
	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x4a000000, 512), -EINVAL);
	ck_assert_int_eq(nl_tc_u32_table_add(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337,
				 ETH_P_IP, 0x4a000001, 256), -EINVAL);
	ck_assert_uint_eq(batch.n, 0);
}
END_TEST

START_TEST(test_u32_keys)
{
	struct tc_u32_key k[NL_TC_U32_KEYS_MAX];
	struct nl_tc_match m;

	/* a port needs a protocol; bad prefix lengths and families are refused */
	m = match(AF_INET, "10.0.0.0", 8, false, 0, 80);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), -EINVAL);
	m = match(AF_INET, "10.0.0.0", 33, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), -EINVAL);
	m = match(AF_INET6, "::", 129, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), -EINVAL);
	m.family = AF_UNIX;
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), -EINVAL);

	/* host bits beyond the prefix never reach the value */
	m = match(AF_INET, "10.1.2.3", 16, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), 1);
	ck_assert_uint_eq(ntohl(k[0].val), 0x0a010000);
	ck_assert_uint_eq(ntohl(k[0].mask), 0xffff0000);
	ck_assert_int_eq(k[0].off, 16);

	/* protocol only: no IHL or fragment keys */
	m = match(AF_INET, "10.1.0.0", 16, true, IPPROTO_UDP, 0);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), 2);
	ck_assert_int_eq(k[0].off, 8);
	ck_assert_int_eq(k[1].off, 12);

	/* egress matches the destination port (low half of the word at 20) */
	m = match(AF_INET, "10.1.0.0", 16, false, IPPROTO_TCP, 8080);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), 5);
	ck_assert_int_eq(k[4].off, 20);
	ck_assert_uint_eq(ntohl(k[4].mask), 0x0000ffff);
	ck_assert_uint_eq(ntohl(k[4].val), 8080);

	/* IPv6 /128 source: four words from offset 8, then the source port at 40 */
	m = match(AF_INET6, "fd00::1", 128, true, IPPROTO_TCP, 22);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), 6);
	ck_assert_int_eq(k[0].off, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(k[1 + i].off, 8 + 4 * i);
	ck_assert_uint_eq(ntohl(k[4].val), 1);
	ck_assert_int_eq(k[5].off, 40);
	ck_assert_uint_eq(ntohl(k[5].val), 22u << 16);

	/* ::/0 with nothing else still needs one (always true) key */
	m = match(AF_INET6, "::", 0, false, 0, 0);
	ck_assert_int_eq(nl_tc_u32_keys(&m, k, NL_TC_U32_KEYS_MAX), 1);
	ck_assert_uint_eq(k[0].mask, 0);
}
END_TEST

START_TEST(test_filter_del)
{
	ck_assert_int_eq(nl_tc_filter_del(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337, ETH_P_IP,
				0x80000001), 0);
	expect_vector("filter_del_node", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_filter_del(&batch, sock, lo, NL_TC_EGRESS_PARENT, 50337, ETH_P_IP,
				0), 0);
	expect_vector("filter_del_prio", false);
}
END_TEST

START_TEST(test_dump_requests)
{
	char buf[NL_TC_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct tcmsg *t;

	nlh = nl_tc_filter_dump_req(buf, 7, NL_TC_INGRESS_PARENT, 50338, ETH_P_IPV6);
	ck_assert_uint_eq(nlh->nlmsg_type, RTM_GETTFILTER);
	t = mnl_nlmsg_get_payload(nlh);
	ck_assert_int_eq(t->tcm_ifindex, 7);
	ck_assert_uint_eq(t->tcm_parent, 0xfffffff2);
	ck_assert_uint_eq(t->tcm_info, (50338u << 16) | htons(ETH_P_IPV6));
	nlh = nl_tc_qdisc_dump_req(buf);
	ck_assert_uint_eq(nlh->nlmsg_type, RTM_GETQDISC);
	ck_assert_uint_eq(nlh->nlmsg_len, NLMSG_HDRLEN + sizeof(struct tcmsg));
}
END_TEST

START_TEST(test_parse)
{
	char buf[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	struct gnet_stats_basic sb = { .bytes = 12345, .packets = 7 };
	struct gnet_stats_queue sq = { .qlen = 3, .backlog = 4500, .drops = 2, .requeues = 1 };
	struct nlattr *st;
	struct nl_tc_obj o;

	nlh->nlmsg_type = RTM_NEWQDISC;
	t->tcm_ifindex = 9;
	t->tcm_parent = CLASS_2A;
	t->tcm_handle = NETEM_2A;
	mnl_attr_put_strz(nlh, TCA_KIND, "netem");
	mnl_attr_put(nlh, TCA_OPTIONS, sizeof(struct tc_netem_qopt),
			&(struct tc_netem_qopt){ .limit = 1000 });
	st = mnl_attr_nest_start(nlh, TCA_STATS2);
	mnl_attr_put(nlh, TCA_STATS_BASIC, sizeof(sb), &sb);
	mnl_attr_put_u64(nlh, TCA_STATS_PKT64, UINT64_C(5000000000));
	mnl_attr_put(nlh, TCA_STATS_QUEUE, sizeof(sq), &sq);
	mnl_attr_nest_end(nlh, st);

	ck_assert_int_eq(nl_tc_parse(nlh, &o), 0);
	ck_assert_int_eq(o.ifindex, 9);
	ck_assert_uint_eq(o.parent, CLASS_2A);
	ck_assert_uint_eq(o.handle, NETEM_2A);
	ck_assert_str_eq(o.kind, "netem");
	ck_assert_ptr_nonnull(o.options);
	ck_assert(o.has_stats);
	ck_assert_uint_eq(o.bytes, 12345);
	ck_assert_uint_eq(o.packets, UINT64_C(5000000000));
	ck_assert_uint_eq(o.qlen, 3);
	ck_assert_uint_eq(o.drops, 2);
	ck_assert_uint_eq(o.requeues, 1);

	nlh->nlmsg_len = NLMSG_HDRLEN + 4;
	ck_assert_int_eq(nl_tc_parse(nlh, &o), -EINVAL);
}
END_TEST

/* A batch done hands its buffer to the next one, which must get it all zero (libmnl leaves
 * attribute padding as it finds it, and those bytes go to the kernel). */
START_TEST(test_batch_buffer_reused)
{
	const char *used;

	for (unsigned i = 0; i < 50; i++)
		ck_assert_int_eq(nl_tc_netem_put(&batch, sock, lo, 0x00010000 | (i + 2),
					 (i + 2) << 16,
					 &(struct netem_config){ .limit = 1000,
						 .latency_ns = 10 * MS, .loss = pct(1) },
					 NULL, false),
				0);
	ck_assert_uint_gt(mnl_nlmsg_batch_size(batch.b), 50 * 40);
	used = batch.buf;
	nl_batch_done(&batch);
	ck_assert_int_eq(nl_batch_init(&batch), 0);
	ck_assert_ptr_eq(batch.buf, used);
	for (size_t i = 0; i < NL_BATCH_SIZE * 2; i++)
		ck_assert_msg(batch.buf[i] == 0, "byte %zu of the reused buffer is %02x", i,
				(unsigned char)batch.buf[i]);
	ck_assert_int_eq(nl_link_ifb_add(&batch, sock, "chd-o3", 1000, 0), 0);
	expect_vector("link_ifb_add", false);
}
END_TEST

START_TEST(test_link_ifb)
{
	ck_assert_int_eq(nl_link_ifb_add(&batch, sock, "chd-o3", 1000, 0), 0);
	expect_vector("link_ifb_add", false);
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_link_ifb_add(&batch, sock, "chd-o1234567890ab", 1000, 0), -EINVAL);
	ck_assert_int_eq(nl_link_del(&batch, sock, 0, NULL), -EINVAL);
	ck_assert_uint_eq(batch.n, 0);
}
END_TEST

START_TEST(test_bpf)
{
	static const struct sock_filter ops[] = {
		{ BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 2048 },
		{ BPF_RET | BPF_K, 0, 0, UINT32_MAX },
		{ BPF_RET | BPF_K, 0, 0, 0x00010003 },
	};
	struct nl_tc_bpf f = { .ifindex = 1, .parent = 0x00010002, .prio = 50339,
		.protocol = ETH_P_ALL, .handle = 1, .classid = 0x00010003, .ops = ops,
		.n_ops = ELEMENTSOF(ops) };
	const struct nlmsghdr *nlh;

	ck_assert_int_eq(nl_tc_bpf_put(&batch, sock, &f, "lo", false), 0);
	expect_vector("bpf_add", false);
	/* replace: the same message with tc filter replace's flags */
	nl_batch_reset(&batch);
	ck_assert_int_eq(nl_tc_bpf_put(&batch, sock, &f, "lo", true), 0);
	expect_vector("bpf_add", true);
	nlh = only_msg();
	ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	nl_batch_reset(&batch);
	f.handle = 0;
	ck_assert_int_eq(nl_tc_bpf_put(&batch, sock, &f, "lo", false), -EINVAL);
	f.handle = 1;
	f.n_ops = 0;
	ck_assert_int_eq(nl_tc_bpf_put(&batch, sock, &f, "lo", false), -EINVAL);
	ck_assert_uint_eq(batch.n, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nl_tc");
	TCase *tc = tcase_create("messages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clsact);
	tcase_add_test(tc, test_htb);
	tcase_add_test(tc, test_tbf);
	tcase_add_test(tc, test_netem_create);
	tcase_add_test(tc, test_netem_tables);
	tcase_add_test(tc, test_netem_change);
	tcase_add_test(tc, test_netem_defaults);
	tcase_add_test(tc, test_netem_uniform_table);
	tcase_add_test(tc, test_qdisc_del);
	tcase_add_test(tc, test_u32);
	tcase_add_test(tc, test_u32_mark);
	tcase_add_test(tc, test_u32_hashed);
	tcase_add_test(tc, test_u32_keys);
	tcase_add_test(tc, test_filter_del);
	tcase_add_test(tc, test_dump_requests);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_link_ifb);
	tcase_add_test(tc, test_batch_buffer_reused);
	tcase_add_test(tc, test_bpf);
	suite_add_tcase(s, tc);
	return test_run_suite(s);
}
