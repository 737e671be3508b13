"""Reading an untrusted zip of training images (trainers' layout: ``a.png`` + ``a.txt``).

Everything that can be refused is refused from the central directory, before a single entry
is decompressed: the directory's size and entry count, names (absolute paths and ``..`` are
refused, ``./a.png`` and ``a//b.png`` are fine), how many images there are against the free
slots, each entry's declared size, and its compression ratio (zero-filled "images" that
expand a thousand times are refused as zip bombs). Entries are then read one at a time, in
chunks, with a hard byte cap that holds even when a declared size lies.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from stationthis.core.errors import InvalidInput

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CAPTION_SUFFIX = ".txt"
CAPTION_MAX_BYTES = 64 * 1024
MAX_RATIO = 100  # uncompressed / compressed; real PNG, JPEG and WEBP data hardly compresses
RATIO_FLOOR = 1024 * 1024  # entries smaller than this are not ratio-checked
CHUNK = 256 * 1024
_DIRECTORY_BYTES_PER_ENTRY = 1024  # central directory room per allowed entry (name + extras)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                NotImplementedError, ValueError, struct.error)


@dataclass(frozen=True)
class ZipLimits:
    free_slots: int  # how many images the dataset can still take
    total_slots: int  # how many it can hold
    image_bytes: int  # per image, uncompressed
    caption_bytes: int = CAPTION_MAX_BYTES
    max_entries: int = 112  # all entries, ignored ones (folders, notes, __MACOSX) included

    @property
    def total_bytes(self) -> int:
        """All that may be read from one zip: every free slot's image and caption."""
        return max(self.free_slots, 0) * (self.image_bytes + self.caption_bytes)


@dataclass(frozen=True)
class DatasetEntry:
    """One image of the zip and its caption file, as the zip's own ``ZipInfo`` objects."""

    image: zipfile.ZipInfo
    caption: zipfile.ZipInfo | None

    @property
    def name(self) -> str:
        return self.image.filename


class DatasetZip:
    """A zip checked against ``limits``; `InvalidInput` says what was refused and why."""

    def __init__(self, source: bytes | BinaryIO, limits: ZipLimits) -> None:
        self.limits = limits
        fp: BinaryIO = _as_file(source)
        _check_directory(fp, limits.max_entries)
        try:
            self._zip = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError):
            raise InvalidInput("not a zip file") from None
        try:
            self.entries = _plan(self._zip.infolist(), limits)
        except BaseException:
            self._zip.close()
            raise
        self._read = 0

    def __enter__(self) -> DatasetZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def read_image(self, entry: DatasetEntry) -> bytes:
        return self._read_capped(entry.image, self.limits.image_bytes, "an image")

    def read_caption(self, entry: DatasetEntry) -> str | None:
        if entry.caption is None:
            return None
        raw = self._read_capped(entry.caption, self.limits.caption_bytes, "a caption file")
        return raw.decode("utf-8", "replace").strip()

    def _read_capped(self, info: zipfile.ZipInfo, cap: int, what: str) -> bytes:
        """Stream one entry, never holding more than ``cap`` + one chunk of it."""
        data = bytearray()
        try:
            with self._zip.open(info) as stream:
                while chunk := stream.read(min(CHUNK, cap + 1 - len(data))):
                    data += chunk
                    if len(data) > cap:
                        raise InvalidInput(
                            f"{_shown(info.filename)} is larger than it says and over the "
                            f"{_size(cap)} limit for {what}"
                        )
        except _READ_ERRORS as exc:
            raise InvalidInput(
                f"{_shown(info.filename)} cannot be read: {_reason(exc)}"
            ) from None
        self._read += len(data)
        if self._read > self.limits.total_bytes:  # a backstop: each entry has its own cap
            raise InvalidInput(f"the zip holds more than {_size(self.limits.total_bytes)}")
        return bytes(data)


def _as_file(source: bytes | BinaryIO) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    return source


