#!/usr/bin/env python3
"""TCP bridge between the host's loopback and the data plane's network namespace (cluster.sh).

A network namespace has a loopback of its own, so 127.0.0.1:PORT inside it is not the host's
127.0.0.1:PORT. This one process joins both: a socket belongs to the namespace its creating thread
was in when it was created, so it creates each socket after setns(2) into the right namespace and
then works on all of them from one asyncio loop.

  --into PORT   listen on 127.0.0.1:PORT inside the namespace, connect to the host's 127.0.0.1:PORT
                (Traefik, the pod runner and the load tester reach the API server this way)
  --out PORT    listen on the host's 127.0.0.1:PORT, connect to 127.0.0.1:PORT inside the namespace
                (tests, kanaria and Prometheus reach Traefik and the load tester this way)

The port number is the same on both sides, so one env file and one kubeconfig work in and out.
Needs CAP_SYS_ADMIN (cluster.sh runs the data plane as root).
"""

import argparse
import asyncio
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespaces:
    def __init__(self, netns_path: str):
        self.host = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.inner = os.open(netns_path, os.O_RDONLY)

    def socket_in(self, inner: bool) -> socket.socket:
        """A new TCP socket that belongs to the namespace asked for (the thread goes back to the host's)."""
        if not inner:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        setns(self.inner)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            setns(self.host)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def serve(ns: Namespaces, port: int, listen_inner: bool) -> asyncio.base_events.Server:
    listener = ns.socket_in(listen_inner)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(512)
    listener.setblocking(False)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream = ns.socket_in(not listen_inner)
        upstream.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(upstream, ("127.0.0.1", port))
            up_r, up_w = await asyncio.open_connection(sock=upstream)
        except OSError:
            upstream.close()
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
        up_w.close()
        client_w.close()

    return await asyncio.start_server(handle, sock=listener)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--netns", required=True, help="path of the namespace, e.g. /proc/PID/ns/net")
    parser.add_argument("--into", type=int, action="append", default=[], metavar="PORT")
    parser.add_argument("--out", type=int, action="append", default=[], metavar="PORT")
    args = parser.parse_args()
    ns = Namespaces(args.netns)
    servers = [await serve(ns, p, True) for p in args.into] + [await serve(ns, p, False) for p in args.out]
    print(f"bridging into the namespace: {args.into}, out of it: {args.out}", file=sys.stderr, flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
