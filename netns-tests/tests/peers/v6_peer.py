"""An IPv6 backend's other servers, beside its HTTP one:
- UDP echo on PORT: one datagram back per datagram, "NAME DATA";
- TCP sink on PORT: reads a line with a byte count N, then N bytes, and answers
  "NAME got N" (a large upload: the client's segments meet the path's MTU).
Both bind ADDRESS (so UDP answers come from the address that was asked).
Prints "ready" once both listen.
Usage: v6_peer.py NAME ADDRESS PORT
"""
import socket
import sys
import threading

name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def udp(s):
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(f"{name} ".encode() + data, peer)


def sink(c):
    with c:
        f = c.makefile("rb")
        n = int(f.readline())
        got = 0
        while got < n:
            chunk = f.read(min(65536, n - got))
            if not chunk:
                break
            got += len(chunk)
        c.sendall(f"{name} got {got}\n".encode())


def tcp(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=sink, args=(c,), daemon=True).start()


u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind((address, port))
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((address, port))
t.listen(64)
threading.Thread(target=udp, args=(u,), daemon=True).start()
print("ready", flush=True)
tcp(t)
