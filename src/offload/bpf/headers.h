/* The on-the-wire headers the program reads and writes (RFC 894, 791, 2784/2890, 9293, 768,
 * 792). Multi-byte fields are in network byte order. */
#ifndef OFFLOAD_HEADERS_H
#define OFFLOAD_HEADERS_H

#include "bpf_defs.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800

#define IPV4_HLEN 20
/* Version 4, IHL 5: options would move every offset behind them; the worker takes those. */
#define IPV4_VER_IHL 0x45
#define IPV4_DF 0x4000
/* More Fragments and the fragment offset: either set means a fragment. */
#define IPV4_FRAG_MASK 0x3fff

#define IPPROTO_ICMP 1
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_GRE 47

#define GRE_HLEN 4
#define GRE_KEY_LEN 4
/* RFC 2890 Key Present; every other flag (checksum, sequence, routing) and a non-zero version
 * go to the worker. */
#define GRE_FLAG_K 0x2000

#define TCP_HLEN 20
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define UDP_HLEN 8
#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8

struct ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct grehdr {
	__be16 flags;
	__be16 proto;
};

struct tcphdr {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff;
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg;
};

struct udphdr {
	__be16 sport;
	__be16 dport;
	__be16 len;
	__be16 check;
};

struct icmphdr {
	__u8 type;
	__u8 code;
	__be16 check;
	__be16 ident;
	__be16 seq;
};

#endif
