"""Datasets in Studio: uploads (streamed to disk under a size limit, names normalised, zips extracted safely) and
registered local paths (confined to the configured roots). Each dataset is a folder a job's channel can name.

An upload lands in a private `.incoming-*` folder and is renamed into place only once every file is checked, so a
refused upload leaves nothing behind and never touches another dataset.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from fmtune.paths import fmtune_home
from fmtune.studio.errors import StudioError

# What a training channel can hold (text data, template/dataset info, images) and zips of them.
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".txt", ".png", ".jpg", ".jpeg", ".webp", ".bmp")
ARCHIVE_SUFFIXES = (".zip",)
DATASET_ID = re.compile(r"ds-[0-9a-f]{12}")
UPLOAD_FIELD = "file"
MAX_FILES = 10_000  # per upload, zip entries included
MAX_NAME_BYTES = 200
SKIPPED_ENTRIES = ("__MACOSX/", ".DS_Store", "Thumbs.db")  # what archivers add; never data


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    path: str  # the folder (or file) a channel reads
    kind: str  # "upload" or "path"
    created: str
    files: int
    bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def datasets_dir() -> Path:
    return fmtune_home() / "studio" / "datasets"


def list_datasets() -> list[Dataset]:
    root = datasets_dir()
    found = [_read(p / "dataset.json") for p in root.iterdir() if DATASET_ID.fullmatch(p.name)] if root.is_dir() else []
    return sorted((d for d in found if d is not None), key=lambda d: d.created, reverse=True)


def get_dataset(dataset_id: str) -> Dataset:
    dataset = _read(datasets_dir() / dataset_id / "dataset.json") if DATASET_ID.fullmatch(dataset_id) else None
    if dataset is None:
        raise StudioError(f"no dataset with id {dataset_id!r}; GET /api/v1/datasets lists them.", status=404)
    return dataset


def delete_dataset(dataset_id: str) -> None:
    get_dataset(dataset_id)
    shutil.rmtree(datasets_dir() / dataset_id)  # a registered path's own files are never touched


def register_path(path: str, roots: tuple[Path, ...], name: str | None = None) -> Dataset:
    """Record a local file or folder (no copy) after confining it to the roots."""
    where = confined_path(path, roots)
    files = [where] if where.is_file() else [p for p in where.rglob("*") if p.is_file()]
    return _save_record(_new_id(), name or where.name, where, "path", files)


def confined_path(path: str, roots: tuple[Path, ...]) -> Path:
    """An existing path whose real location (symlinks followed) lies under one of the roots."""
    try:
        real = Path(str(path).removeprefix("file://")).expanduser().resolve()
    except (ValueError, RuntimeError, OSError) as err:  # a NUL byte, ~nosuchuser, a name the system refuses
        raise StudioError(f"path {path!r} is not a usable path ({err}).") from None
    if not any(real == root or real.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise StudioError(f"path {path!r} is outside the folders Studio may read ({allowed}); move the data there or "
                          "start Studio with --data-root FOLDER.", status=403)
    if not real.exists():
        raise StudioError(f"path {path!r} does not exist.", status=404)
    return real


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, limit: int, name: str | None) -> Dataset:
    """Stream a multipart body's `file` parts to disk, extract zips, check every name and type; the new dataset."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise StudioError("send the files as multipart/form-data, each in a field named 'file' (curl -F "
                          "file=@train.jsonl).", status=415)
    dataset_id = _new_id()
    incoming = datasets_dir() / f".incoming-{dataset_id}"
    incoming.mkdir(parents=True)
    try:
        receiver = _PartWriter(incoming / "data", limit)
        parser = MultipartParser(boundary, receiver.callbacks())
        try:
            async for chunk in chunks:
                parser.write(chunk)
            parser.finalize()
        except (MultipartParseError, FormParserError) as err:
            raise StudioError(f"the upload is not well-formed multipart/form-data ({err}); send it with a form or "
                              "curl -F file=@FILE.") from None
        receiver.finish()
        # One budget for the whole upload: the plain files as sent, each zip as it really extracts.
        budget = limit - receiver.written + sum(a.stat().st_size for a in receiver.archives)
        for archive in receiver.archives:
            budget = _extract_zip(archive, incoming / "data", budget)
            archive.unlink()
        files = [p for p in (incoming / "data").rglob("*") if p.is_file()]
        if not files:
            raise StudioError("the upload holds no data files; add .jsonl/.csv/.json/.txt files (or images for "
                              "Stable Diffusion), or a .zip of them.", status=422)
        record = _save_record(dataset_id, name or _default_name(files, incoming / "data"),
                              datasets_dir() / dataset_id / "data", "upload", files, folder=incoming)
        os.replace(incoming, datasets_dir() / dataset_id)
        return record
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise


def safe_name(raw: str) -> str:
    """A client's file name reduced to one safe component, or an StudioError naming it: no folders, no `..`,
    no absolute or drive paths, no control characters, a data suffix."""
    name = unicodedata.normalize("NFC", raw)
    if not name or "\x00" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise StudioError(f"file name {raw!r}: empty or holds control characters; rename the file.")
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or len(parts) > 1:
        raise StudioError(f"file name {raw!r}: a path, not a file name; upload the file itself (folders go in a "
                          ".zip).")
    if name.startswith(".") or len(name.encode()) > MAX_NAME_BYTES:
        raise StudioError(f"file name {raw!r}: hidden or longer than {MAX_NAME_BYTES} bytes; rename the file.")
    _check_suffix(name, raw, ARCHIVE_SUFFIXES)
    return name


