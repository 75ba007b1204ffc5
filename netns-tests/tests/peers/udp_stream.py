"""A constant UDP stream through a service: sends COUNT numbered datagrams at RATE per second
to SERVER:PORT, spread over FLOWS source ports, and counts the answers that come back (an echo
server that repeats the datagram: echo_peer.py). Prints one JSON line: sent, received, lost,
the longest run of consecutive lost numbers and when (seconds after the first datagram) the
first loss happened.
Usage: udp_stream.py SERVER PORT COUNT RATE [FLOWS]
"""
import json
import select
import socket
import sys
import time

server, port, count, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
flows = int(sys.argv[5]) if len(sys.argv) > 5 else 1
socks = []
for _ in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.connect((server, port))
    s.setblocking(False)
    socks.append(s)
got = set()


def drain(timeout):
    r, _, _ = select.select(socks, [], [], timeout)
    for s in r:
        while True:
            try:
                data = s.recv(65535)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                break
            # echo_peer answers "ADDR:PORT PAYLOAD"; the payload is "seq N".
            parts = data.split()
            if len(parts) >= 3 and parts[-2] == b"seq":
                got.add(int(parts[-1]))


start = time.monotonic()
for i in range(count):
    due = start + i / rate
    while True:
        now = time.monotonic()
        if now >= due:
            break
        drain(due - now)
    try:
        socks[i % flows].send(b"seq %d" % i)
    except OSError:
        pass
end = time.monotonic() + 1.0
while time.monotonic() < end:
    drain(0.05)
lost = [i for i in range(count) if i not in got]
longest, run, prev = 0, 0, None
for i in lost:
    run = run + 1 if prev is not None and i == prev + 1 else 1
    longest = max(longest, run)
    prev = i
print(json.dumps({
    "sent": count,
    "received": len(got),
    "lost": len(lost),
    "longest_run": longest,
    "first_lost_s": (lost[0] / rate) if lost else None,
    "lost_seqs": lost[:20],
}), flush=True)
