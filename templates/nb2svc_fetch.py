# Written by nb2svc @nb2svc_version@: part of the service's runtime (see README.md).
"""The notebook's data fetches: `!wget`, `!curl`, `!unzip` and `!tar -x` lines became
calls of `download` and `unpack`, which run in order when the notebook trains and do
nothing when their files are already there. nb2svc ships this module with the services
whose notebook fetches data.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from . import nb2svc_runtime as runtime

NB2SVC_VERSION = "@nb2svc_version@"
log = runtime.log

DOWNLOAD_TIMEOUT_SECONDS = 60


def download(url: str, dest: str) -> None:
    """`!wget URL -O dest`, `!curl -o dest URL`: fetches `url` unless `dest` is there.

    `dest` is relative to the current folder, the notebook's.
    """
    import shutil
    import urllib.request

    target = Path(dest)
    if target.exists():
        log.info("nb2svc: %s is already there, not downloading %s", dest, url)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Fetched beside its destination and renamed once complete: an interrupted download
    # never passes for the file.
    partial = runtime.temp_sibling(target)
    try:
        timeout = DOWNLOAD_TIMEOUT_SECONDS
        with urllib.request.urlopen(url, timeout=timeout) as response:
            with open(partial, "xb") as handle:
                shutil.copyfileobj(response, handle)
        os.replace(partial, target)
    except Exception as error:
        if hasattr(error, "close"):
            error.close()  # an HTTPError holds the connection open until collected
        raise OSError(f"nb2svc: could not download {url} to {dest}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    log.info("nb2svc: downloaded %s to %s", url, dest)


def unpack(archive: str, dest: str = ".") -> None:
    """`!unzip archive -d dest`, `!tar xf archive -C dest`: zip or tar, told by content.

    Nothing happens when every member is already there; a member that would land outside
    `dest` (absolute, or through `..`) is refused before anything is written.
    """
    import tarfile
    import zipfile

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            _unpack_members(archive, dest, bundle.namelist(), bundle.extractall)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in members:
                _check_link(archive, dest, member)
            names = [member.name for member in members]
            _unpack_members(
                archive, dest, names, functools.partial(_extract_tar, bundle)
            )
    else:
        raise ValueError(f"nb2svc: {archive} is neither a zip nor a tar archive")


def _unpack_members(
    archive: str, dest: str, names: list[str], extract: Callable[[Path], Any]
) -> None:
    for name in names:
        _check_member(archive, dest, name)
    root = Path(dest)
    if all((root / name).exists() for name in names):
        log.info("nb2svc: %s is already unpacked in %s", archive, dest)
        return
    root.mkdir(parents=True, exist_ok=True)
    extract(root)
    log.info("nb2svc: unpacked %s into %s", archive, dest)


def _escapes(name: str) -> bool:
    """Whether an archive path would land outside the folder it is unpacked into."""
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    return posix.startswith("/") or bool(PureWindowsPath(name).drive) or ".." in parts


def _check_member(archive: str, dest: str, name: str) -> None:
    if _escapes(name):
        raise ValueError(
            f"nb2svc: refusing to unpack {archive}: its member {name} would land "
            f"outside {dest}"
        )


def _check_link(archive: str, dest: str, member: Any) -> None:
    """A link must point inside `dest` too, or a later member writes through it."""
    if not (member.issym() or member.islnk()):
        return
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    pointed = posixpath.normpath(str(base / member.linkname))
    if member.linkname.startswith("/") or pointed.split("/")[0] == "..":
        raise ValueError(
            f"nb2svc: refusing to unpack {archive}: its link {member.name} points "
            f"outside {dest}"
        )


def _extract_tar(bundle: Any, root: Path) -> None:
    import tarfile

    # The "data" filter (Python 3.12, and security releases of 3.9 to 3.11) also drops
    # device files and setuid bits: an archive of data needs neither.
    if hasattr(tarfile, "data_filter"):
        bundle.extractall(root, filter="data")
    else:
        bundle.extractall(root)
