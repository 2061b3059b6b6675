"""``tf.gfile``: local file operations (conveyor's readers open fsspec URLs too)."""

from __future__ import annotations

import glob as _glob
import os
import shutil
from typing import IO, Any

from conveyor.compat.v1._missing import missing_names

__all__ = [
    "Exists",
    "Glob",
    "IsDirectory",
    "ListDirectory",
    "MakeDirs",
    "MkDir",
    "Remove",
    "DeleteRecursively",
    "GFile",
    "Open",
]


def Exists(filename: str) -> bool:
    return os.path.exists(filename)


def Glob(filename: str) -> list[str]:
    return sorted(_glob.glob(filename))


def IsDirectory(dirname: str) -> bool:
    return os.path.isdir(dirname)


def ListDirectory(dirname: str) -> list[str]:
    return os.listdir(dirname)


def MakeDirs(dirname: str) -> None:
    os.makedirs(dirname, exist_ok=True)


def MkDir(dirname: str) -> None:
    os.mkdir(dirname)


def Remove(filename: str) -> None:
    os.remove(filename)


def DeleteRecursively(dirname: str) -> None:
    shutil.rmtree(dirname)


def GFile(name: str, mode: str = "r") -> IO[Any]:
    return open(name, mode)


Open = GFile

__getattr__ = missing_names(__name__, "tf.gfile", "os, shutil and conveyor.io.files")
