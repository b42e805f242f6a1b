"""One open image file: positional reads with exact lengths, and the identity a fingerprint uses.

Every reader goes through here so that a missing file, a permission problem or a short read
becomes the same clear `DiskError`, and so that reads are positional (`os.pread`/`os.preadv`:
no shared file position, hence safe from several threads at once). Where the platform has no
positional reads (Windows), a lock serialises seek + read on the one descriptor instead.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import DiskError

if TYPE_CHECKING:
    from agent.disks.vhdx_log import Overlay


class ImageFile:
    """A read-only file descriptor on one image file of a chain."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
            self._fd = os.open(self.path, flags)
        except FileNotFoundError:
            raise DiskError(
                "DiskNotFound",
                f"The disk image {self.path} does not exist.",
                "Check the path (and that the share or volume holding it is mounted).",
            ) from None
        except PermissionError:
            raise DiskError(
                "DiskPermissionDenied",
                f"The agent may not read {self.path}.",
                "Grant the agent's account read access to the file, or run the agent as a user "
                "that has it.",
            ) from None
        except IsADirectoryError:
            raise DiskError(
                "DiskNotAFile",
                f"{self.path} is a directory, not a disk image.",
                "Pass the path of the .vhdx, .vhd or raw image file itself.",
            ) from None
        except OSError as exc:
            raise DiskError(
                "DiskUnreadable",
                f"The disk image {self.path} cannot be opened: {exc.strerror}.",
                "Check the file and the storage holding it.",
            ) from None
        st = os.fstat(self._fd)
        if not _is_regular_or_block(st.st_mode):
            self.close()
            raise DiskError(
                "DiskNotAFile",
                f"{self.path} is not a regular file.",
                "Pass the path of the .vhdx, .vhd or raw image file itself.",
            )
        self.size = _size_of(self._fd, st)
        self._overlay: Overlay | None = None
        self._seek_lock = threading.Lock()  # only used without positional reads

    def set_overlay(self, overlay: Overlay) -> None:
        """Serve every later read through a replayed VHDX log (pages and grown file size)."""
        self._overlay = overlay
        self._real_size = self.size
        self.size = max(self.size, overlay.file_size)

    @property
    def fd(self) -> int:
        return self._fd

    def pread(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`, or a DiskError naming the truncation."""
        data = self.pread_short(offset, length)
        if len(data) != length:
            raise DiskError(
                "DiskTruncated",
                f"{self.path} ends at byte {self.size} but a structure needs bytes "
                f"{offset}..{offset + length}.",
                "The file was cut short (incomplete copy or download): copy it again from the "
                "source.",
            )
        return data

    def pread_short(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer only at end of file)."""
        if self._overlay is not None:
            n = max(0, min(length, self.size - offset))
            buf = bytearray(n)
            self.read_into(offset, memoryview(buf))
            return bytes(buf)
        return self._pread_disk(offset, length)

    def _pread_disk(self, offset: int, length: int) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < length:
            try:
                chunk = self._pread(length - got, offset + got)
            except OSError as exc:
                raise DiskError(
                    "DiskReadFailed",
                    f"Reading {self.path} at byte {offset + got} failed: {exc.strerror}.",
                    "Check the storage holding the image (disk errors, disconnected share).",
                ) from None
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def read_into(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` from `offset` (no copy: `os.preadv` writes into it directly)."""
        done = 0
        total = len(buffer)
        overlay = self._overlay
        if overlay is not None:  # a replayed log may have grown the file past its real end
            total = max(0, min(total, self._real_size - offset))
            if offset + len(buffer) > self.size:
                total = -1  # force the truncation error below
        while 0 <= done < total:
            try:
                got = self._preadv(buffer[done:], offset + done)
            except OSError as exc:
                raise DiskError(
                    "DiskReadFailed",
                    f"Reading {self.path} at byte {offset + done} failed: {exc.strerror}.",
                    "Check the storage holding the image (disk errors, disconnected share).",
                ) from None
            if got == 0:
                raise DiskError(
                    "DiskTruncated",
                    f"{self.path} ended at byte {offset + done} while data was expected up to "
                    f"byte {offset + total}: the file shrank or was cut short.",
                    "Copy the image again from the source, or stop whatever is truncating it.",
                )
            done += got
        if overlay is not None:
            if total < 0:
                raise DiskError(
                    "DiskTruncated",
                    f"{self.path}: bytes {offset}..{offset + len(buffer)} lie past the end of "
                    f"the file even after log replay ({self.size} bytes).",
                    "Copy the image again from the source.",
                )
            if total < len(buffer):
                buffer[total:] = bytes(len(buffer) - total)
            overlay.patch(offset, buffer)

    def _pread(self, length: int, offset: int) -> bytes:
        if HAVE_POSITIONAL_READS:
            return os.pread(self._fd, length, offset)
        with self._seek_lock:
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, length)

    def _preadv(self, buffer: memoryview, offset: int) -> int:
        if HAVE_POSITIONAL_READS:
            return os.preadv(self._fd, [buffer], offset)
        with self._seek_lock:
            os.lseek(self._fd, offset, os.SEEK_SET)
            data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read_available(self, offset: int, buffer: memoryview) -> int:
        """Fill `buffer` as far as the file goes; return how many bytes were read."""
        done = 0
        while done < len(buffer):
            got = self._preadv(buffer[done:], offset + done)
            if got == 0:
                break
            done += got
        return done

    def identity(self) -> str:
        """Path, device, inode, size and modification time: what a fingerprint hashes."""
        st = os.fstat(self._fd)
        return f"{self.path.resolve()}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError as exc:  # pragma: no cover - closing a read-only fd
                if exc.errno != errno.EBADF:
                    raise


HAVE_POSITIONAL_READS = hasattr(os, "pread") and hasattr(os, "preadv")


def _is_regular_or_block(mode: int) -> bool:
    return stat.S_ISREG(mode) or stat.S_ISBLK(mode)


def _size_of(fd: int, st: os.stat_result) -> int:
    if stat.S_ISBLK(st.st_mode):
        return os.lseek(fd, 0, os.SEEK_END)
    return st.st_size
