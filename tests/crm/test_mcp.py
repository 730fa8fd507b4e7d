"""The MCP server through the SDK's own client (in-process): lists the queue, approves a
review exactly once, refuses a non-approver, explains a prospect, and logs every action
with its actor in the decision log."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
from mcp import Client
from sqlmodel import Session, select

from service.mcp_server import build_mcp_server
from state.db import engine_for
from state.decision_log import load_body, verify
from state.models import DecisionRecord, Review
from tests.conftest import at

APPROVER, STRANGER = "U0APPROVER", "U0STRANGER"


class _Clock:
    def __init__(self, now: datetime):
        self.at = now

    def now(self) -> datetime:
        return self.at


def _with_approver(ws):  # noqa: ANN001, ANN202
    slack = ws.config.slack.model_copy(update={"approvers": (APPROVER,)})
    ws.config = ws.config.model_copy(update={"slack": slack})
    return ws


def _data(result) -> object:  # noqa: ANN001
    assert not result.is_error, result.content
    if result.structured_content is not None:
        sc = result.structured_content
        return sc.get("result", sc) if isinstance(sc, dict) and set(sc) == {"result"} else sc
    return json.loads(result.content[0].text)


def _operator_records(ws) -> list[dict]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id, DecisionRecord.node == "operator")
        ).all()
        return [load_body(r) for r in rows]


@pytest.mark.slow
def test_mcp_client_lists_approves_once_refuses_and_explains(day0_ws) -> None:  # noqa: ANN001
    """list_queue shows pending reviews; a stranger's approve is refused and changes nothing;
    the approver's approve works once and a second is refused; explain_prospect returns
    every rule's verdict; each call is in the decision log with its actor; the chain verifies."""
    asyncio.run(_scenario(_with_approver(day0_ws)))


async def _scenario(ws) -> None:  # noqa: ANN001
    clock = _Clock(at("2026-11-23T16:30:00Z"))
    async with Client(build_mcp_server(ws, actor=STRANGER, clock=clock)) as stranger:
        queue = _data(await stranger.call_tool("list_queue", {}))
        assert isinstance(queue, list) and queue
        review_id = queue[0]["review"]["id"]
        refused = await stranger.call_tool("approve", {"review_id": review_id})
        assert refused.is_error and "may not decide" in refused.content[0].text
    with Session(engine_for(ws.database_url)) as s:
        assert s.get(Review, review_id).status == "pending"  # type: ignore[union-attr]
    async with Client(build_mcp_server(ws, actor=APPROVER, clock=clock)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {
            "list_queue",
            "show_review",
            "approve",
            "edit",
            "reject",
            "explain_prospect",
            "replay",
            "costs",
        } <= tools
        done = _data(await client.call_tool("approve", {"review_id": review_id}))
        assert done["decision"] == "approve" and done["actor"] == APPROVER
        again = await client.call_tool("approve", {"review_id": review_id})
        assert again.is_error and "already approved" in again.content[0].text
        prospect_id = queue[0]["prospect"]["id"]
        why = _data(await client.call_tool("explain_prospect", {"prospect": prospect_id}))
        assert why["prospect_id"] == prospect_id and why["rules"]
    with Session(engine_for(ws.database_url)) as s:
        r = s.get(Review, review_id)
        assert r is not None and r.status == "approved" and r.decided_by == APPROVER
    records = _operator_records(ws)
    seen = [(r["action"], r["actor"], r["outcome"]) for r in records]
    assert ("mcp:approve", STRANGER, "refused") in seen
    assert ("mcp:approve", APPROVER, "ok") in seen and ("mcp:approve", APPROVER, "refused") in seen
    assert ("mcp:explain_prospect", APPROVER, "ok") in seen
    assert verify(engine_for(ws.database_url), ws.id).ok


@pytest.mark.slow
def test_mcp_over_stdio_lists_the_queue(day0_ws) -> None:  # noqa: ANN001
    """`run.py mcp -w W --as U` speaks MCP over stdio: the SDK client lists the tools and the queue."""
    import os
    import sys
    from pathlib import Path

    from mcp import StdioServerParameters

    root = Path(__file__).resolve().parents[2]
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(root / "run.py"), "mcp", "-w", str(day0_ws.root), "--as", APPROVER],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=str(root),
    )

    async def go() -> None:
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "approve" in tools
            queue = _data(await client.call_tool("list_queue", {}))
            assert isinstance(queue, list) and queue and queue[0]["review"]["status"] == "pending"

    asyncio.run(go())


@pytest.mark.slow
def test_mcp_over_streamable_http_lists_tools(day0_ws) -> None:  # noqa: ANN001
    """`run.py mcp --http` serves streamable HTTP on 127.0.0.1: the SDK client lists the tools and the queue."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        str(root / "run.py"),
        "mcp",
        "-w",
        str(day0_ws.root),
        "--as",
        APPROVER,
        "--http",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=str(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)

        async def go() -> None:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                assert "explain_prospect" in {t.name for t in (await client.list_tools()).tools}
                queue = _data(await client.call_tool("list_queue", {}))
                assert isinstance(queue, list) and queue

        asyncio.run(go())
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_mcp_forecast_tool_reports_the_next_run(day0_ws) -> None:  # noqa: ANN001
    """The forecast tool answers what the next run would do and cost, and the call is logged."""
    asyncio.run(_forecast_scenario(_with_approver(day0_ws)))


async def _forecast_scenario(ws) -> None:  # noqa: ANN001
    clock = _Clock(at("2026-11-24T15:00:00Z"))
    async with Client(build_mcp_server(ws, actor=APPROVER, clock=clock)) as client:
        fc = _data(await client.call_tool("forecast", {"limit": 20}))
    assert fc["now"] == "2026-11-24T15:00:00Z"
    assert fc["prospects"] <= 20 and {"credits", "usd", "sends", "carried_over"} <= set(fc)
    assert ("mcp:forecast", APPROVER, "ok") in [
        (r["action"], r["actor"], r["outcome"]) for r in _operator_records(ws)
    ]
