"""An inside user: asks the echo server over TCP and over UDP (from a fixed source port) and
prints what the server saw as its address, one line per protocol.
An IPv6 SERVER makes both questions IPv6.
Usage: ask_peer.py SERVER PORT UDP_SOURCE_PORT TAG
"""
import socket
import sys

server, port, sport, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

t = socket.create_connection((server, port), timeout=5)
t.sendall(tag.encode())
print("tcp", t.recv(65535).decode(), flush=True)
t.close()

v6 = ":" in server
u = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("::" if v6 else "0.0.0.0", sport))
u.settimeout(2)
for _ in range(5):
    u.sendto(tag.encode(), (server, port))
    try:
        print("udp", u.recv(65535).decode(), flush=True)
        break
    except socket.timeout:
        pass
else:
    print("udp no answer", flush=True)
    sys.exit(1)
