/* All of the program's checksum arithmetic (RFC 1071, RFC 1624). The ones'-complement sum is
 * independent of byte order (RFC 1071 §2(B)), so header words are summed as loaded; only the
 * deltas of the map, which are host-order numbers of the big-endian words, need a swap. */
#ifndef OFFLOAD_CSUM_H
#define OFFLOAD_CSUM_H

#include "bpf_defs.h"
#include "headers.h"

/* Adds the carries back in; two rounds bring any sum of a few 16-bit words below 0x10000. */
static __always_inline __u16 csum_fold(__u32 acc)
{
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)acc;
}

/* Ones'-complement sum of the 20-byte IPv4 header, folded. A header with a correct checksum
 * sums to 0xffff. */
static __always_inline __u16 csum_ipv4_header(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 acc = 0;

#pragma clang loop unroll(full)
	for (int i = 0; i < IPV4_HLEN / 2; i++)
		acc += w[i];
	return csum_fold(acc);
}

static __always_inline int ipv4_checksum_ok(const struct iphdr *ip)
{
	return csum_ipv4_header(ip) == 0xffff;
}

/* Fills in the checksum of a header written from scratch (the outer header of an
 * encapsulation). */
static __always_inline void ipv4_fill_checksum(struct iphdr *ip)
{
	ip->check = 0;
	ip->check = (__be16)~csum_ipv4_header(ip);
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + sum of (~m + m')), with the sum precomputed by the worker
 * that installed the entry: `delta` already covers every changed word (addresses, ports,
 * identifier, TTL). */
static __always_inline __be16 csum_apply_delta(__be16 check, __u16 delta)
{
	__u16 hc = bpf_ntohs(check);

	return bpf_htons((__u16)~csum_fold((__u32)(__u16)~hc + delta));
}

/* The same under RFC 768's rule for UDP over IPv4: zero means "no checksum" and stays zero;
 * a computed zero is sent as all ones. */
static __always_inline __be16 csum_apply_delta_udp(__be16 check, __u16 delta)
{
	__be16 c;

	if (check == 0)
		return 0;
	c = csum_apply_delta(check, delta);
	return c == 0 ? 0xffff : c;
}

#endif
