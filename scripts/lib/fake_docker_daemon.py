#!/usr/bin/env python3
"""A fake Docker Engine API on a unix socket, for scripts/bench-daemon.

    fake_docker_daemon.py make EXPORT LAYERS LAYER_MIB   writes a classic daemon's export
    fake_docker_daemon.py serve SOCKET EXPORT            serves it as the image bench:latest

`make` writes what a daemon before Docker 25 exports for `docker save bench:latest`: LAYERS
layer tars of LAYER_MIB MiB of random data each (uncompressed, `<id>/layer.tar`), the config
naming their diff_ids, and manifest.json last. `serve` answers /_ping (API 1.47),
/images/bench:latest/json and /images/get with that file, without a length, as dockerd streams
it. Standard library only.
"""

import hashlib
import http.server
import io
import json
import os
import socketserver
import sys
import tarfile

IMAGE = "bench:latest"
CHUNK = 1 << 20


def tar_header(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def padding(size):
    return b"\0" * (-size % 512)


def make(export, layers, layer_mib):
    data_size = layer_mib << 20
    # One file of random data in each layer tar: header, data, padding, two zero blocks.
    layer_size = 512 + data_size + len(padding(data_size)) + 1024
    diff_ids, names = [], []
    with open(export, "wb") as out:
        for n in range(layers):
            name = f"{hashlib.sha256(f'layer {n}'.encode()).hexdigest()}/layer.tar"
            out.write(tar_header(name, layer_size))
            digest = hashlib.sha256()

            def put(block):
                digest.update(block)
                out.write(block)

            put(tar_header(f"data-{n}.bin", data_size))
            left = data_size
            while left:
                block = os.urandom(min(CHUNK, left))
                put(block)
                left -= len(block)
            put(padding(data_size) + b"\0" * 1024)
            out.write(padding(layer_size))
            diff_ids.append("sha256:" + digest.hexdigest())
            names.append(name)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": f"layer {n}"} for n in range(layers)],
            }
        ).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        manifest = json.dumps(
            [{"Config": config_name, "RepoTags": [IMAGE], "Layers": names}]
        ).encode()
        for name, body in ((config_name, config), ("manifest.json", manifest)):
            out.write(tar_header(name, len(body)) + body + padding(len(body)))
        out.write(b"\0" * 1024)
    print("sha256:" + hashlib.sha256(config).hexdigest())


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: the export's end is the connection's, as a body without a length.
    protocol_version = "HTTP/1.0"
    export = ""

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass

    def json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.47")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path.startswith("/v1."):
            path = path[path.index("/", 1) :]
        if path == "/_ping":
            self.send_response(200)
            self.send_header("Api-Version", "1.47")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
        elif path in (f"/images/{IMAGE}/json", "/images/bench/json"):
            size = os.path.getsize(self.export)
            with open(self.export, "rb") as f:
                tar = tarfile.open(fileobj=f)
                config = next(m for m in tar.getmembers() if m.name.endswith(".json") and m.name != "manifest.json")
            self.json(
                200,
                {
                    "Id": "sha256:" + config.name[: -len(".json")],
                    "RepoTags": [IMAGE],
                    "RepoDigests": [],
                    "Os": "linux",
                    "Architecture": "amd64",
                    "Size": size,
                },
            )
        elif path == "/images/get" and f"names={IMAGE}" in query:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-tar")
            self.end_headers()
            try:
                with open(self.export, "rb") as f:
                    while block := f.read(CHUNK):
                        self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                print("fake daemon: the client closed the export before its end", file=sys.stderr)
        else:
            self.json(404, {"message": f"page not found: {self.path}"})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(socket_path, export):
    Handler.export = export
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    with Server(socket_path, Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
