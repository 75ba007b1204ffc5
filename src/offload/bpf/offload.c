/* Established-flow offload: forwards the packets of flows a worker has already decided (NAT,
 * FullNAT, GRE decapsulation and encapsulation, IPIP tunnel-mode DSR, direct routing) inside
 * XDP, and hands everything else to the steering program, which queues it to the AF_XDP
 * workers as before. The workers stay the authority: they install an entry in `ol_flows` when
 * a flow is established, read its counters and last-seen time, and remove it; anything this
 * program cannot finish exactly as the worker would (new flows, TCP SYN/FIN/RST, ICMP errors,
 * fragments, TTL expiry, packets over the rule's size) goes to the worker untouched.
 *
 * The map layouts are the offload ABI (ol_abi.h, README.md). Built with
 * `clang -O2 -g -target bpf` by build.rs; it needs no kernel headers and no kernel BTF. */

#include "bpf_defs.h"
#include "headers.h"
#include "csum.h"
#include "ol_abi.h"

char LICENSE[] SEC("license") = "Apache-2.0";

/* The established flows, keyed by the packet as received. The daemon sizes it at load time
 * (aya rewrites max_entries); the default is for a load without a size. Not preallocated:
 * the table is sized for every flow the workers can hold, and memory is taken only as rules
 * are added (by the workers, through bpf(2); the program only reads and updates values). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ol_key);
	__type(value, struct ol_action);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ol_flows SEC(".maps");

/* The interfaces a flow may leave through, by ifindex (a redirect needs a device map). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} ol_ports SEC(".maps");

/* By ingress ifindex: that interface's steering program (each has its own AF_XDP socket map),
 * the workers' way in; an empty slot means the kernel stack. 8 bytes a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, OL_MAX_IFINDEX + 1);
} ol_next SEC(".maps");

/* Slot 0: the time (bpf_ktime_get_ns) until which the rules may be followed. The daemon's
 * workers push it forward several times a second; a killed daemon stops doing so, its
 * program stays attached until the next start sweeps it, and within a second its rules are
 * no longer followed: the packets go to the steering program, which has no socket for them
 * any more and drops what the data plane owned, as without the offload. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} ol_alive SEC(".maps");

/* Per CPU so that counting costs no atomic operation; the daemon sums over CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, OL_STATS);
} ol_stats SEC(".maps");

/* Every packet access is at a constant offset from `data`. The daemon loads the program with
 * CAP_BPF and CAP_NET_ADMIN but not CAP_PERFMON, and without CAP_PERFMON the verifier's
 * Spectre v1 hardening refuses packet pointers moved by a variable (and subtracting packet
 * pointers). So lengths are numbers compared with numbers (the frame's from
 * bpf_xdp_get_buff_len), and a GRE packet's outer header, whose length depends on the key, is
 * stepped over with bpf_xdp_adjust_head: its inner packet then starts where a plain one
 * does, and one parser and one rewrite serve both. */
#define IP_OFF ETH_HLEN
#define L4_OFF (ETH_HLEN + IPV4_HLEN)

/* What parsing learns: the (inner) packet's fields the checks need, and the lookup key. */
struct packet {
	__u32 frame_len;  /* the frame's length as received */
	__u32 outer_len;  /* bytes of outer IPv4 + GRE stepped over (0 when plain) */
	__u16 tot_len;    /* the (inner) packet's Total Length, host order */
	__be16 frag_off;  /* its flags and fragment offset */
	__u8 tos;
	__u8 ttl;
	__u8 icmp_type;
	struct ol_key key;
};

/* parse_frame's outcome: the packet is one this program may forward, or a stats index. */
#define PARSED (-1)

static __always_inline void count(__u32 index, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&ol_stats, &index);

	if (v)
		*v += n;
}

/* Everything the program does not forward goes to the steering program, as if this program
 * were not there: a GRE packet gets its outer header back first (the bytes were never
 * touched, only stepped over). The tail call does not return when it succeeds; XDP_PASS is
 * the fallback when no steering program is installed. */
static __always_inline int to_worker(struct xdp_md *ctx, const struct packet *p, __u32 reason)
{
	count(reason, 1);
	if (p->outer_len && bpf_xdp_adjust_head(ctx, -(int)p->outer_len))
		return XDP_ABORTED; /* cannot happen: the headroom given back is there */
	bpf_tail_call(ctx, &ol_next, ctx->ingress_ifindex);
	return XDP_PASS;
}

/* Rule 1 of the ABI for the IPv4 header behind the Ethernet header: no options, a correct
 * checksum, not a fragment, a Total Length within the `room` there is for it (the frame, or
 * for an inner packet what the outer one carries). */
