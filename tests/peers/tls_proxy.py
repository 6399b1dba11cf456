"""A TLS front for the RTSP test server: rtsps:// with a self-signed certificate.

RTSP over TCP carries the media in the same connection (interleaved), so terminating TLS
and relaying the bytes to the plain GStreamer server is a real RTSPS server for FFmpeg.
The certificate is made here for 127.0.0.1 and trusted by nobody: a client that verifies
must refuse it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime
import ipaddress
from pathlib import Path
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsProxy:
    """Accepts TLS on 127.0.0.1 and relays each connection to backend_port."""

    def __init__(self, backend_port: int, folder: Path) -> None:
        self._backend = ("127.0.0.1", backend_port)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(*_self_signed(folder))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="tls-proxy", daemon=True)
        self._accepting.start()

    def url(self, mount: str) -> str:
        return f"rtsps://127.0.0.1:{self.port}/{mount}"

    def close(self) -> None:
        # shutdown, not only close: it is what wakes the thread blocked in accept().
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except ssl.SSLError, OSError:
            # a verifying client refused the certificate
            raw.close()
            return
        with client, socket.create_connection(self._backend, timeout=10) as backend:
            backend.settimeout(None)
            client.settimeout(None)
            back = threading.Thread(target=_pump, args=(backend, client), daemon=True)
            back.start()
            _pump(client, backend)
            with contextlib.suppress(OSError):
                backend.shutdown(socket.SHUT_RDWR)
            back.join(5)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tls_proxy(backend_port: int, folder: Path) -> Iterator[TlsProxy]:
    proxy = TlsProxy(backend_port, folder)
    try:
        yield proxy
    finally:
        proxy.close()
