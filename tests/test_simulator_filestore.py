"""The simulator's File Store: streamed uploads and downloads, through real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import MakeSimulator, MakeSimulatorServer
from simulator_support import BASE, error_of, json_of, open_session, rss_bytes
from yarl import URL

from gateway.simulator import Simulator, Stall, pattern_bytes

FILES = f"{BASE}/filestore"
MiB = 1024 * 1024


@pytest.fixture
async def client(simulator_server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A session on the simulator with good Basic credentials."""
    async with open_session(simulator_server) as session:
        yield session


async def upload(
    client: aiohttp.ClientSession,
    data: bytes,
    query: str = "filename=data.csv",
    kind: str = "DataFile",
) -> str:
    """POST a body to a File Store upload route; the managed file id it answers."""
    headers = {"Content-Type": "application/octet-stream"}
    async with client.post(f"{FILES}/{kind}?{query}", data=data, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/plain"
        return await resp.text()


async def test_upload_download_round_trip(client: aiohttp.ClientSession) -> None:
    """An upload answers an id; the download streams the bytes back as an attachment."""
    file_id = await upload(client, b"a,b\n1,2\n", "filename=data.csv&persistent=false")
    assert file_id.isdigit()
    async with client.get(f"{FILES}/file/{file_id}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="data.csv"'
        assert resp.headers["OL-Original-Filename"] == "data.csv"  # FIDELITY B14
        assert resp.headers["Content-Length"] == "8"
        assert await resp.read() == b"a,b\n1,2\n"


@pytest.mark.parametrize(
    ("name", "encoded", "disposition"),
    [
        ("plain.csv", "plain.csv", 'attachment; filename="plain.csv"'),
        ("with space.csv", "with%20space.csv", 'attachment; filename="with space.csv"'),
        (
            "déjà vu.xml",
            "d%C3%A9j%C3%A0%20vu.xml",
            "attachment; filename=\"d_j__vu.xml\"; filename*=UTF-8''d%C3%A9j%C3%A0%20vu.xml",
        ),
    ],
)
async def test_download_by_name(
    client: aiohttp.ClientSession,
    simulator_server: TestServer,
    name: str,
    encoded: str,
    disposition: str,
) -> None:
    """A file can be fetched by its (percent-encoded) name as well as by its id."""
    file_id = await upload(client, b"x", f"filename={encoded}")
    root = str(simulator_server.make_url("")).rstrip("/")
    for ref in (file_id, encoded):
        url = URL(f"{root}{FILES}/file/{ref}", encoded=True)
        async with client.get(url) as resp:
            assert resp.status == 200, ref
            assert resp.headers["Content-Disposition"] == disposition
            # The uploaded name, percent-encoded when it is not plain ASCII [U: OL's encoding].
            assert resp.headers["OL-Original-Filename"] == (name if name.isascii() else encoded)
            assert await resp.read() == b"x"


async def test_newest_upload_of_a_name_wins(client: aiohttp.ClientSession) -> None:
    """Two uploads of one name get two ids; the name finds the newer one."""
    first = await upload(client, b"old", "filename=same.txt")
    second = await upload(client, b"new", "filename=same.txt")
    assert first != second
    async with client.get(f"{FILES}/file/same.txt") as resp:
        assert await resp.read() == b"new"
    async with client.get(f"{FILES}/file/{first}") as resp:
        assert await resp.read() == b"old"


async def test_head_and_delete(client: aiohttp.ClientSession, simulator: Simulator) -> None:
    """HEAD tells size or absence; `GET delete/{id}` answers `true` and the file is gone."""
    file_id = await upload(client, b"12345")
    async with client.head(f"{FILES}/file/{file_id}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == "5"
    assert simulator.calls["filestore.head"] == 1
    async with client.get(f"{FILES}/delete/{file_id}") as resp:
        assert resp.status == 200
        assert await resp.text() == "true"
    for method in ("HEAD", "GET"):
        async with client.request(method, f"{FILES}/file/{file_id}") as resp:
            assert resp.status == 404
    async with client.get(f"{FILES}/delete/{file_id}") as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == file_id


async def test_head_on_delete_runs_the_get_as_jax_rs_does(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """OL Connect is a JAX-RS server: HEAD on a GET route runs the GET, so `HEAD delete/{id}`
    deletes the file (FIDELITY A2, SPEC §10.2) — the gateway must never send it
    (tests/test_unsafe.py)."""
    file_id = await upload(client, b"gone")
    async with client.head(f"{FILES}/delete/{file_id}") as resp:
        assert resp.status == 200
    assert simulator.calls["filestore.delete"] == 1
    async with client.get(f"{FILES}/file/{file_id}") as resp:
        assert resp.status == 404


async def test_delete_by_post(client: aiohttp.ClientSession, simulator: Simulator) -> None:
    """`POST delete/{id}` (`deleteFilePost`, what the vendor's client sends) deletes too
    (FIDELITY A7)."""
    file_id = await upload(client, b"x")
    async with client.post(f"{FILES}/delete/{file_id}") as resp:
        assert resp.status == 200
        assert await resp.text() == "true"
    assert simulator.calls["filestore.delete_post"] == 1
    async with client.post(f"{FILES}/delete/{file_id}") as resp:
        assert resp.status == 404


@pytest.mark.parametrize(("flag", "persistent"), [("True", True), ("TRUE", True), ("yes", False)])
async def test_upload_persistent_is_a_java_boolean(
    client: aiohttp.ClientSession, simulator: Simulator, flag: str, persistent: bool
) -> None:
    """`persistent` is read as `Boolean.valueOf` reads it: `true` in any case (the C# client
    sends `True`), anything else false — never a 400 (FIDELITY B17)."""
    file_id = await upload(client, b"x", f"filename=a&persistent={flag}")
    stored = simulator.files.find(file_id)
    assert stored is not None
    assert stored.persistent is persistent


async def test_upload_refusals(client: aiohttp.ClientSession) -> None:
    """An empty body answers 400 and stores nothing."""
    async with client.post(f"{FILES}/DataFile?filename=a", data=b"") as resp:
        assert resp.status == 400
        assert (await error_of(resp))["parameter"] == ""
    async with client.get(f"{FILES}/file/a") as resp:
        assert resp.status == 404


async def test_resources_list_persistent_files_by_type(client: aiohttp.ClientSession) -> None:
    """Only persistent uploads are resources; `type` filters by kind."""
    await upload(client, b"d", "filename=temp.csv")
    data = await upload(client, b"d", "filename=kept.csv&persistent=true")
    config = await upload(
        client, b"<c/>", "filename=c.OL-datamapper&persistent=true", "DataMiningConfig"
    )
    template = await upload(client, b"PK", "filename=t.OL-template&persistent=true", "template")
    await upload(client, b"<j/>", "filename=j.OL-jobpreset&persistent=true", "JobCreationConfig")
    await upload(
        client, b"<o/>", "filename=o.OL-outputpreset&persistent=true", "OutputCreationConfig"
    )
    async with client.get(f"{FILES}/resources") as resp:
        listed = await json_of(resp)
    # Without `type`: the templates, configurations and presets (OL Connect's reference).
    assert [r["name"] for r in listed] == [
        "c.OL-datamapper",
        "t.OL-template",
        "j.OL-jobpreset",
        "o.OL-outputpreset",
    ]
    assert set(listed[0]) == {"id", "name", "path", "type", "size"}
    assert listed[0]["type"] == "DATA_MAPPING_CONFIG"
    async with client.get(f"{FILES}/resources?type=") as resp:
        assert await json_of(resp) == listed
    async with client.get(f"{FILES}/resources?type=TEMPLATE,DATA_MAPPING_CONFIG") as resp:
        assert [r["id"] for r in await json_of(resp)] == [int(config), int(template)]
    async with client.get(f"{FILES}/resources?type=DATA_FILE") as resp:
        assert [r["id"] for r in await json_of(resp)] == [int(data)]
    async with client.get(f"{FILES}/resources?type=WEAVER_CONFIG") as resp:
        assert await json_of(resp) == []
    # An unknown type is Java's enum lookup failing: 500 (FIDELITY B13).
    async with client.get(f"{FILES}/resources?type=TEMPLATE,NOPE") as resp:
        assert resp.status == 500
        error = await error_of(resp)
        assert error["message"].startswith("No enum constant ")
        assert error["message"].endswith("ManagedFileType.NOPE")


async def test_path_inside_a_file_is_404(client: aiohttp.ClientSession) -> None:
    """`file/{id}/{relPath}` spans slashes; plain files hold no paths, unknown files neither."""
    file_id = await upload(client, b"x")
    async with client.get(f"{FILES}/file/{file_id}/images/a/b.png") as resp:
        assert resp.status == 404
        assert (await error_of(resp))["parameter"] == "images/a/b.png"
    async with client.get(f"{FILES}/file/404/images/a.png") as resp:
        assert (await error_of(resp))["parameter"] == "404"


async def test_spool_files_deleted_on_reset_and_shutdown(
    make_simulator: MakeSimulator, make_simulator_server: MakeSimulatorServer, tmp_path: Path
) -> None:
    """Uploads live in the spool directory until `reset()` or the app's shutdown deletes them."""
    sim = make_simulator(spool_dir=tmp_path / "spool")
    server = await make_simulator_server(sim)
    async with open_session(server) as client:
        await upload(client, b"one")
        assert len(list((tmp_path / "spool").iterdir())) == 1
        sim.reset()
        assert list((tmp_path / "spool").iterdir()) == []
        await upload(client, b"two")
    await server.close()
    assert list((tmp_path / "spool").iterdir()) == []


async def test_private_spool_directory_removed_on_shutdown(
    simulator: Simulator, simulator_server: TestServer
) -> None:
    """Without `spool_dir` the simulator makes its own temporary directory and removes it."""
    async with open_session(simulator_server) as client:
        file_id = await upload(client, b"x")
    stored = simulator.files.find(file_id)
    assert stored is not None
    assert stored.path is not None
    assert stored.path.exists()
    await simulator_server.close()
    assert not stored.path.parent.exists()


async def test_generated_file(client: aiohttp.ClientSession, simulator: Simulator) -> None:
    """A generated file streams its deterministic pattern without being stored."""
    file_id = simulator.generate_file("big", 3 * MiB + 7)
    async with client.get(f"{FILES}/file/big") as resp:
        assert resp.headers["Content-Length"] == str(3 * MiB + 7)
        body = await resp.read()
    assert body == pattern_bytes(0, 3 * MiB + 7)
    assert body[251:254] == b"\x00\x01\x02"
    assert simulator.files.find(str(file_id)) is not None


async def test_stall_pauses_a_download_once(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """With `stall`, a download sends `after_bytes` bytes, pauses for `seconds`, then the rest."""
    simulator.generate_file("big", MiB)
    simulator.stall = Stall(after_bytes=1000, seconds=0.3)
    loop = asyncio.get_running_loop()
    async with client.get(f"{FILES}/file/big") as resp:
        first = await resp.content.readexactly(1000)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await resp.content.readexactly(1)
        started = loop.time()
        rest = await resp.read()
    assert loop.time() - started > 0.05
    assert first + rest == pattern_bytes(0, MiB)


async def test_download_delay_slows_every_chunk(
    client: aiohttp.ClientSession, simulator: Simulator
) -> None:
    """`download_delay` waits before each chunk, so a 4-chunk file takes at least 4 delays."""
    simulator.generate_file("big", MiB)
    simulator.download_delay = 0.02
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with client.get(f"{FILES}/file/big") as resp:
        assert len(await resp.read()) == MiB
    assert loop.time() - started >= 0.08


async def chunks_of(count: int, size: int) -> AsyncIterator[bytes]:
    """`count` distinct chunks of `size` bytes (chunk i repeats i's four bytes)."""
    for i in range(count):
        yield i.to_bytes(4, "big") * (size // 4)


async def test_64_mib_round_trip_streams(client: aiohttp.ClientSession) -> None:
    """64 MiB go up and come back byte for byte while RSS grows by less than 32 MB."""
    start = rss_bytes()
    peak = start
    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        nonlocal peak
        async for chunk in chunks_of(64, MiB):
            sent.update(chunk)
            peak = max(peak, rss_bytes())
            yield chunk

    headers = {"Content-Type": "application/octet-stream"}
    async with client.post(
        f"{FILES}/DataFile?filename=big.bin", data=body(), headers=headers
    ) as resp:
        file_id = await resp.text()
    received = hashlib.sha256()
    size = 0
    async with client.get(f"{FILES}/file/{file_id}") as resp:
        assert resp.headers["Content-Length"] == str(64 * MiB)
        async for chunk in resp.content.iter_chunked(MiB):
            received.update(chunk)
            size += len(chunk)
            peak = max(peak, rss_bytes())
    assert size == 64 * MiB
    assert received.digest() == sent.digest()
    assert peak - start < 32 * 1024 * 1024