static __always_inline int parse_ipv4(void *data, void *data_end, __u32 room, struct packet *p)
{
	struct iphdr *ip = data + IP_OFF;
	__u16 tot_len;

	if ((void *)(ip + 1) > data_end)
		return OL_STAT_NOT_PARSED;
	if (ip->ver_ihl != IPV4_VER_IHL)
		return OL_STAT_NOT_PARSED;
	if (ip->frag_off & bpf_htons(IPV4_FRAG_MASK))
		return OL_STAT_NOT_PARSED;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < IPV4_HLEN || tot_len > room)
		return OL_STAT_NOT_PARSED;
	if (!ipv4_checksum_ok(ip))
		return OL_STAT_NOT_PARSED;
	p->tot_len = tot_len;
	p->frag_off = ip->frag_off;
	p->tos = ip->tos;
	p->ttl = ip->ttl;
	p->key.proto = ip->protocol;
	p->key.saddr = ip->saddr;
	p->key.daddr = ip->daddr;
	return PARSED;
}

/* Rule 2: the GRE header (RFC 2784, with the RFC 2890 key and nothing else) carrying IPv4.
 * Fills in the tunnel part of the key and the outer header's length. */
static __always_inline int parse_gre(void *data, void *data_end, struct packet *p)
{
	struct grehdr *gre = data + L4_OFF;
	__be32 *key = (void *)(gre + 1);

	if ((void *)(gre + 1) > data_end)
		return OL_STAT_NOT_PARSED;
	if (gre->flags & ~bpf_htons(GRE_FLAG_K))
		return OL_STAT_NOT_PARSED;
	if (gre->proto != bpf_htons(ETH_P_IP))
		return OL_STAT_NOT_PARSED;
	p->key.tunnel = OL_TUNNEL_GRE;
	p->outer_len = IPV4_HLEN + GRE_HLEN;
	if (gre->flags & bpf_htons(GRE_FLAG_K)) {
		if ((void *)(key + 1) > data_end)
			return OL_STAT_NOT_PARSED;
		p->key.tunnel = OL_TUNNEL_GRE_KEY;
		p->key.tun_key = *key;
		p->outer_len += GRE_KEY_LEN;
	}
	/* Rule 1 left the outer addresses in the key; the inner ones replace them. */
	p->key.tun_remote = p->key.saddr;
	p->key.tun_local = p->key.daddr;
	/* The inner packet needs at least its header inside the outer one. */
	if (p->tot_len < p->outer_len + IPV4_HLEN)
		return OL_STAT_NOT_PARSED;
	return PARSED;
}

/* Rule 3: the transport header and the ports (or the echo identifier) of the key. TCP
 * segments that open, close or reset a connection change its state: the worker sees them. */
static __always_inline int parse_l4(void *data, void *data_end, struct packet *p)
{
	void *l4 = data + L4_OFF;

	switch (p->key.proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end || p->tot_len < IPV4_HLEN + TCP_HLEN)
			return OL_STAT_NOT_PARSED;
		if (tcp->flags & (TCP_SYN | TCP_FIN | TCP_RST))
			return OL_STAT_TCP_FLAGS;
		p->key.sport = tcp->sport;
		p->key.dport = tcp->dport;
		return PARSED;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end || p->tot_len < IPV4_HLEN + UDP_HLEN)
			return OL_STAT_NOT_PARSED;
		p->key.sport = udp->sport;
		p->key.dport = udp->dport;
		return PARSED;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = l4;

		if ((void *)(icmp + 1) > data_end || p->tot_len < IPV4_HLEN + ICMP_HLEN)
			return OL_STAT_NOT_PARSED;
		/* The identifier is the flow's port on the requester's side (RFC 5508). */
		p->icmp_type = icmp->type;
		if (icmp->type == ICMP_ECHO_REQUEST)
			p->key.sport = icmp->ident;
		else if (icmp->type == ICMP_ECHO_REPLY)
			p->key.dport = icmp->ident;
		else
			return OL_STAT_NOT_PARSED;
		return PARSED;
	}
	default:
		return OL_STAT_NOT_PARSED;
	}
}

/* Whether the entry describes this packet's framing; a worker's entry always does, so a
 * mismatch means the entry cannot be used and the packet goes to the worker like a miss. */
static __always_inline int action_fits(const struct packet *p, const struct ol_action *a)
{
	if (a->decap_len != p->outer_len)
		return 0;
	switch (a->encap) {
	case OL_ENCAP_NONE:
		return a->encap_len == 0;
	case OL_ENCAP_GRE:
		return a->encap_len == IPV4_HLEN + GRE_HLEN ||
		       a->encap_len == IPV4_HLEN + GRE_HLEN + GRE_KEY_LEN;
	case OL_ENCAP_IPIP:
		return a->encap_len == IPV4_HLEN;
	default:
		return 0;
	}
}

