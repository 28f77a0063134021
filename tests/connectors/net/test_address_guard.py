"""The SSRF guard: internal addresses refused in any spelling, at connect time, after redirects."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from ipaddress import ip_address
from pathlib import Path

import pytest

from connectors.framework.errors import FatalError
from connectors.net.address_guard import AddressGuard, RefusedAddress, embedded_ipv4, refusal_reason
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from tests.connectors import fault_server as faults
from tests.connectors.fault_server import fault_server
from tests.connectors.loopback import loopback_server, static
from tests.connectors.net.clients import fetcher, policy, redirect, resolver


async def test_redirect_to_a_private_address_is_refused_before_connecting() -> None:
    # Another loopback address, outside the allowed 127.0.0.1/32.
    async with fault_server({"/x": faults.respond(b"secret")}, host="127.0.0.2") as target:
        routes = {
            "/to-literal": redirect(302, target.url("/x")),
            "/to-metadata": redirect(302, "http://169.254.169.254/latest/"),
            "/to-name": redirect(307, target.url("/x", host="intra.test")),
        }
        names = resolver({"intra.test": ["127.0.0.2"]})
        async with loopback_server(routes) as server, fetcher(resolve=names) as client:
            with pytest.raises(RefusedAddress, match=r"127\.0\.0\.2.*loopback"):
                await client.get(server.url("/to-literal"))
            with pytest.raises(RefusedAddress, match=r"169\.254\.169\.254.*cloud-metadata"):
                await client.get(server.url("/to-metadata"))
            with pytest.raises(RefusedAddress, match=r"intra\.test \(127\.0\.0\.2\)"):
                await client.get(server.url("/to-name"))
    assert target.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://127.0.0.2/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        # Spellings that are not dotted quads are resolved, then refused at connect time.
        "http://167772161/",
        "http://10.1/",
        "http://0x7f.1/",
        "http://localhost/",
    ],
)
async def test_internal_addresses_are_refused_in_any_spelling(url: str) -> None:
    async with SafeFetcher(FetchPolicy(per_host_rate=None)) as client:
        with pytest.raises(RefusedAddress):
            await client.get(url)


async def test_loopback_is_refused_by_default() -> None:
    async with loopback_server({"/": static(b"hi")}) as server:
        async with SafeFetcher(FetchPolicy(per_host_rate=None)) as client:
            with pytest.raises(RefusedAddress, match="loopback"):
                await client.get(server.url("/"))
    assert "/" not in server.seen


async def test_metadata_stays_refused_inside_an_allowed_network() -> None:
    guard = AddressGuard(FetchPolicy(allowed_networks=["169.254.0.0/16"]).allowed_networks)
    guard.check("printer.lan", "169.254.10.10")
    with pytest.raises(RefusedAddress, match="cloud-metadata"):
        guard.check("169.254.169.254", "169.254.169.254")


async def test_name_resolving_to_any_private_address_is_refused() -> None:
    names = resolver({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    async with fetcher(resolve=names) as client:
        with pytest.raises(RefusedAddress, match=r"mixed\.test \(10\.1\.2\.3\): private"):
            await client.get("http://mixed.test/")


async def test_connection_goes_to_the_address_that_was_checked() -> None:
    # DNS rebinding: the name first answers with an allowed address, then with another.
    # The other one runs a server on the same port; it must never see a connection.
    answers = [["127.0.0.1"], ["127.0.0.2"]]
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return answers[min(len(lookups), len(answers)) - 1]

    async with fault_server({"/": faults.respond(b"good")}, host="127.0.0.1") as good:
        evil_routes = {"/": faults.respond(b"evil")}
        async with fault_server(evil_routes, host="127.0.0.2", port=good.port) as evil:
            async with fetcher(resolve=rebinding) as client:
                fetched = await client.get(good.url("/", host="rebind.test"))
    assert fetched.body == b"good"
    assert lookups == ["rebind.test"]  # resolved once, for the connection itself
    assert good.requests[0].headers["host"] == f"rebind.test:{good.port}"
    assert evil.connections == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name tls.test (and only that name)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = ["-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test"]
    subprocess.run(
        [*command.split(), *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_checks_the_certificate_against_the_name_not_the_address(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    names = resolver({"tls.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    async with fault_server({"/": faults.respond(b"secure")}, tls=server_tls) as server:
        async with SafeFetcher(policy(), resolve=names, ssl_context=client_tls) as client:
            fetched = await client.get(server.url("/", host="tls.test"))
            # Same address, a name the certificate does not cover: refused, not retried.
            with pytest.raises(FatalError, match="TLS certificate rejected"):
                await client.get(server.url("/", host="other.test"))
    assert fetched.body == b"secure"
    assert server.hits["/"] == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal_reason(embedded_ipv4(ip_address(address))) == reason


@pytest.mark.parametrize("wrapped", ["::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1"])
def test_ipv4_inside_ipv6_is_unwrapped(wrapped: str) -> None:
    assert str(embedded_ipv4(ip_address(wrapped))) == "10.0.0.1"
