"""Throw-away servers for tests of the security settings: a redis-server with its own
port, folder, ACL file and TLS files, and an openssl-made CA. Never the shared stack's
Redis: a test that needs ACL users or TLS must not reconfigure a server others use."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streams.stack.process import end_child, port_open


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate it signed (PEM), valid for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is required (Debian: apt-get install openssl)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr}")


def make_tls_files(folder: Path, name: str = "server") -> TlsFiles:
    """A fresh CA (``<name>-ca.crt``) and a server key and certificate signed by it."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / f"{name}-ca.crt", folder / f"{name}-ca.key"
    cert, key, csr = folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    rsa = ["-newkey", "rsa:2048", "-nodes"]
    _openssl("req", "-x509", *rsa, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
             "-subj", f"/CN=streamrec test CA {name}", cwd=folder)  # fmt: skip
    _openssl("req", *rsa, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost",
             cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
             cwd=folder)  # fmt: skip
    return TlsFiles(ca, cert, key)


class RedisServer:
    """``redis-server`` on a free port of its own; ``acl`` lines become its ACL file,
    ``tls`` makes its only port a TLS port. Use as a context manager."""

    def __init__(
        self,
        folder: Path,
        acl: list[str] | None = None,
        tls: TlsFiles | None = None,
        args: tuple[str, ...] = (),
        port: int | None = None,
    ) -> None:
        self.folder = folder
        self.acl = acl
        self.tls = tls
        self.args = args
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is required (Debian: apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log"]  # fmt: skip
        if self.acl is not None:
            aclfile = self.folder / "users.acl"
            aclfile.write_text("\n".join(self.acl) + "\n")
            argv += ["--aclfile", str(aclfile)]
        if self.tls is None:
            argv += ["--port", str(self.port)]
        else:
            t = self.tls
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(t.cert),
                     "--tls-key-file", str(t.key), "--tls-ca-cert-file", str(t.ca),
                     "--tls-auth-clients", "no"]  # fmt: skip
        self.proc = subprocess.Popen(
            [*argv, *self.args], cwd=self.folder, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        log = self.folder / "redis.log"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start-up:\n{text[-2000:]}")
            ready = log.exists() and "Ready to accept connections" in log.read_text()
            if ready and port_open("127.0.0.1", self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server not ready on port {self.port} after 20 s")

    def stop(self) -> None:
        end_child(self.proc, timeout=10)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
