"""Wake-on-LAN: the magic packet that switches a server on (6 × 0xFF, then 16 × its MAC)."""

from __future__ import annotations

import socket


def parse_mac(mac: str) -> bytes:
    digits = mac.replace(":", "").replace("-", "")
    raw = bytes.fromhex(digits)
    if len(raw) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return raw


def magic_packet(mac: str) -> bytes:
    return b"\xff" * 6 + parse_mac(mac) * 16


def send_magic_packet(mac: str, address: str = "255.255.255.255", port: int = 9,
                      count: int = 3) -> int:
    """Send ``count`` packets; returns bytes sent. Raises OSError on a network error."""
    packet = magic_packet(mac)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        for _ in range(count):
            sent += s.sendto(packet, (address, port))
    return sent
