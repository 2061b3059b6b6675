"""``download``: fetched over HTTP only when missing, resumed, verified before anything
is extracted, and extracted all or nothing — against a local server."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from archives import CIFAR10_MEMBERS, cifar10_archive, cifar10_contents, md5, tar_gz

from conveyor.datasets import cifar10, cifar100, download, download_cifar100
from conveyor.errors import DataLossError, InvalidArgumentError, UnavailableError

pytestmark = pytest.mark.timeout(30)

ARCHIVE = "cifar-10-binary.tar.gz"


def serve(server, data: bytes, name: str = ARCHIVE) -> str:
    (Path(server.root) / name).write_bytes(data)
    return server.url(name)


def extracted(data_dir: Path) -> dict[str, bytes]:
    folder = data_dir / "cifar-10-batches-bin"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir()) if data_dir.exists() else []


def test_download_fetches_verifies_and_extracts_the_archive(server, tmp_path):
    data = cifar10_archive()
    url = serve(server, data)
    data_dir = tmp_path / "new" / "data"  # made
    assert download(data_dir, url=url, md5=md5(data), progress=False) == data_dir
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))
    assert leftovers(data_dir) == ["cifar-10-batches-bin"]  # the archive is removed
    assert [Path(f).name for f in cifar10.files(data_dir)] == CIFAR10_MEMBERS[:5]
    assert cifar10.class_names(data_dir)[:2] == ["airplane", "automobile"]
    assert [(m, p, r) for m, p, r, _ in server.gets()] == [("GET", "/" + ARCHIVE, None)]


def test_download_checks_a_sha256_when_given_one(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    download(data_dir / "d", url=url, sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert extracted(data_dir / "d") == dict(sorted(cifar10_contents().items()))


def test_download_shows_a_progress_bar(server, data_dir, capsys):
    pytest.importorskip("tqdm")
    data = cifar10_archive()
    download(data_dir / "d", url=serve(server, data), md5=md5(data))
    assert ARCHIVE in capsys.readouterr().err


def test_files_already_present_make_no_request(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    download(data_dir, url=url, md5=md5(data), progress=False)
    download(data_dir, url=url, md5=md5(data), progress=False)
    download(data_dir, url=url, md5=md5(data), progress=True)  # tqdm is not even needed
    assert len(server.gets()) == 1


def test_a_half_written_part_file_is_resumed_with_a_range_request(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    half = len(data) // 2
    (data_dir / (ARCHIVE + ".part")).write_bytes(data[:half])
    download(data_dir, url=url, md5=md5(data), progress=False)
    ((_, _, sent_range, sent),) = server.gets()
    assert (sent_range, sent) == (f"bytes={half}-", len(data) - half)
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))


def test_a_connection_lost_half_way_is_resumed_where_it_stopped(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    server.cut_after, server.cuts = 1000, 1
    download(data_dir, url=url, md5=md5(data), progress=False)
    assert [(r, sent) for _, _, r, sent in server.gets()] == [
        (None, 1000),
        ("bytes=1000-", len(data) - 1000),
    ]
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))


def test_a_download_that_keeps_failing_keeps_its_part_and_the_next_call_resumes(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    server.cut_after, server.cuts = 500, 3
    with pytest.raises(UnavailableError, match=r"after 3 attempts.*1500 bytes are kept"):
        download(data_dir, url=url, md5=md5(data), progress=False)
    assert (data_dir / (ARCHIVE + ".part")).read_bytes() == data[:1500]
    download(data_dir, url=url, md5=md5(data), progress=False)
    assert server.gets()[-1][2:] == ("bytes=1500-", len(data) - 1500)
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))


def test_a_server_that_ignores_range_makes_the_part_file_start_again(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    server.honour_range = False
    (data_dir / (ARCHIVE + ".part")).write_bytes(b"x" * 100)  # not even the right bytes
    download(data_dir, url=url, md5=md5(data), progress=False)
    ((_, _, sent_range, sent),) = server.gets()
    assert (sent_range, sent) == ("bytes=100-", len(data))
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))


def test_a_complete_part_file_is_used_as_it_is(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    (data_dir / (ARCHIVE + ".part")).write_bytes(data)
    download(data_dir, url=url, md5=md5(data), progress=False)  # the server answers 416
    assert [r[2:] for r in server.gets()] == [(f"bytes={len(data)}-", 0)]
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))


def test_a_wrong_checksum_is_refused_the_file_removed_and_nothing_extracted(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    expected = "0" * 32
    with pytest.raises(DataLossError) as caught:
        download(data_dir, url=url, md5=expected, progress=False)
    message = str(caught.value)
    assert ARCHIVE in message and expected in message and md5(data) in message
    assert leftovers(data_dir) == []


def test_without_a_digest_the_published_md5_is_checked(server, data_dir):
    url = serve(server, cifar10_archive())
    with pytest.raises(DataLossError, match=f"expected {cifar10.MD5}"):
        download(data_dir, url=url, progress=False)
    assert leftovers(data_dir) == []


def test_a_malformed_digest_is_refused_before_any_request(server, data_dir):
    url = serve(server, cifar10_archive())
    with pytest.raises(InvalidArgumentError, match="md5 must be 32 hexadecimal digits"):
        download(data_dir, url=url, md5="abc", progress=False)
    assert server.gets() == []


def test_http_errors_are_unavailable_errors_naming_the_url(server, data_dir):
    url = server.url("missing.tar.gz")
    with pytest.raises(UnavailableError, match=f"{url} failed: HTTP 404"):
        download(data_dir, url=url, progress=False)


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = ""):
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        data = b"evil" if kind == tarfile.REGTYPE else b""
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data else None)

    return add


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_member("../evil"), "a path with '..'"),
        (_member("cifar-10-batches-bin/../../evil"), "a path with '..'"),
        (_member("/tmp/evil"), "an absolute path"),
        (_member("cifar-10-batches-bin/link", tarfile.SYMTYPE, "/etc/passwd"), "a link"),
        (_member("cifar-10-batches-bin/hard", tarfile.LNKTYPE, "../../x"), "a link"),
        (_member("cifar-10-batches-bin/fifo", tarfile.FIFOTYPE), "a device, fifo"),
        (_member("cifar-10-batches-bin/dev", tarfile.CHRTYPE), "a device, fifo"),
    ],
    ids=["parent", "parent-inside", "absolute", "symlink", "hardlink", "fifo", "device"],
)
def test_an_unsafe_member_is_refused_by_name_and_nothing_is_extracted(
    server, data_dir, tmp_path, member, why
):
    data = cifar10_archive(extra=member)
    url = serve(server, data)
    with pytest.raises(DataLossError, match="was not extracted: its member") as caught:
        download(data_dir, url=url, md5=md5(data), progress=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        name = tar.getmembers()[-1].name
    assert repr(name) in str(caught.value) and why in str(caught.value)
    assert leftovers(data_dir) == [ARCHIVE]  # verified, kept, not extracted
    assert not (tmp_path / "evil").exists()


def test_an_archive_without_the_expected_files_is_not_extracted(server, data_dir):
    data = tar_gz({"cifar-10-batches-bin/data_batch_1.bin": b"\0" * 3073})
    url = serve(server, data)
    with pytest.raises(DataLossError, match=r"it lacks cifar-10-batches-bin/data_batch_2\.bin"):
        download(data_dir, url=url, md5=md5(data), progress=False)
    assert leftovers(data_dir) == [ARCHIVE]


def test_a_partly_present_folder_is_replaced_whole(server, data_dir):
    data = cifar10_archive()
    url = serve(server, data)
    folder = data_dir / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "data_batch_1.bin").write_bytes(b"stale")
    download(data_dir, url=url, md5=md5(data), progress=False)
    assert extracted(data_dir) == dict(sorted(cifar10_contents().items()))
    assert leftovers(data_dir) == ["cifar-10-batches-bin"]


def test_download_cifar100_extracts_its_layout(server, data_dir):
    names = ["train.bin", "test.bin", "coarse_label_names.txt", "fine_label_names.txt"]
    contents = {
        "train.bin": bytes(3074 * 4),
        "test.bin": bytes(3074 * 2),
        "coarse_label_names.txt": b"aquatic_mammals\nfish\n",
        "fine_label_names.txt": b"apple\naquarium_fish\n",
    }
    data = tar_gz(
        {"cifar-100-binary/": b"", **{f"cifar-100-binary/{n}": contents[n] for n in names}}
    )
    url = serve(server, data, "cifar-100-binary.tar.gz")
    assert download_cifar100(data_dir, url=url, md5=md5(data), progress=False) == data_dir
    assert [Path(f).name for f in cifar100.files(data_dir, eval_data=True)] == ["test.bin"]
    assert cifar100.class_names(data_dir, "coarse") == ["aquatic_mammals", "fish"]
    with pytest.raises(DataLossError, match=f"expected {cifar100.MD5}"):
        download_cifar100(data_dir / "other", url=url, progress=False)


def test_the_cifar10_download_command_fetches_and_extracts(server, data_dir, capsys):
    from conveyor.apps.cifar10 import cli

    data = cifar10_archive()
    url = serve(server, data)
    argv = ["download", "--data_dir", str(data_dir), "--url", url, "--md5", md5(data)]
    assert cli.main([*argv, "--no-progress"]) == 0
    assert extracted(data_dir) == cifar10_contents()
    assert capsys.readouterr().out == f"CIFAR-10 is in {data_dir / 'cifar-10-batches-bin'}\n"
    requests = len(server.requests)
    assert cli.main([*argv, "--no-progress"]) == 0  # present: nothing fetched again
    assert len(server.requests) == requests