def _check_suffix(name: str, shown: str, extra: tuple[str, ...] = ()) -> None:
    if not name.lower().endswith(DATA_SUFFIXES + extra):
        accepted = ", ".join(DATA_SUFFIXES + extra)
        raise StudioError(f"file {shown!r}: not a data file Studio accepts ({accepted}).", status=415)


class _PartWriter:
    """multipart callbacks writing each `file` part straight to disk, counting bytes against the limit."""

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.written, self.count = 0, 0
        self.archives: list[Path] = []
        self._header_field, self._header_value = b"", b""
        self._headers: dict[bytes, bytes] = {}
        self._out = None
        self._skip = False
        folder.mkdir(parents=True)

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_headers_finished": self._open,
            "on_part_data": self._data, "on_part_end": self._close,
        }

    def _begin(self) -> None:
        self._headers, self._skip = {}, False

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _open(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode(errors="replace")
        if field != UPLOAD_FIELD or b"filename" not in options:
            self._skip = True  # other form fields are not part of the data
            return
        name = safe_name(options[b"filename"].decode(errors="replace"))
        self.count += 1
        if self.count > MAX_FILES:
            raise StudioError(f"more than {MAX_FILES} files in one upload; send a .zip or split it.", status=413)
        target = self.folder / name
        if target.exists():
            raise StudioError(f"file {name!r} is in the upload twice; give each file its own name.")
        self._out = target.open("xb")
        if name.lower().endswith(ARCHIVE_SUFFIXES):
            self.archives.append(target)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._skip or self._out is None:
            return
        self.written += end - start
        if self.written > self.limit:
            raise StudioError(f"the upload is larger than this Studio's limit of {_mb(self.limit)}; split it or start "
                              "Studio with a larger --max-upload-mb.", status=413)
        self._out.write(data[start:end])

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def finish(self) -> None:
        self._close()


def _extract_zip(archive: Path, folder: Path, budget: int) -> int:
    """Extract a zip into `folder`: every entry a relative path inside it (no zip-slip), no symlinks or special
    files, data suffixes only, at most `budget` bytes as actually decompressed (not as the zip claims). Returns
    what is left of the budget."""
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise StudioError(f"{archive.name}: not a readable zip file.", status=415) from None
    with bundle:
        entries = [e for e in bundle.infolist() if not e.is_dir() and not _skipped(e.filename)]
        if len(entries) > MAX_FILES:
            raise StudioError(f"{archive.name}: more than {MAX_FILES} entries; split it.", status=413)
        targets = [_entry_target(archive, entry, folder) for entry in entries]
        twice = sorted(str(t.relative_to(folder)) for t, n in Counter(targets).items() if n > 1)
        if twice:
            raise StudioError(f"{archive.name}: {', '.join(twice)} in the zip more than once; keep one of each.")
        for entry, target in zip(entries, targets, strict=True):
            try:
                budget = _extract_entry(bundle, entry, target, budget, archive.name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as err:
                raise StudioError(f"{archive.name}: entry {entry.filename!r} is damaged ({err}).", status=415) from None
            except OSError as err:  # the same name twice, a file where a folder must go, a name too long
                raise StudioError(f"{archive.name}: entry {entry.filename!r} cannot be written ({err.strerror}); "
                                  "give each file its own short name.") from None
    return budget


def _extract_entry(bundle: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path, budget: int, shown: str) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open(entry) as source, target.open("xb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            budget -= len(block)
            if budget < 0:
                raise StudioError(f"{shown}: the upload extracts to more than this Studio's limit; split it or "
                                  "start Studio with a larger --max-upload-mb.", status=413)
            out.write(block)
    return budget


def _entry_target(archive: Path, entry: zipfile.ZipInfo, folder: Path) -> Path:
    shown = f"{archive.name}: entry {entry.filename!r}"
    kind = stat.S_IFMT(entry.external_attr >> 16)  # 0: no type recorded (zipfile.writestr, Windows tools)
    if kind and kind != stat.S_IFREG:
        raise StudioError(f"{shown} is a symbolic link or special file; zip the files themselves.")
    name = entry.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts or "\x00" in name:
        raise StudioError(f"{shown} points outside the archive's folder; refusing the whole upload.")
    if any(part.startswith(".") for part in path.parts):
        raise StudioError(f"{shown} is hidden; remove it from the zip.")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in path.parts):
        raise StudioError(f"{shown}: a name longer than {MAX_NAME_BYTES} bytes; rename it.")
    _check_suffix(path.name, f"{archive.name}: {entry.filename}")
    return folder.joinpath(*path.parts)


def _skipped(name: str) -> bool:
    return name.startswith(SKIPPED_ENTRIES[0]) or PurePosixPath(name).name in SKIPPED_ENTRIES[1:]


def _default_name(files: list[Path], folder: Path) -> str:
    tops = sorted({f.relative_to(folder).parts[0] for f in files})
    return tops[0] if len(tops) == 1 else f"{tops[0]} +{len(tops) - 1}"


def _new_id() -> str:
    return f"ds-{secrets.token_hex(6)}"


def _save_record(dataset_id: str, name: str, path: Path, kind: str, files: list[Path],
                 folder: Path | None = None) -> Dataset:
    record = Dataset(dataset_id, name[:MAX_NAME_BYTES], str(path), kind,
                     datetime.now(UTC).isoformat(timespec="seconds"), len(files), sum(f.stat().st_size for f in files))
    home = folder or datasets_dir() / dataset_id
    home.mkdir(parents=True, exist_ok=True)
    (home / "dataset.json").write_text(json.dumps(record.to_dict(), indent=2) + "\n")
    return record


def _read(path: Path) -> Dataset | None:
    try:
        return Dataset(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB"
