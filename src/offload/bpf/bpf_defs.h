/* The few kernel definitions the offload program uses, written out here so that it builds with
 * nothing but clang (no kernel or libbpf headers) and loads on kernels without BTF: it touches
 * only packet data and maps, so it needs no CO-RE and no vmlinux.h. Values are the kernel's
 * UAPI (include/uapi/linux/bpf.h), which never changes once released. */
#ifndef OFFLOAD_BPF_DEFS_H
#define OFFLOAD_BPF_DEFS_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;

/* Network-order values are kept in these types so a missing byte swap stands out. */
typedef __u16 __be16;
typedef __u32 __be32;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))

/* Makes the compiler forget what it knows about `var`'s value, so that it cannot turn a
 * choice between two values loaded from a map into a load from a chosen address (variable
 * pointer arithmetic, which the verifier refuses without CAP_PERFMON). */
#define barrier_var(var) asm volatile("" : "+r"(var))

/* BTF-defined maps (the form aya and libbpf read from `.maps`): each attribute is encoded in
 * the type of a member, so the object's BTF describes the map. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* The XDP context as the program sees it (struct xdp_md). */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

enum xdp_action {
	XDP_ABORTED = 0,
	XDP_DROP = 1,
	XDP_PASS = 2,
	XDP_TX = 3,
	XDP_REDIRECT = 4,
};

/* enum bpf_map_type */
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PROG_ARRAY 3
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_DEVMAP_HASH 25

/* Map flags. */
#define BPF_F_NO_PREALLOC (1U << 0)

/* Helpers by their number in enum bpf_func_id; none is GPL-only. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_tail_call)(void *ctx, void *prog_array, __u32 index) = (void *)12;
static long (*bpf_xdp_adjust_head)(struct xdp_md *ctx, int delta) = (void *)44;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;
static long (*bpf_xdp_adjust_tail)(struct xdp_md *ctx, int delta) = (void *)65;
/* Linux 5.18. */
static __u64 (*bpf_xdp_get_buff_len)(struct xdp_md *ctx) = (void *)188;

/* Byte order: clang's bpf target follows the host (bpfel on x86 and arm64). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_ntohs(x) __builtin_bswap16(x)
#define bpf_htons(x) __builtin_bswap16(x)
#define bpf_htonl(x) __builtin_bswap32(x)
#else
#define bpf_ntohs(x) (x)
#define bpf_htons(x) (x)
#define bpf_htonl(x) (x)
#endif

#endif
