"""The web view: server-rendered pages under /web for operators and reviewers.

    GET  /web/login, POST /web/login, POST /web/logout
    GET  /web/                                  the workspaces you may see
    GET  /web/{ws}/                             dashboard (?from=&to=, dates)
    GET  /web/{ws}/report.html                  the client report for the same period
    GET  /web/{ws}/api/figures                  the dashboard figures as JSON
    GET  /web/{ws}/prospects[/{id}]             list / one prospect's story
    GET  /web/{ws}/runs/{run_id}                one run's decisions
    GET  /web/{ws}/reviews[/{id}]               the review queue / one request
    POST /web/{ws}/reviews/{id}                 approve | edit | reject (approver, admin)
    GET  /web/{ws}/replay, POST /web/{ws}/replay  what-if with a policy/playbook file

Every route needs a session (pages redirect to sign-in, everything else gets 401);
every POST needs the session's CSRF token; deciding needs the approver or admin role in
that workspace; every action is written to the workspace's decision log with its actor.
Routes parse, call a function, render (service/web/queries.py, actions.py, agents/).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from agents.replay import replay, what_if_config
from agents.report import compute_figures, parse_day
from agents.review_queue import list_reviews, show_review
from core.errors import OutboundError
from core.timeutil import Clock
from service.metrics import Metrics
from service.sites import Site
from service.web import queries
from service.web.actions import web_decide
from service.web.auth import COOKIE, SESSION_SECONDS, Auth, Session
from tools.report.render import chart_svgs, render_report

log = structlog.get_logger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["pct"] = lambda v: f"{float(v or 0):.1%}"
TEMPLATES.env.filters["usd"] = lambda v: "-" if v is None else f"${float(v):,.2f}"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
FORM_LIMIT = 65_536


class Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def build_router(sites: dict[str, Site], *, clock: Clock, metrics: Metrics, auth: Auth) -> APIRouter:
    router = APIRouter(prefix="/web", include_in_schema=False)

    # ------------------------------------------------------------- plumbing
    def session_of(request: Request) -> Session:
        return auth.load(request.cookies.get(COOKIE))

    def page(request: Request, name: str, session: Session, code: int = 200, **ctx: Any) -> Response:
        s = session if session.csrf else Session(session.user, session.workspaces, auth.new_csrf())
        resp = TEMPLATES.TemplateResponse(
            request,
            name,
            {"session": s, "sites": sites, "auth": auth, **ctx},
            status_code=code,
        )
        return finish(request, resp, s)

    def finish(request: Request, resp: Response, s: Session) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        resp.set_cookie(
            COOKIE,
            auth.dump(s),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return resp

    def need(request: Request, ws_id: str, role: str = "viewer") -> tuple[Session, Site]:
        s = session_of(request)
        if not s.signed_in:
            raise Refused(401, "sign in first")
        if ws_id not in sites or not auth.allowed(s, ws_id, "viewer"):
            raise Refused(404, f"no workspace {ws_id!r} for {s.user}")
        if not auth.allowed(s, ws_id, role):
            raise Refused(403, f"{s.user} is {auth.role(s.user, ws_id)} in {ws_id}; this needs {role}")
        return s, sites[ws_id]

    async def form_of(request: Request, s: Session) -> dict[str, str]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > FORM_LIMIT:
            raise Refused(413, "form too large")
        try:
            form = await request.form()
        except Exception:  # malformed body: a clear refusal, never a 500
            raise Refused(400, "the form could not be read") from None
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        if not auth.csrf_ok(s, data.get("csrf", "")):
            raise Refused(403, "the form's CSRF token is missing or wrong; reload the page and try again")
        return data

    def refusal(request: Request, exc: Refused) -> Response:
        s = session_of(request)
        if exc.status == 401 and request.method == "GET" and not request.url.path.startswith("/web/api"):
            if "/api/" not in request.url.path:
                target = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
                return finish(request, RedirectResponse(f"/web/login?next={target}", status_code=303), s)
        if "/api/" in request.url.path:
            return finish(request, JSONResponse({"error": exc.message}, status_code=exc.status), s)
        return page(request, "error.html", s, code=exc.status, message=exc.message)

    def actor(s: Session) -> str:
        return f"web:{s.user}"

    def period(request: Request) -> tuple[Any, Any]:
        now = clock.now()
        q = request.query_params
        start = parse_day(q["from"], field="from") if q.get("from") else now - timedelta(days=30)
        end = parse_day(q["to"], field="to") + timedelta(days=1) if q.get("to") else now
        return start, end

    def guarded(fn: Any) -> Any:
        import functools

        @functools.wraps(fn)
        async def wrapper(request: Request, **kw: Any) -> Response:
            try:
                return await fn(request, **kw)
            except Refused as exc:
                if exc.status in (401, 403):
                    log.warning("web_refused", path=request.url.path, status=exc.status, reason=exc.message)
                return refusal(request, exc)
            except OutboundError as exc:
                return refusal(request, Refused(422 if exc.error_class == "bad_input" else 400, exc.message))

        return wrapper

    # ------------------------------------------------------------- sign-in
    @router.get("/login")
    async def login_form(request: Request, next: str = "/web/") -> Response:
        return page(request, "login.html", session_of(request), next=_local(next), error="")

    @router.post("/login")
    @guarded
    async def login(request: Request) -> Response:
        s = session_of(request)
        data = await form_of(request, s)
        user, password = data.get("user", "").strip(), data.get("password", "")
        wss = await run_in_threadpool(auth.sign_in, user, password)
        if not wss:
            log.warning("web_sign_in_failed", user=user[:64])
            return page(
                request,
                "login.html",
                s,
                code=401,
                next=_local(data.get("next", "")),
                error="Wrong name or password.",
            )
        now = clock.now()
        for ws_id in wss:
            queries.log_web_action(
                sites[ws_id].engine, ws_id, actor=f"web:{user}", action="web_sign_in", at=now
            )
        fresh = Session(user, wss, auth.new_csrf())
        target = _local(data.get("next", "")) or "/web/"
        return finish(request, RedirectResponse(target, status_code=303), fresh)

    @router.post("/logout")
    @guarded
    async def logout(request: Request) -> Response:
        s = session_of(request)
        if not s.signed_in:
            raise Refused(401, "sign in first")
        await form_of(request, s)
        now = clock.now()
        for ws_id in s.workspaces:
            queries.log_web_action(sites[ws_id].engine, ws_id, actor=actor(s), action="web_sign_out", at=now)
        return finish(request, RedirectResponse("/web/login", status_code=303), Session(csrf=auth.new_csrf()))

    # ------------------------------------------------------------- pages
    @router.get("/")
    @guarded
    async def home(request: Request) -> Response:
        s = session_of(request)
        if not s.signed_in:
            raise Refused(401, "sign in first")
        if len(s.workspaces) == 1:
            return finish(request, RedirectResponse(f"/web/{s.workspaces[0]}/", status_code=303), s)
        rows = [
            {"id": w, "client": sites[w].ws.config.client.name, "role": auth.role(s.user, w)}
            for w in s.workspaces
        ]
        return page(request, "home.html", s, rows=rows)

    @router.get("/{ws_id}/")
    @guarded
    async def dashboard(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        start, end = period(request)
        fig = await run_in_threadpool(compute_figures, site.ws, start=start, end=end, engine=site.engine)
        return page(
            request,
            "dashboard.html",
            s,
            ws=site.ws,
            fig=fig,
            svg=chart_svgs(fig),
            q_from=request.query_params.get("from", ""),
            q_to=request.query_params.get("to", ""),
        )

    @router.get("/{ws_id}/report.html")
    @guarded
    async def report_html(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        start, end = period(request)
        fig = await run_in_threadpool(compute_figures, site.ws, start=start, end=end, engine=site.engine)
        return finish(request, HTMLResponse(render_report(fig)), s)

    @router.get("/{ws_id}/api/figures")
    @guarded
    async def figures_json(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        start, end = period(request)
        fig = await run_in_threadpool(compute_figures, site.ws, start=start, end=end, engine=site.engine)
        return finish(request, JSONResponse(fig), s)

    @router.get("/{ws_id}/prospects")
    @guarded
    async def prospects(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        q = request.query_params
        pg = int(q["page"]) if q.get("page", "").isdigit() and int(q["page"]) > 0 else 1
        data = queries.prospects_page(
            site.engine, ws_id, q=q.get("q", "")[:100], status=q.get("status", "")[:20], page=pg
        )
        return page(request, "prospects.html", s, ws=site.ws, data=data)

    @router.get("/{ws_id}/prospects/{prospect_id}")
    @guarded
    async def prospect(request: Request, ws_id: str, prospect_id: str) -> Response:
        s, site = need(request, ws_id)
        p = await run_in_threadpool(queries.prospect_page, site.engine, ws_id, prospect_id)
        if p is None:
            raise Refused(404, f"no prospect {prospect_id!r} in {ws_id}")
        return page(request, "prospect.html", s, ws=site.ws, p=p)

    @router.get("/{ws_id}/runs/{run_id}")
    @guarded
    async def run(request: Request, ws_id: str, run_id: str) -> Response:
        s, site = need(request, ws_id)
        data = await run_in_threadpool(queries.run_page, site.engine, ws_id, run_id)
        if data is None:
            raise Refused(404, f"no run {run_id!r} in {ws_id}")
        return page(request, "run.html", s, ws=site.ws, run=data)

    @router.get("/{ws_id}/reviews")
    @guarded
    async def reviews(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        status = request.query_params.get("status", "pending")
        rows = await run_in_threadpool(list_reviews, site.ws, status=None if status == "all" else status)
        return page(
            request,
            "reviews.html",
            s,
            ws=site.ws,
            rows=rows,
            status=status,
            can_decide=auth.allowed(s, ws_id, "approver"),
        )

    @router.get("/{ws_id}/reviews/{review_id}")
    @guarded
    async def review(request: Request, ws_id: str, review_id: str) -> Response:
        s, site = need(request, ws_id)
        try:
            view = await run_in_threadpool(show_review, site.ws, review_id)
        except OutboundError:
            raise Refused(404, f"no review {review_id!r} in {ws_id}") from None
        cited = [i for st in view.draft.get("sentences", []) for i in st.get("evidence_ids", [])]
        evidence = queries.evidence_map(site.engine, ws_id, list(dict.fromkeys(cited)))
        flash = request.query_params.get("msg", "")[:300]
        return page(
            request,
            "review.html",
            s,
            ws=site.ws,
            v=view,
            evidence=evidence,
            flash=flash,
            can_decide=auth.allowed(s, ws_id, "approver"),
        )

    @router.post("/{ws_id}/reviews/{review_id}")
    @guarded
    async def decide(request: Request, ws_id: str, review_id: str) -> Response:
        s = session_of(request)
        if not s.signed_in:
            raise Refused(401, "sign in first")
        data = await form_of(request, s)
        try:
            s, site = need(request, ws_id, "approver")
        except Refused as exc:
            if ws_id in sites and exc.status == 403:
                queries.log_web_action(
                    sites[ws_id].engine,
                    ws_id,
                    actor=actor(s),
                    action="web_refused",
                    at=clock.now(),
                    outcome="refused",
                    rationale=exc.message,
                    detail={"review_id": review_id, "decision": data.get("decision", "")},
                )
            raise
        decision = data.get("decision", "")
        result = await run_in_threadpool(
            web_decide,
            site,
            metrics,
            review_id,
            decision,
            actor=actor(s),
            now=clock.now(),
            subject=data.get("subject"),
            body=data.get("body"),
            note=data.get("note", "")[:2000],
        )
        queries.log_web_action(
            site.engine,
            ws_id,
            actor=actor(s),
            action=f"web_review_{decision}"[:40],
            at=clock.now(),
            outcome="applied" if result.applied else "refused",
            rationale=result.message,
            detail={"review_id": review_id, "sent": result.sent},
        )
        target = f"/web/{ws_id}/reviews/{quote(review_id)}?msg={quote(result.message)}"
        return finish(request, RedirectResponse(target, status_code=303), s)

    @router.get("/{ws_id}/replay")
    @guarded
    async def replay_form(request: Request, ws_id: str) -> Response:
        s, site = need(request, ws_id)
        return page(request, "replay.html", s, ws=site.ws, files=_what_if_files(site), result=None, form={})

    @router.post("/{ws_id}/replay")
    @guarded
    async def replay_run(request: Request, ws_id: str) -> Response:
        s = session_of(request)
        if not s.signed_in:
            raise Refused(401, "sign in first")
        data = await form_of(request, s)
        s, site = need(request, ws_id)
        files = _what_if_files(site)
        name = data.get("file", "")
        if name and name not in files:
            raise Refused(400, f"unknown what-if file {name!r}; pick one from the list")
        run_id, prospect_ref = data.get("run", "").strip(), data.get("prospect", "").strip()
        if not (run_id or prospect_ref):
            raise Refused(400, "give a run id or a prospect")
        policy = playbook = None
        if name:
            policy, playbook = what_if_config(site.ws, site.ws.root / name)
        result = await run_in_threadpool(
            replay,
            site.ws,
            run_id=run_id or None,
            prospect_id=prospect_ref or None,
            policy=policy,
            playbook=playbook,
        )
        queries.log_web_action(
            site.engine,
            ws_id,
            actor=actor(s),
            action="web_what_if",
            at=clock.now(),
            rationale=f"replay {run_id or prospect_ref} with {name or 'the current config'}",
            detail={
                "file": name,
                "run": run_id,
                "prospect": prospect_ref,
                "divergences": len(result["divergences"]),
            },
        )
        return page(request, "replay.html", s, ws=site.ws, files=files, result=result, form=data)

    return router


def _local(target: str) -> str:
    """Only a path on this site (no scheme, no host, no //): an open redirect is refused."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _what_if_files(site: Site) -> list[str]:
    """TOML files in the workspace folder (and what_if/) other than workspace.toml."""
    root = site.ws.root
    found = [p for p in root.glob("*.toml") if p.name != "workspace.toml"]
    found += list((root / "what_if").glob("*.toml")) if (root / "what_if").is_dir() else []
    return sorted(str(p.relative_to(root)) for p in found)
