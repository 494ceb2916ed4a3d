"""`appliance tls self-signed`: a private key and a self-signed certificate for HTTPS.

ECDSA P-256 (small, fast on a Jetson, accepted by every browser and client). The certificate
names every host given (DNS names or IP addresses) in its subjectAltName, the only place
clients look, and carries the extensions strict verifiers ask for (Python 3.13's default
VERIFY_X509_STRICT among them): key identifiers, basicConstraints, key usages.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.auth.files import write_private

if TYPE_CHECKING:
    from cryptography.x509 import GeneralName

CERT_FILE = "appliance.crt"
KEY_FILE = "appliance.key"
_SIGNING_ONLY = dict.fromkeys(
    ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
     "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
    False,
) | {"digital_signature": True}  # ECDHE key exchange: the key only signs  # fmt: skip


@dataclass(frozen=True)
class SelfSigned:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the DER certificate, AA:BB:… as browsers show it
    hosts: tuple[str, ...]
    not_after: dt.datetime


def default_hosts() -> list[str]:
    """This machine as LAN clients reach it: its hostname (and .local, mDNS), loopback."""
    name = socket.gethostname()
    return [name, f"{name}.local", "localhost", "127.0.0.1", "::1"]


def make_self_signed(
    out_dir: Path, hosts: list[str], days: int = 825, overwrite: bool = False
) -> SelfSigned:
    # cryptography is only needed here, by a CLI command: the service never imports it
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
    if not overwrite and (cert_path.exists() or key_path.exists()):
        raise FileExistsError(f"{cert_path} or {key_path} exists (--force replaces them)")
    hosts = list(dict.fromkeys(h.strip() for h in hosts if h.strip()))  # unique, in order
    if not hosts:
        raise ValueError("name at least one host")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])])
    now = dt.datetime.now(dt.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # clocks on small boards drift
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**_SIGNING_ONLY), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the service starts unattended: no passphrase
    )
    write_private(key_path, key_pem)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    digest = cert.fingerprint(hashes.SHA256())
    return SelfSigned(
        cert=cert_path,
        key=key_path,
        fingerprint=":".join(f"{b:02X}" for b in digest),
        hosts=tuple(hosts),
        not_after=cert.not_valid_after_utc,
    )


def _general_name(host: str) -> GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