/* Rule 5, and the egress port: returns PARSED when the packet may be forwarded, else the
 * stats index of the reason it goes to the worker. */
static __always_inline int may_forward(const struct packet *p, const struct ol_action *a,
				       __u32 ingress)
{
	if (!action_fits(p, a))
		return OL_STAT_MISS;
	/* The worker sends ICMP Time Exceeded. */
	if (p->ttl <= 1)
		return OL_STAT_TTL;
	/* The worker sends ICMP Fragmentation Needed (or clamps). */
	if (p->tot_len > a->max_len)
		return OL_STAT_TOO_LONG;
	/* A tunnel packet without DF would need fragmenting by whoever carries it; the worker
	 * decides. */
	if (a->encap != OL_ENCAP_NONE && !(p->frag_off & bpf_htons(IPV4_DF)))
		return OL_STAT_NOT_DF;
	/* Checked here, before anything is rewritten, so that a port removed by the daemon
	 * sends the packet to the worker intact instead of dropping a rewritten one. */
	if (a->ifindex != ingress && !bpf_map_lookup_elem(&ol_ports, &a->ifindex))
		return OL_STAT_MISS;
	return PARSED;
}

/* Rule 6, in place on the (inner) packet: addresses, ports or echo identifier, TTL, and the
 * checksums by the entry's deltas, which already account for every one of those changes.
 * The bounds were checked while parsing, but the verifier cannot tell which protocol's
 * check that was, so each is checked again (it cannot fail). */
static __always_inline int rewrite_packet(void *data, void *data_end, const struct packet *p,
					  const struct ol_action *a)
{
	struct iphdr *ip = data + IP_OFF;
	void *l4 = data + L4_OFF;

	if ((void *)(ip + 1) > data_end)
		return -1;
	ip->saddr = a->saddr;
	ip->daddr = a->daddr;
	ip->ttl -= 1;
	ip->check = csum_apply_delta(ip->check, a->ip_delta);

	switch (p->key.proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return -1;
		tcp->sport = a->sport;
		tcp->dport = a->dport;
		tcp->check = csum_apply_delta(tcp->check, a->l4_delta);
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return -1;
		udp->sport = a->sport;
		udp->dport = a->dport;
		udp->check = csum_apply_delta_udp(udp->check, a->l4_delta);
		return 0;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = l4;

		if ((void *)(icmp + 1) > data_end)
			return -1;
		__be16 request_ident = a->sport, reply_ident = a->dport;

		barrier_var(request_ident);
		barrier_var(reply_ident);
		icmp->ident = p->icmp_type == ICMP_ECHO_REQUEST ? request_ident : reply_ident;
		icmp->check = csum_apply_delta(icmp->check, a->l4_delta);
		return 0;
	}
	default:
		return -1;
	}
}

/* The outer header of an encapsulation, from the entry's template: IPv4, then for GRE its
 * header and key. The fields that depend on the packet are filled in here. */
static __always_inline int write_outer(void *data, void *data_end, const struct packet *p,
				       const struct ol_action *a)
{
	struct iphdr *outer = data + IP_OFF;
	__u8 *gre = data + L4_OFF;

	if ((void *)(outer + 1) > data_end)
		return -1;
	__builtin_memcpy(outer, a->outer, IPV4_HLEN);
	outer->tot_len = bpf_htons(a->encap_len + p->tot_len);
	/* DF as the inner packet has it (always set: may_forward let no other through). */
	outer->frag_off = p->frag_off & bpf_htons(IPV4_DF);
	/* RFC 2003 copies the TOS into an IPIP header; GRE keeps the template's 0. */
	if (a->encap == OL_ENCAP_IPIP)
		outer->tos = p->tos;
	ipv4_fill_checksum(outer);

	if (a->encap != OL_ENCAP_GRE)
		return 0;
	if ((void *)(gre + GRE_HLEN) > data_end)
		return -1;
	__builtin_memcpy(gre, a->outer + IPV4_HLEN, GRE_HLEN);
	if (a->encap_len == IPV4_HLEN + GRE_HLEN)
		return 0;
	if ((void *)(gre + GRE_HLEN + GRE_KEY_LEN) > data_end)
		return -1;
	__builtin_memcpy(gre + GRE_HLEN, a->outer + IPV4_HLEN + GRE_HLEN, GRE_KEY_LEN);
	return 0;
}

/* Rule 6, the frame around the rewritten packet: makes room for the outer header of an
 * encapsulation (a decapsulation's was stepped over while parsing), cuts a frame whose
 * framing changed to the end of its IPv4 packet, then writes the Ethernet header. Packet
 * pointers are invalid after every adjustment, so everything is re-derived and re-checked. */
