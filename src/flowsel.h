/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Flow selection for `flows = N%`: which connections of an edge a fault affects. A packet is
 * chosen by a hash of its connection's addresses and ports that is the same in both directions
 * (the two addresses, and the two ports, are combined with xor), so a connection is always or
 * never affected, both ways, for its whole life:
 *
 *   h = saddr ^ daddr                  (IPv6: the xor of all eight address words)
 *   h ^= sport ^ dport                 TCP, UDP, SCTP (IPv4 first fragments; IPv6 without
 *                                      extension headers)
 *   h ^= identifier                    ICMP and ICMPv6 echo request and reply
 *   selected if fmix32(h) % 10000 < share
 *
 * fmix32 is MurmurHash3's finalizer: without it, hosts of one subnet talking to one server on
 * one port would differ in a few low bits only and land on neighbouring values.
 *
 * netem faults select with flowsel_prog(), a classic BPF program that cls_bpf runs on the IFB
 * (TCA_BPF_OPS: no bpf() syscall, no verifier, no compiler). It reads the packet relative to
 * the network header (SKF_NET_OFF), the same start u32 uses, and finds the transport header
 * from the IPv4 header length, so IP options are fine. A packet it cannot read (truncated)
 * makes the kernel end the program with 0, which means "no match": never faulted. */

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shares are in permyriad: 0.01 % steps, 10000 = every flow. */
#define FLOWSEL_ALL      10000U
#define FLOWSEL_PROG_MAX 96 /* instructions flowsel_prog() needs at most */

/* What the hash reads of one packet. Ports in host order; for an ICMP echo the identifier is
 * in sport and dport is 0; for other protocols (and packets whose ports cannot be read) both
 * are 0. */
struct flowsel_flow {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t saddr[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t daddr[16];
	uint16_t sport, dport;
};

/* Build the program for share (1..FLOWSEL_ALL). A selected packet makes it return -1 (cls_bpf:
 * the filter's TCA_BPF_CLASSID), any other IP packet `other` (cls_bpf: a classid, or 0 for "no
 * match"). Returns the number of instructions written to prog (at most n). */
int flowsel_prog(uint32_t share, uint32_t other, struct sock_filter *prog, size_t n);

/* The same decision in C, for tests and tools that predict which flows a share selects. */
uint32_t flowsel_hash(const struct flowsel_flow *f);
bool flowsel_selected(const struct flowsel_flow *f, uint32_t share);
