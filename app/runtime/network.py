"""This host's addresses, for telling phones where to register (I/O: reads the interfaces).

`NetworkSettings.sip_hosts` decides which addresses a phone is told; this
module only lists the host's own, for when SIP listens on every interface
(`HOTLINE_BIND_HOST=0.0.0.0`), so nobody is told to register to 0.0.0.0.
"""
from __future__ import annotations

import fcntl
import socket
import struct

from core.settings import Settings

_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def host_addresses() -> list[str]:
    """This host's IPv4 addresses, one per interface that has one."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on this interface
                continue
            found.append(socket.inet_ntoa(raw[20:24]))
    return found


def sip_server(settings: Settings) -> str:
    """Where phones register, as `hotline seats` and `hotline up` say it:
    `192.0.2.2:5060 or 127.0.0.1:5060`."""
    net = settings.network
    hosts = net.sip_hosts(host_addresses() if net.binds_all else ())
    return " or ".join(f"{host}:{net.sip_port}" for host in hosts)