static __always_inline int reframe(struct xdp_md *ctx, const struct packet *p,
				   const struct ol_action *a)
{
	/* The frame's length now, as a number (see IP_OFF). */
	int len = (int)p->frame_len - (int)p->outer_len + (int)a->encap_len;
	void *data, *data_end;
	struct ethhdr *eth;

	if (a->encap_len && bpf_xdp_adjust_head(ctx, -(int)a->encap_len))
		return -1;

	/* Ethernet padding (or anything behind the packet) would otherwise end up inside the
	 * new outer packet's payload, or be left behind a shorter one; a plain frame keeps its
	 * length, as the worker's rewrite in place does. */
	if (p->outer_len != 0 || a->encap != OL_ENCAP_NONE) {
		int tail = (int)(ETH_HLEN + a->encap_len + p->tot_len) - len;

		if (tail < 0 && bpf_xdp_adjust_tail(ctx, tail))
			return -1;
	}

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->dst, a->dmac, 6);
	__builtin_memcpy(eth->src, a->smac, 6);
	eth->proto = bpf_htons(ETH_P_IP);

	if (a->encap != OL_ENCAP_NONE)
		return write_outer(data, data_end, p, a);
	return 0;
}

/* The entry's counters are shared by every CPU (a flow's packets may arrive on several
 * queues), hence atomic; last_seen needs no atomicity, any recent time will do. */
static __always_inline void count_forwarded(struct ol_action *a, __u32 frame_len, __u64 now)
{
	__sync_fetch_and_add(&a->packets, 1);
	__sync_fetch_and_add(&a->bytes, frame_len);
	a->last_seen = now;
	count(OL_STAT_FORWARDED, 1);
	count(OL_STAT_FORWARDED_BYTES, frame_len);
}

/* The port was there when may_forward looked; should the daemon remove it in between, the
 * redirect fails and the kernel drops the frame (flags 0: XDP_ABORTED), as it would a frame
 * redirected to an interface going away. */
static __always_inline int transmit(struct xdp_md *ctx, const struct ol_action *a)
{
	if (a->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect_map(&ol_ports, a->ifindex, 0);
}

/* Rules 1-3: Ethernet, IPv4, for GRE the inner IPv4 (after stepping over the outer header),
 * then TCP/UDP/ICMP echo. */
static __always_inline int parse_frame(struct xdp_md *ctx, struct packet *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 inner_room;
	int r;

	if ((void *)(eth + 1) > data_end || eth->proto != bpf_htons(ETH_P_IP))
		return OL_STAT_NOT_PARSED;
	if (p->frame_len < ETH_HLEN)
		return OL_STAT_NOT_PARSED;
	r = parse_ipv4(data, data_end, p->frame_len - ETH_HLEN, p);
	if (r != PARSED)
		return r;
	if (p->key.proto != IPPROTO_GRE)
		return parse_l4(data, data_end, p);

	r = parse_gre(data, data_end, p);
	if (r != PARSED) {
		p->outer_len = 0; /* nothing stepped over yet */
		return r;
	}
	inner_room = p->tot_len - p->outer_len;
	if (bpf_xdp_adjust_head(ctx, p->outer_len)) {
		p->outer_len = 0;
		return OL_STAT_NOT_PARSED;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	r = parse_ipv4(data, data_end, inner_room, p);
	if (r != PARSED)
		return r;
	return parse_l4(data, data_end, p);
}

SEC("xdp")
int offload(struct xdp_md *ctx)
{
	struct ol_action *a;
	struct packet p;
	__u32 zero = 0;
	__u64 now, *alive;
	int r;

	__builtin_memset(&p, 0, sizeof(p));
	p.frame_len = bpf_xdp_get_buff_len(ctx);
	r = parse_frame(ctx, &p);
	if (r != PARSED)
		return to_worker(ctx, &p, r);

	a = bpf_map_lookup_elem(&ol_flows, &p.key);
	if (!a)
		return to_worker(ctx, &p, OL_STAT_MISS);
	r = may_forward(&p, a, ctx->ingress_ifindex);
	if (r != PARSED)
		return to_worker(ctx, &p, r);
	now = bpf_ktime_get_ns();
	alive = bpf_map_lookup_elem(&ol_alive, &zero);
	if (!alive || now > *alive)
		return to_worker(ctx, &p, OL_STAT_ORPHANED);

	/* Neither can fail for a frame that parsed (the checks are the parser's again, the
	 * headroom is at least 256 bytes and the tail only shrinks); if one does anyway, the
	 * half-written frame is dropped. */
	if (rewrite_packet((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p, a) ||
	    reframe(ctx, &p, a))
		return XDP_ABORTED;
	count_forwarded(a, p.frame_len, now);
	return transmit(ctx, a);
}