def _check_directory(fp: BinaryIO, max_entries: int) -> None:
    """Refuse a central directory with too many entries (or too large to hold only that
    many) before `zipfile` parses it into one object per entry. The fields read are the ones
    `zipfile` uses: the end record's, or the zip64 end record's when a locator precedes it."""
    fp.seek(0, 2)
    size = fp.tell()
    tail = min(size, 22 + 0xFFFF)
    fp.seek(size - tail)
    data = fp.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < 22:
        raise InvalidInput("not a zip file")
    entries, directory = struct.unpack("<10xHL6x", data[at:at + 22])
    end = size - tail + at  # where the end record starts
    if end >= 20 + 56:
        fp.seek(end - 20)
        if fp.read(4) == b"PK\x06\x07":
            fp.seek(end - 20 - 56)
            record = fp.read(56)
            if record[:4] == b"PK\x06\x06":
                entries, directory = struct.unpack("<32xQQ8x", record)
    if entries > max_entries:
        raise InvalidInput(
            f"the zip has {entries} entries; a dataset zip may have at most {max_entries}"
        )
    if directory > max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise InvalidInput(f"the zip's list of entries is {_size(directory)}; a dataset zip's "
                           f"may be at most {_size(max_entries * _DIRECTORY_BYTES_PER_ENTRY)}")
    fp.seek(0)


def _plan(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> list[DatasetEntry]:
    if len(infos) > limits.max_entries:
        raise InvalidInput(
            f"the zip has {len(infos)} entries; a dataset zip may have at most "
            f"{limits.max_entries}"
        )
    images: dict[str, zipfile.ZipInfo] = {}
    captions: dict[str, zipfile.ZipInfo] = {}
    seen: dict[str, str] = {}
    for info in infos:
        if info.is_dir():
            continue
        path = _normalised(info.filename)
        if path in seen:
            raise InvalidInput(f"the zip has two entries named {_shown(path)}")
        seen[path] = info.filename
        pure = PurePosixPath(path)
        if any(part.startswith(".") or part == "__MACOSX" for part in pure.parts):
            continue  # hidden files and macOS resource forks
        suffix = pure.suffix.lower()
        stem = str(pure.with_suffix(""))
        if suffix in IMAGE_SUFFIXES:
            images[path] = info
        elif suffix == CAPTION_SUFFIX:
            captions[stem] = info
    if not images:
        raise InvalidInput("the zip has no PNG, JPEG or WEBP images")
    free = max(limits.free_slots, 0)
    if len(images) > free:
        raise InvalidInput(
            f"{len(images)} images do not fit: this dataset has {free} free slot"
            f"{'s' if free != 1 else ''} of {limits.total_slots}"
        )
    entries = []
    for path in sorted(images):
        caption = captions.get(str(PurePosixPath(path).with_suffix("")))
        entry = DatasetEntry(images[path], caption)
        _check_sizes(entry.image, limits.image_bytes, "an image")
        if caption is not None:
            _check_sizes(caption, limits.caption_bytes, "a caption file")
        entries.append(entry)
    declared = sum(e.image.file_size + (e.caption.file_size if e.caption else 0)
                   for e in entries)
    if declared > limits.total_bytes:
        raise InvalidInput(f"the zip's images and captions are {_size(declared)}; at most "
                           f"{_size(limits.total_bytes)} fit in this dataset")
    return entries


def _normalised(name: str) -> str:
    """The entry's path for pairing images with captions: backslashes as slashes, empty and
    ``.`` segments dropped. Absolute names and ``..`` segments are refused."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise InvalidInput(f"{_shown(name)} is an absolute path; zip entries must be relative")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"{_shown(name)} points outside the zip (..)")
    if not parts:
        raise InvalidInput(f"{_shown(name)} is not a usable entry name")
    return "/".join(parts)


def _check_sizes(info: zipfile.ZipInfo, cap: int, what: str) -> None:
    if info.flag_bits & 0x1:
        raise InvalidInput(f"{_shown(info.filename)} is encrypted")
    if info.file_size > cap:
        raise InvalidInput(
            f"{_shown(info.filename)} is {_size(info.file_size)}; {what} may be at most "
            f"{_size(cap)}"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise InvalidInput(
            f"{_shown(info.filename)} expands {ratio} times ({_size(info.compress_size)} to "
            f"{_size(info.file_size)}); refused as a likely zip bomb"
        )


def _shown(name: str) -> str:
    return repr(name if len(name) <= 100 else name[:100] + "…")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:120] + "…"
