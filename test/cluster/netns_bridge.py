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
  --http-proxy PORT --proxy-allow CIDR
                an HTTP forward proxy on the host's 127.0.0.1:PORT whose upstream connections are made
                inside the namespace, to addresses of CIDR only (Prometheus scrapes the pods through it
                with `proxy_url`, so nothing outside the namespace dials a pod IP). One request per
                connection: the request goes upstream with `Connection: close`, and the client's
                connection ends with the response.

The port number is the same on both sides, so one env file and one kubeconfig work in and out.
Needs CAP_SYS_ADMIN (cluster.sh runs the data plane as root).
"""

import argparse
import asyncio
import ctypes
import ipaddress
import os
import socket
import sys
import urllib.parse

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


# Hop-by-hop headers of the client's request: not sent upstream (RFC 9110 7.6.1); the proxy adds its own
# `Connection: close`.
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"}


def refusal(status: str, message: str) -> bytes:
    body = (message + "\n").encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def upstream_request(head: bytes, allowed: ipaddress.IPv4Network) -> tuple[tuple[str, int], bytes] | bytes:
    """The upstream address and the request to send it, or the response that refuses the request."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return refusal("400 Bad Request", f"not an HTTP request line: {lines[0]!r}")
    method, target, version = parts
    url = urllib.parse.urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        return refusal(
            "400 Bad Request",
            f"this proxy forwards absolute http:// URLs only (got {target!r}); set it as the client's HTTP proxy",
        )
    try:
        addr = ipaddress.ip_address(url.hostname)
        port = url.port or 80
    except ValueError:
        return refusal("403 Forbidden", f"{url.netloc!r} is not an IP address and port; this proxy dials pod IPs only")
    if addr not in allowed:
        return refusal("403 Forbidden", f"{addr} is outside {allowed}, the only addresses this proxy dials")
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    headers = [h for h in lines[1:] if h and h.split(":", 1)[0].strip().lower() not in HOP_BY_HOP]
    request = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
    return (str(addr), port), request.encode("latin-1")


async def serve_http_proxy(ns: Namespaces, port: int, allowed: ipaddress.IPv4Network) -> asyncio.base_events.Server:
    listener = ns.socket_in(False)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(512)
    listener.setblocking(False)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_w.close()
            return
        plan = upstream_request(head[:-4], allowed)
        if isinstance(plan, bytes):
            client_w.write(plan)
            client_w.close()
            return
        (host, up_port), request = plan
        upstream = ns.socket_in(True)
        upstream.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(upstream, (host, up_port)), 5)
            up_r, up_w = await asyncio.open_connection(sock=upstream)
        except (OSError, asyncio.TimeoutError) as err:
            upstream.close()
            client_w.write(refusal("502 Bad Gateway", f"cannot connect to {host}:{up_port} in the namespace: {err}"))
            client_w.close()
            return
        up_w.write(request)
        # A request body (none for a scrape) follows the head as is; the response ends the exchange.
        body = asyncio.ensure_future(pipe(client_r, up_w))
        await pipe(up_r, client_w)
        body.cancel()
        up_w.close()
        client_w.close()

    return await asyncio.start_server(handle, sock=listener)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--netns", required=True, help="path of the namespace, e.g. /proc/PID/ns/net")
    parser.add_argument("--into", type=int, action="append", default=[], metavar="PORT")
    parser.add_argument("--out", type=int, action="append", default=[], metavar="PORT")
    parser.add_argument("--http-proxy", type=int, metavar="PORT")
    parser.add_argument("--proxy-allow", type=ipaddress.IPv4Network, metavar="CIDR")
    args = parser.parse_args()
    if (args.http_proxy is None) != (args.proxy_allow is None):
        parser.error("--http-proxy and --proxy-allow go together (the proxy dials only the addresses allowed)")
    ns = Namespaces(args.netns)
    servers = [await serve(ns, p, True) for p in args.into] + [await serve(ns, p, False) for p in args.out]
    if args.http_proxy is not None:
        servers.append(await serve_http_proxy(ns, args.http_proxy, args.proxy_allow))
    print(
        f"bridging into the namespace: {args.into}, out of it: {args.out}; "
        f"HTTP proxy into it: {args.http_proxy} (to {args.proxy_allow})",
        file=sys.stderr,
        flush=True,
    )
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
