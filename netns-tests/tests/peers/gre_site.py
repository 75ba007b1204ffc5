"""A GRE site gateway without a kernel GRE module (RFC 2784, RFC 2890 key).

IPv4 packets the site routes into the TUN device are sent to the remote endpoint in GRE over
a raw IP socket (protocol 47, the kernel adds the outer IPv4 header); GRE packets from the
remote endpoint with the right key lose their outer headers and go back out of the TUN device.
With --ipv6 it carries IPv6 too (protocol type 0x86DD, RFC 7676), except the TUN device's own
link-local and multicast chatter. Anything else is counted and dropped.
Usage: gre_site.py TUN LOCAL REMOTE KEY|- [--ipv6]
"""
import fcntl
import os
import select
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
GRE_K = 0x2000
PROTO_IPV4 = 0x0800
PROTO_IPV6 = 0x86DD

name, local, remote = sys.argv[1], sys.argv[2], sys.argv[3]
key = None if sys.argv[4] == "-" else int(sys.argv[4])
ipv6 = "--ipv6" in sys.argv[5:]

tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
raw.bind((local, 0))


def header(proto):
    if key is None:
        return struct.pack("!HH", 0, proto)
    return struct.pack("!HHI", GRE_K, proto, key)


skipped = 0
print("ready", flush=True)

sent = received = refused = 0
while True:
    readable, _, _ = select.select([tun, raw], [], [])
    if tun in readable:
        packet = os.read(tun, 65535)
        version = packet[0] >> 4
        if version == 6 and ipv6 and len(packet) >= 40:
            # Not the TUN device's own chatter: link-local (fe80::/10) or multicast.
            if packet[24] == 0xFF or (packet[24] == 0xFE and packet[25] & 0xC0 == 0x80):
                skipped += 1
                continue
            raw.sendto(header(PROTO_IPV6) + packet, (remote, 0))
            sent += 1
            continue
        if version != 4:
            # The TUN device's own IPv6 chatter stays here (or all IPv6, without --ipv6).
            skipped += 1
            continue
        raw.sendto(header(PROTO_IPV4) + packet, (remote, 0))
        sent += 1
    if raw in readable:
        data, (src, _) = raw.recvfrom(65535)
        ihl = (data[0] & 0x0F) * 4
        gre = data[ihl:]
        if src != remote or len(gre) < 4:
            refused += 1
            continue
        flags, proto = struct.unpack("!HH", gre[:4])
        has_key = bool(flags & GRE_K)
        their_key = struct.unpack("!I", gre[4:8])[0] if has_key and len(gre) >= 8 else None
        wanted = (PROTO_IPV4, PROTO_IPV6) if ipv6 else (PROTO_IPV4,)
        if flags & ~GRE_K or proto not in wanted or their_key != key:
            refused += 1
            print(f"refused flags {flags:#x} proto {proto:#x} key {their_key}", flush=True)
            continue
        os.write(tun, gre[8 if has_key else 4:])
        received += 1
        if received % 100 == 1:
            print(f"sent {sent} received {received} refused {refused}", flush=True)
