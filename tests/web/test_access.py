"""Access control of the web view: every route refuses anonymous requests, forms need the
session's CSRF token, a viewer cannot decide, nobody reaches a workspace not theirs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.workspace import Workspace, load_workspace
from tests.web.conftest import (
    APPROVER,
    VIEWER,
    FixedClock,
    csrf_of,
    make_client,
    pending_review,
    review_status,
    sign_in,
    web_records,
)

PAGES = [
    "/web/",
    "/web/demo/",
    "/web/demo/report.html",
    "/web/demo/prospects",
    "/web/demo/prospects/PID",
    "/web/demo/runs/RUN",
    "/web/demo/reviews",
    "/web/demo/reviews/RID",
    "/web/demo/replay",
]
APIS = ["/web/demo/api/figures"]
ACTIONS = ["/web/logout", "/web/demo/reviews/RID", "/web/demo/replay"]


def _fill(path: str, ws: Workspace) -> str:
    r = pending_review(ws)
    run_id = next(b["run_id"] for b in reversed(web_records(ws)) if b["run_id"].startswith("run_"))
    return path.replace("PID", r.prospect_id).replace("RID", r.id).replace("RUN", run_id)


def test_every_web_route_is_covered_by_the_lists(client: TestClient) -> None:
    """The refusal tests below name every /web route the app serves (a new route must be added)."""
    routes = []
    for r in client.app.routes:  # type: ignore[attr-defined]
        routes += list(r.original_router.routes) if hasattr(r, "original_router") else [r]
    served = {
        (m, r.path)
        for r in routes
        if getattr(r, "path", "").startswith("/web/")
        for m in getattr(r, "methods", ())
    }
    assert len(served) > 10
    named = {("GET", "/web/login"), ("POST", "/web/login")}
    named |= {("GET", p) for p in PAGES + APIS} | {("POST", p) for p in ACTIONS}
    canonical = {
        (
            m,
            p.replace("/demo/", "/{ws_id}/")
            .replace("PID", "{prospect_id}")
            .replace("RUN", "{run_id}")
            .replace("RID", "{review_id}"),
        )
        for m, p in named
    }
    assert served == canonical


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_page_is_redirected_to_sign_in(client: TestClient, ws: Workspace, path: str) -> None:
    """An anonymous GET of any page shows nothing of the workspace and is sent to sign-in."""
    r = client.get(_fill(path, ws), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/web/login?next=")
    assert "Ledgerly" not in r.text


@pytest.mark.parametrize("path", APIS)
def test_anonymous_api_gets_401(client: TestClient, ws: Workspace, path: str) -> None:
    """An anonymous API request is refused with 401 and no figures."""
    r = client.get(_fill(path, ws), follow_redirects=False)
    assert r.status_code == 401
    assert "funnel" not in r.text


@pytest.mark.parametrize("path", ACTIONS)
def test_anonymous_action_gets_401_and_changes_nothing(client: TestClient, ws: Workspace, path: str) -> None:
    """An anonymous POST (even with a CSRF token from the sign-in page) is refused and decides nothing."""
    review = pending_review(ws)
    token = csrf_of(client.get("/web/login").text)
    r = client.post(
        _fill(path, ws), data={"csrf": token, "decision": "approve", "run": "x"}, follow_redirects=False
    )
    assert r.status_code == 401
    assert review_status(ws, review.id) == "pending"


def test_wrong_password_is_refused(client: TestClient, ws: Workspace) -> None:
    """A wrong password gets 401 and no session: the dashboard still redirects to sign-in."""
    token = csrf_of(client.get("/web/login").text)
    r = client.post("/web/login", data={"csrf": token, "user": "demo", "password": "wrong-password"})
    assert r.status_code == 401
    assert "Wrong name or password" in r.text
    assert client.get("/web/demo/", follow_redirects=False).status_code == 303


def test_login_without_csrf_is_refused(client: TestClient) -> None:
    """Signing in without the form's CSRF token is refused even with the right password."""
    client.get("/web/login")
    r = client.post("/web/login", data={"user": APPROVER[0], "password": APPROVER[1]}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/web/demo/", follow_redirects=False).status_code == 303


def test_tampered_cookie_is_anonymous(client: TestClient) -> None:
    """A session cookie signed with another secret is ignored."""
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("another-secret", salt="outbound-web-session").dumps(
        {"u": "demo", "ws": ["demo"], "c": "x"}
    )
    client.cookies.set("outbound_web", forged)
    assert client.get("/web/demo/", follow_redirects=False).status_code == 303


def test_decision_with_bad_csrf_is_refused(client: TestClient, ws: Workspace) -> None:
    """An approver's POST with a wrong CSRF token is refused and the review stays pending."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    r = client.post(f"/web/demo/reviews/{review.id}", data={"csrf": "forged", "decision": "approve"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert review_status(ws, review.id) == "pending"


def test_viewer_cannot_approve(client: TestClient, ws: Workspace) -> None:
    """A viewer sees the review but its approve POST is refused (403), logged with the actor, and nothing changes."""
    sign_in(client, VIEWER)
    review = pending_review(ws)
    page = client.get(f"/web/demo/reviews/{review.id}")
    assert page.status_code == 200
    assert 'id="approve"' not in page.text
    r = client.post(
        f"/web/demo/reviews/{review.id}", data={"csrf": csrf_of(page.text), "decision": "approve"}
    )
    assert r.status_code == 403
    assert review_status(ws, review.id) == "pending"
    refused = [b for b in web_records(ws) if b["action"] == "web_refused"]
    assert refused and refused[-1]["actor"] == "web:viewer"


def test_user_cannot_reach_another_workspace(ws: Workspace, tmp_path: Path, clock: FixedClock) -> None:
    """A user of one workspace gets 404 on another served workspace's pages and cannot decide there."""
    other_root = tmp_path / "other"
    shutil.copytree(ws.root, other_root)
    toml = other_root / "workspace.toml"
    text = toml.read_text(encoding="utf-8").replace('id = "demo"', 'id = "other"')
    text = text[: text.index("[[web.users]]")]  # the demo users are not users of "other"
    toml.write_text(text, encoding="utf-8")
    other = load_workspace(other_root)
    _rename_rows(other, "demo", "other")
    with make_client([ws, other], clock) as client:
        sign_in(client, APPROVER)
        assert client.get("/web/other/", follow_redirects=False).status_code == 404
        review = pending_review(other)
        token = csrf_of(client.get("/web/demo/").text)
        r = client.post(f"/web/other/reviews/{review.id}", data={"csrf": token, "decision": "approve"})
        assert r.status_code == 404
        assert review_status(other, review.id) == "pending"
        assert client.get("/web/demo/").status_code == 200


def _rename_rows(ws: Workspace, old: str, new: str) -> None:
    """Move a copied SQLite workspace's rows to another workspace id."""
    from sqlmodel import SQLModel

    from state.db import engine_for

    with engine_for(ws.database_url).begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if "workspace" in table.c:
                conn.execute(table.update().where(table.c.workspace == old).values(workspace=new))


def test_sign_in_redirect_stays_on_site(client: TestClient) -> None:
    """A `next` pointing to another host is ignored after sign-in (no open redirect)."""
    token = csrf_of(client.get("/web/login").text)
    r = client.post(
        "/web/login",
        data={"csrf": token, "user": APPROVER[0], "password": APPROVER[1], "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/web/"


def test_sign_in_and_out_are_logged_with_the_actor(client: TestClient, ws: Workspace) -> None:
    """Signing in and out each append a decision record naming the user; after sign-out pages redirect."""
    sign_in(client, APPROVER)
    token = csrf_of(client.get("/web/demo/").text)
    assert client.post("/web/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    actions = [(b["action"], b.get("actor")) for b in web_records(ws) if b["node"] == "web"]
    assert ("web_sign_in", "web:demo") in actions and ("web_sign_out", "web:demo") in actions
    assert client.get("/web/demo/", follow_redirects=False).status_code == 303
