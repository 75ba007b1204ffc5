"""An Internet-side server that tells each client the address and port it saw: TCP on
PORT (one line back, then close) and UDP on PORT (one datagram back per datagram). Both bind
ADDRESS, so UDP answers come from the address that was asked (a wildcard-bound UDP socket
would answer from the outgoing interface's address, which the client never talked to).
An IPv6 ADDRESS makes both servers IPv6.
Usage: echo_peer.py ADDRESS PORT
"""
import socket
import sys
import threading

address, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in address else socket.AF_INET


def udp():
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((address, port))
    while True:
        data, peer = s.recvfrom(65535)
        answer = f"{peer[0]}:{peer[1]} {data.decode(errors='replace')}".encode()
        if data.startswith(b"big"):
            # Larger than the tunnel's MTU; Linux sends UDP with Don't Fragment by default.
            answer = answer.ljust(1450, b".")
        try:
            s.sendto(answer, peer)
        except OSError as e:
            print(f"sendto {peer}: {e}", flush=True)


def tcp():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        try:
            c.settimeout(5)
            data = c.recv(65535)
            c.sendall(f"{peer[0]}:{peer[1]} {data.decode(errors='replace')}".encode())
        except OSError:
            pass
        finally:
            c.close()


threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
tcp()
