/* The offload map ABI shared with the Rust side (dataplane::offload writes the entries,
 * src/offload/src/abi.rs mirrors the layout): see src/offload/README.md, "Map ABI".
 * Addresses, ports and GRE keys are in network byte order exactly as in the packet;
 * counters, ifindex, max_len and checksum deltas in host order. The layouts are naturally
 * aligned so that no padding is implicit and the counters can be added to atomically; the
 * asserts below pin every offset the table in the ABI gives. */
#ifndef OFFLOAD_OL_ABI_H
#define OFFLOAD_OL_ABI_H

#include "bpf_defs.h"

/* ol_key.tunnel */
/* The largest ingress ifindex `ol_next` has a slot for. */
#define OL_MAX_IFINDEX 65535

#define OL_TUNNEL_NONE 0
#define OL_TUNNEL_GRE 1
#define OL_TUNNEL_GRE_KEY 2

/* ol_action.encap */
#define OL_ENCAP_NONE 0
#define OL_ENCAP_GRE 1
#define OL_ENCAP_IPIP 2

/* The flow as received: the (inner) 5-tuple plus, for GRE, the tunnel it came through. */
struct ol_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tunnel;
	__u16 pad;
	__be32 tun_remote;
	__be32 tun_local;
	__be32 tun_key;
};

/* What to do with it: the translated tuple, the checksum deltas that go with it, where it
 * leaves, the tunnel it leaves through, and the counters the program keeps. */
struct ol_action {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u16 ip_delta;
	__u16 l4_delta;
	__u8 dmac[6];
	__u8 smac[6];
	__u32 ifindex;
	__u16 max_len;
	__u8 decap_len;
	__u8 encap;
	__u8 encap_len;
	__u8 pad[3];
	__u8 outer[28];
	__u8 pad2[4];
	__u64 packets;
	__u64 bytes;
	__u64 last_seen;
};

_Static_assert(sizeof(struct ol_key) == 28, "ol_key is 28 bytes");
_Static_assert(__builtin_offsetof(struct ol_key, proto) == 12, "ol_key.proto");
_Static_assert(__builtin_offsetof(struct ol_key, tun_remote) == 16, "ol_key.tun_remote");
_Static_assert(__builtin_offsetof(struct ol_key, tun_key) == 24, "ol_key.tun_key");
_Static_assert(sizeof(struct ol_action) == 96, "ol_action is 96 bytes");
_Static_assert(__builtin_offsetof(struct ol_action, ip_delta) == 12, "ol_action.ip_delta");
_Static_assert(__builtin_offsetof(struct ol_action, dmac) == 16, "ol_action.dmac");
_Static_assert(__builtin_offsetof(struct ol_action, smac) == 22, "ol_action.smac");
_Static_assert(__builtin_offsetof(struct ol_action, ifindex) == 28, "ol_action.ifindex");
_Static_assert(__builtin_offsetof(struct ol_action, max_len) == 32, "ol_action.max_len");
_Static_assert(__builtin_offsetof(struct ol_action, decap_len) == 34, "ol_action.decap_len");
_Static_assert(__builtin_offsetof(struct ol_action, encap_len) == 36, "ol_action.encap_len");
_Static_assert(__builtin_offsetof(struct ol_action, outer) == 40, "ol_action.outer");
_Static_assert(__builtin_offsetof(struct ol_action, packets) == 72, "ol_action.packets");
_Static_assert(__builtin_offsetof(struct ol_action, last_seen) == 88, "ol_action.last_seen");

/* Indices of ol_stats (per CPU, one u64 each). */
#define OL_STAT_FORWARDED 0
#define OL_STAT_FORWARDED_BYTES 1
#define OL_STAT_MISS 2
#define OL_STAT_TTL 3
#define OL_STAT_TOO_LONG 4
#define OL_STAT_TCP_FLAGS 5
#define OL_STAT_NOT_DF 6
#define OL_STAT_NOT_PARSED 7
/* The daemon stopped renewing `ol_alive` (killed): its rules are not followed any more. */
#define OL_STAT_ORPHANED 8
#define OL_STATS 9

#endif
