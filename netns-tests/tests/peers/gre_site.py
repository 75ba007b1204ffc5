"""A GRE site gateway without a kernel GRE module (RFC 2784, RFC 2890 key).

IPv4 packets the site routes into the TUN device are sent to the remote endpoint in GRE over
a raw IP socket (protocol 47, the kernel adds the outer IPv4 header); GRE packets from the
remote endpoint with the right key lose their outer headers and go back out of the TUN device.
Anything else is counted and dropped. Usage: gre_site.py TUN LOCAL REMOTE KEY|-
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

name, local, remote = sys.argv[1], sys.argv[2], sys.argv[3]
key = None if sys.argv[4] == "-" else int(sys.argv[4])

tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
raw.bind((local, 0))
if key is None:
    header = struct.pack("!HH", 0, PROTO_IPV4)
else:
    header = struct.pack("!HHI", GRE_K, PROTO_IPV4, key)
skipped = 0
print("ready", flush=True)

sent = received = refused = 0
while True:
    readable, _, _ = select.select([tun, raw], [], [])
    if tun in readable:
        packet = os.read(tun, 65535)
        if packet[0] >> 4 != 4:
            # The tunnel carries IPv4 only; the TUN device's own IPv6 chatter stays here.
            skipped += 1
            continue
        raw.sendto(header + packet, (remote, 0))
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
        if flags & ~GRE_K or proto != PROTO_IPV4 or their_key != key:
            refused += 1
            print(f"refused flags {flags:#x} proto {proto:#x} key {their_key}", flush=True)
            continue
        os.write(tun, gre[8 if has_key else 4:])
        received += 1
        if received % 100 == 1:
            print(f"sent {sent} received {received} refused {refused}", flush=True)
