"""An inside user's UDP probe: sends MESSAGE to SERVER:PORT from each source port given and
prints, per source port, what came back: the answer, "refused" (an ICMP port unreachable that
matched what this socket sent) or "silence".
Usage: udp_probe.py SERVER PORT MESSAGE SPORT...
"""
import socket
import sys

server, port, message = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
for sport in map(int, sys.argv[4:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.connect((server, port))
    s.settimeout(0.3)
    result = "silence"
    for _ in range(2):
        try:
            s.send(message)
            result = "answer " + s.recv(65535).decode(errors="replace")[:60]
            break
        except ConnectionRefusedError:
            result = "refused"
            break
        except socket.timeout:
            pass
    print(sport, result, flush=True)
