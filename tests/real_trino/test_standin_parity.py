"""Stand-in parity: every fact below is probed on a real Trino 476 and on the stand-in (476 mode),
and both must give the same observable answer (shape, not values: ids, timings and rows differ).
"""

import gzip
import json
import re
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional
from urllib.parse import urlsplit

import pytest
import requests

from harness import Standin, wait_until

from .held import LONG_SQL

TIMEOUT = 30.0
USER = {"X-Trino-User": "parity"}
# Valid on both: real Trino ignores the stand-in's row directive, so this is a large
# result there and 100,000 rows on the stand-in; either way many pages, each over 8 KiB.
BIG_SQL = "SELECT * FROM tpch.sf1.customer /* rows=100000 */"
SMALL_SQL = "SELECT 1"
QUERY_ID = re.compile(r"\d{8}_\d{6}_\d{5}_[a-z0-9]{5}")
SLUG = re.compile(r"y[0-9a-f]{40}")
MISSING_USER = "Basic authentication or X-Trino-Original-User or X-Trino-User must be sent"
# 476 shapes; one queued poll, as an idle Trino dispatches at once; 300-byte rows, so a page of
# 40 rows passes 8 KiB and goes chunked like Trino's large pages.
STANDIN_476 = ["--trino-version", "476", "--queued-polls", "1", "--row-bytes", "300"]


@dataclass
class Side:
    """One coordinator under probe: real Trino or the stand-in."""

    name: str
    url: str

    def norm(self, text: str) -> str:
        """`text` with this server's own address, query ids and slugs made generic."""
        text = text.replace(self.url.split("//", 1)[1], "HOST")
        return SLUG.sub("SLUG", QUERY_ID.sub("QID", text))


# --- how an answer is described -------------------------------------------------------------

def call(method: str, url: str, headers: Optional[dict] = None, body: Optional[bytes] = None,
         accept_gzip: bool = False) -> requests.Response:
    """One request; Accept-Encoding is explicit (requests would ask for gzip on its own)."""
    h = {"Accept-Encoding": "gzip" if accept_gzip else "identity", **(headers or {})}
    return requests.request(method, url, headers=h, data=body, timeout=TIMEOUT, allow_redirects=False)


def framing(r: requests.Response) -> str:
    if r.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return "chunked"
    return "sized" if "Content-Length" in r.headers else "unframed"


def text_answer(r: requests.Response) -> str:
    """`410 text/plain 'Error 410 Gone: HTTP 410 Gone'`."""
    return f"{r.status_code} {r.headers.get('Content-Type')} {r.text!r}"


def headers_of(r: requests.Response, *names: str) -> str:
    return " ".join(f"{n}={r.headers.get(n)}" for n in names)


def empty_answer(r: requests.Response) -> str:
    """Status, the headers an empty answer has, and proof that it is empty."""
    return (f"{r.status_code} {headers_of(r, 'Content-Type', 'Content-Length', 'Allow', 'Vary')} "
            f"body={r.content!r}")


def keys(obj: dict) -> str:
    return ",".join(obj)


def page_shape(r: requests.Response, side: Side) -> str:
    """A statement page as the router sees it: status, type, headers, fields in order, state, URIs."""
    page = r.json()
    uris = {k: side.norm(page[k]) for k in ("infoUri", "partialCancelUri", "nextUri") if k in page}
    return (f"{r.status_code} {r.headers.get('Content-Type')} {headers_of(r, 'Vary', 'X-Content-Type-Options')} "
            f"fields={keys(page)} state={page['stats']['state']} {uris}")


# --- query helpers ---------------------------------------------------------------------------

def post(side: Side, sql: str = SMALL_SQL, headers: Optional[dict] = None) -> dict:
    r = call("POST", side.url + "/v1/statement", {**USER, **(headers or {})}, sql.encode())
    assert r.status_code == 200, f"{side.name}: POST {r.status_code} {r.text[:300]}"
    return r.json()


def get(uri: str) -> requests.Response:
    return call("GET", uri, USER)


def to_executing(side: Side, sql: str = BIG_SQL) -> dict:
    """Polls a new query's queued URIs until one hands out executing/0; returns that page."""
    page = post(side, sql)
    while "/queued/" in page.get("nextUri", ""):
        page = get(page["nextUri"]).json()
    assert page.get("nextUri", "").endswith("/0"), f"{side.name}: {page}"
    return page


def cancel(page: dict, side: Optional[Side] = None) -> None:
    """Cancels the query of `page`; with `side`, at that server whatever host the URI names."""
    if page.get("nextUri"):
        uri = page["nextUri"]
        call("DELETE", side.url + "/v1/" + uri.split("/v1/", 1)[1] if side else uri, USER)


def queued_gauge(side: Side) -> float:
    text = call("GET", side.url + "/metrics", USER).text
    [value] = re.findall(r"^trino_execution_name_QueryManager_QueuedQueries (\S+)$", text, re.M)
    return float(value)


# --- the facts -------------------------------------------------------------------------------
# Each probe takes a Side and describes what it saw; real Trino and the stand-in must describe the same
# thing, and where `expected` is given, exactly that.

def p_post_without_user(s):
    r = call("POST", s.url + "/v1/statement", body=b"SELECT 1")
    return text_answer(r) + " " + headers_of(r, "WWW-Authenticate", "Vary")


def p_post_with_password(s):
    r = call("POST", s.url + "/v1/statement", {"Authorization": "Basic Ym9iOnB3"}, b"SELECT 1")  # bob:pw
    return text_answer(r) + " " + headers_of(r, "WWW-Authenticate")


def p_post_with_empty_basic_user(s):
    r = call("POST", s.url + "/v1/statement", {"Authorization": "Basic Og=="}, b"SELECT 1")  # ":"
    return text_answer(r) + " " + headers_of(r, "WWW-Authenticate")


def p_post_with_bad_base64(s):
    r = call("POST", s.url + "/v1/statement", {"Authorization": "Basic !!!"}, b"SELECT 1")
    return text_answer(r) + " " + headers_of(r, "WWW-Authenticate")


def p_original_user_alone(s):
    r = call("POST", s.url + "/v1/statement", {"X-Trino-Original-User": "alice"}, SMALL_SQL.encode())
    page = r.json()
    get(page["nextUri"])
    user = call("GET", f"{s.url}/v1/query/{page['id']}", USER).json()["session"]["user"]
    metrics = call("GET", s.url + "/metrics", {"X-Trino-Original-User": "alice"}).status_code
    return f"POST {r.status_code}, session user {user}, /metrics {metrics}"


def p_sql_over_a_million_characters(s):
    page = post(s, "SELECT 1 --" + "é" * 1_000_000)
    failed = get(page["nextUri"]).json()
    error = failed["error"]
    return (f"fields={keys(failed)} state={failed['stats']['state']} {error['errorName']}/{error['errorCode']}/"
            f"{error['errorType']} message={error['message']!r} failureInfo={keys(error['failureInfo'])}")


def p_post_basic_user_without_password(s):
    return call("POST", s.url + "/v1/statement", {"Authorization": "Basic Ym9iOg=="}, b"SELECT 1").status_code


def p_metrics_without_user(s):
    return text_answer(call("GET", s.url + "/metrics"))


def p_query_list_without_user(s):
    return text_answer(call("GET", s.url + "/v1/query"))


def p_empty_post(s):
    return text_answer(call("POST", s.url + "/v1/statement", USER, b""))


def p_unknown_path(s):
    return text_answer(call("GET", s.url + "/v1/nothing-here", USER))


def p_unknown_query_info(s):
    return text_answer(call("GET", s.url + "/v1/query/20200101_000000_00000_aaaaa", USER))


def p_put_info(s):
    return empty_answer(call("PUT", s.url + "/v1/info", USER, b"x"))


def p_get_statement(s):
    return empty_answer(call("GET", s.url + "/v1/statement", USER))


def p_head_statement(s):
    return empty_answer(call("HEAD", s.url + "/v1/statement", USER))


def p_post_metrics(s):
    return empty_answer(call("POST", s.url + "/metrics", USER, b"x"))


def p_post_status(s):
    return empty_answer(call("POST", s.url + "/v1/status", USER, b"x"))


def p_put_info_state(s):
    r = call("PUT", s.url + "/v1/info/state", {**USER, "Content-Type": "application/json"}, b'"SHUTTING_DOWN"')
    return text_answer(r) + " " + headers_of(r, "Vary")


def p_kill_unknown_query(s):
    return empty_answer(call("DELETE", s.url + "/v1/query/20200101_000000_00000_aaaaa", USER))


def p_info(s):
    r = call("GET", s.url + "/v1/info", accept_gzip=True)
    info = r.json()
    return (f"{r.status_code} {r.headers.get('Content-Type')} {headers_of(r, 'Content-Encoding', 'Vary')} "
            f"{framing(r)} fields={keys(info)} version={info['nodeVersion']} coordinator={info['coordinator']}")


def p_info_trailing_slash(s):
    return call("GET", s.url + "/v1/info/").status_code


def p_head_info(s):
    r = call("HEAD", s.url + "/v1/info", accept_gzip=True)
    return f"{r.status_code} {headers_of(r, 'Content-Type', 'Content-Encoding', 'Vary')} {framing(r)} {r.content!r}"


def p_info_state(s):
    r = call("GET", s.url + "/v1/info/state", accept_gzip=True)
    return text_answer(r) + " " + headers_of(r, "Content-Encoding", "Content-Length")


def p_status(s):
    status = call("GET", s.url + "/v1/status").json()
    return (f"fields={keys(status)} memoryInfo={keys(status['memoryInfo'])} "
            f"pool={keys(status['memoryInfo']['pool'])} version={status['nodeVersion']}")


def p_metrics(s):
    r = call("GET", s.url + "/metrics", USER)
    gauges = sorted(re.findall(r"^# TYPE (trino_(?:execution_name_QueryManager_(?:Running|Queued)Queries|"
                               r"metadata_name_DiscoveryNodeManager_ActiveNodeCount)) (\w+)$", r.text, re.M))
    return f"{r.status_code} {r.headers.get('Content-Type')} {gauges} ends={r.text[-6:]!r}"


def p_post_page(s):
    r = call("POST", s.url + "/v1/statement", USER, SMALL_SQL.encode())
    return page_shape(r, s) + " " + framing(r)


def p_gzip_only_by_name(s):
    return {enc: call("GET", s.url + "/v1/info", {"Accept-Encoding": enc}).headers.get("Content-Encoding")
            for enc in ("gzip", "gzip;q=0", "*", "deflate", "zstd", "br, gzip")}


def p_post_page_gzip(s):
    r = call("POST", s.url + "/v1/statement", USER, SMALL_SQL.encode(), accept_gzip=True)
    return f"{headers_of(r, 'Content-Encoding', 'Vary')} {framing(r)}"


def p_queued_polls(s):
    # How many queued polls a query takes is timing on real Trino (it waits up to 1 s for
    # dispatch), so the fact is the chain's form, not its length.
    uri, chain = post(s)["nextUri"], []
    while "/queued/" in uri:
        r = get(uri)
        chain.append(s.norm(r.json()["nextUri"]).rsplit("/", 1)[1] == str(len(chain) + 2))
        last, uri = r, r.json()["nextUri"]
    again = get(last.url)
    return (f"{page_shape(last, s)} queued/t led to queued/t+1={all(chain[:-1])} "
            f"re-GET of the last keeps executing/0={again.json()['nextUri'] == uri}")


def p_post_only_is_not_a_query_yet(s):
    before = queued_gauge(s)
    page = post(s, BIG_SQL)
    time.sleep(1.5)  # real Trino would have dispatched by now, had the POST submitted it
    info = call("GET", f"{s.url}/v1/query/{page['id']}", USER).status_code
    counted = queued_gauge(s) - before
    get(page["nextUri"])
    known = call("GET", f"{s.url}/v1/query/{page['id']}", USER).status_code
    cancel(page)
    return f"before first poll: /v1/query {info}, queued +{counted:g}; after: /v1/query {known}"


def p_head_on_queued_submits(s):
    page = post(s)
    r = call("HEAD", page["nextUri"], {**USER}, accept_gzip=True)
    head = (f"{r.status_code} {headers_of(r, 'Content-Type', 'Content-Encoding', 'Vary')} {framing(r)} "
            f"{r.content!r}")
    known = wait_until(lambda: call("GET", f"{s.url}/v1/query/{page['id']}", USER).status_code == 200, 10,
                       "the HEAD to submit the query")
    return f"{head} submitted={known}"


def p_query_info_of_known_query(s):
    page = to_executing(s, SMALL_SQL)
    r = call("GET", f"{s.url}/v1/query/{page['id']}", {**USER, "Host": "elsewhere:1"})
    info = r.json()
    return (f"{r.status_code} {r.headers.get('Content-Type')} id_matches={info['queryId'] == page['id']} "
            f"user={info['session']['user']} query={info['query']!r} has_state={'state' in info} "
            f"self_from_host={'elsewhere' in info['self']} self_path={s.norm(urlsplit(info['self']).path)}")


def p_bad_slug(s):
    queued = post(s)["nextUri"]
    executing = to_executing(s, SMALL_SQL)["nextUri"]
    forged = [SLUG.sub("y" + "0" * 40, u) for u in (queued, executing)]
    answers = [text_answer(get(u)) for u in forged]
    answers.append(text_answer(call("DELETE", forged[1], USER)))
    return answers


def p_token_under_another_tokens_slug(s):
    # Slugs are per token, so a client cannot ask for a token it was not given: any other
    # number under a known slug is an unknown query, on both resources.
    queued = post(s)["nextUri"]
    executing = to_executing(s, SMALL_SQL)["nextUri"]
    return [text_answer(get(uri.rsplit("/", 1)[0] + "/7")) for uri in (queued, executing)]


def p_unknown_query_on_statement_uris(s):
    uri = to_executing(s, SMALL_SQL)["nextUri"]
    other = QUERY_ID.sub("20200101_000000_00000_aaaaa", uri)
    return [text_answer(get(other)), text_answer(get(other.replace("/executing/", "/queued/")))]


def p_token_not_a_number(s):
    uri = post(s)["nextUri"]
    return empty_answer(get(uri.rsplit("/", 1)[0] + "/x"))


def p_wrong_method_on_statement_uris(s):
    page = to_executing(s)
    running = get(page["nextUri"]).json()
    out = [empty_answer(call("POST", page["nextUri"], USER, b"x")),
           empty_answer(call("PUT", running["nextUri"], USER, b"x")),
           empty_answer(call("GET", running["partialCancelUri"], USER))]
    cancel(running)
    return out


def p_head_on_executing(s):
    page = to_executing(s)
    e0 = page["nextUri"]
    r = call("HEAD", e0, USER)
    before = f"{r.status_code} {headers_of(r, 'Content-Type', 'Content-Length')} {r.content!r}"
    running = get(e0).json()
    answers = [call("HEAD", u, USER) for u in (e0, running["nextUri"])]
    after = [f"{a.status_code} {headers_of(a, 'Content-Type', 'Content-Length', 'Vary')} {a.content!r}"
             for a in answers]
    cancel(running)
    return f"before its first executing GET: {before}; after: {after}"


def p_executing_pages(s):
    # Real Trino's first pages may be empty while the query starts (state PLANNING, STARTING),
    # and rows arrive in pieces: read until rows come, and compare the form, not the timing.
    uri, answers = to_executing(s)["nextUri"], []
    while uri and len(answers) < 100 and not any("data" in r.json() for r in answers[1:]):
        answers.append(get(uri))
        uri = answers[-1].json().get("nextUri")
    pages = [r.json() for r in answers]
    stale = get(answers[0].url)
    again = get(answers[-1].url).json()
    framed_by_size = all(framing(r) == ("chunked" if len(r.content) > 8192 else "sized") for r in answers)
    cancel(pages[-1])
    return (f"first: fields={keys({k: 1 for k in pages[0] if k != 'data'})}; "
            f"rows came={'data' in pages[-1]} columns on every page={all('columns' in p for p in pages)}; "
            f"stale token: {text_answer(stale)}; re-GET of the current: same next={again['nextUri'] == uri}; "
            f"sized up to 8 KiB, chunked beyond={framed_by_size}")


def p_partial_cancel(s):
    page = to_executing(s)
    running = get(page["nextUri"]).json()
    partial = running["partialCancelUri"]
    answers = [empty_answer(call("DELETE", partial, USER)),
               text_answer(call("DELETE", SLUG.sub("y" + "0" * 40, partial), USER))]
    cancel(running)
    return [s.norm(partial).split("HOST", 1)[1]] + answers


def p_cancel_while_executing(s):
    page = to_executing(s)
    running = get(page["nextUri"]).json()
    deleted = empty_answer(call("DELETE", running["nextUri"], USER))
    after = get(running["nextUri"])
    failed = after.json()
    return (f"DELETE: {deleted}; next page: {after.status_code} fields={keys(failed)} "
            f"state={failed['stats']['state']} error={failed['error']['errorName']}/{failed['error']['errorCode']}/"
            f"{failed['error']['errorType']} message={failed['error']['message']!r} "
            f"failureInfo={keys(failed['error']['failureInfo'])}")


def p_cancel_before_first_poll(s):
    page = post(s)
    deleted = empty_answer(call("DELETE", page["nextUri"], USER))
    failed = get(page["nextUri"]).json()
    return (f"DELETE: {deleted}; first poll: fields={keys(failed)} state={failed['stats']['state']} "
            f"error={failed['error']['errorName']}")


def p_syntax_error(s):
    page = post(s, "SELEC 1")
    r = get(page["nextUri"])
    failed = r.json()
    error = failed["error"]
    return (f"{page_shape(r, s)} error_fields={keys(error)} {error['errorName']}/{error['errorCode']}/"
            f"{error['errorType']} location={error['errorLocation']} message={error['message']!r} "
            f"failureInfo={keys(error['failureInfo'])} cause={error['failureInfo']['cause']['type']}")


def p_finished_page(s):
    page = to_executing(s, SMALL_SQL)
    while page.get("nextUri"):
        uri = page["nextUri"]
        page = get(uri).json()
    again = get(uri).json()
    return (f"fields={keys({k: 1 for k in page if k != 'data'})} state={page['stats']['state']} "
            f"re-GET same={again['stats']['state'] == page['stats']['state'] and 'nextUri' not in again}")


FORWARDED_HEADER_SETS = [
    {"X-Forwarded-Host": "gw"},
    {"X-Forwarded-Host": "gw:81"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Port": "81"},
    {"X-Forwarded-Prefix": "p/"},
    {"X-Forwarded-Prefix": "/"},
    {"X-Forwarded-For": "192.0.2.9"},
    {"X-Forwarded-Host": "a, b"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
    {"X-Forwarded-Host": "gw:81", "X-Forwarded-Port": "82"},
    {"X-Forwarded-Host": "gw", "X-Forwarded-Port": "82"},
    {"X-Forwarded-Server": "zz"},
    {"X-Forwarded-Host": "gw", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/pre"},
]


def p_forwarded_headers_shape_uris(s):
    out = []
    for headers in FORWARDED_HEADER_SETS:
        page = post(s, headers=headers)
        out.append(f"{headers} -> {s.norm(page['nextUri'])} | {s.norm(page['infoUri'])}")
        cancel(page, s)
    return out


def p_forwarded_prefix_on_executing_pages(s):
    fwd = {**USER, "X-Forwarded-Host": "gw:8080", "X-Forwarded-Prefix": "/route/tok"}
    page = post(s, BIG_SQL, headers=fwd)
    local = lambda uri: s.url + uri.split("/route/tok", 1)[1]  # noqa: E731 - back to the server itself
    while "/queued/" in page["nextUri"]:
        page = call("GET", local(page["nextUri"]), fwd).json()
    running = call("GET", local(page["nextUri"]), fwd).json()
    out = {k: s.norm(running[k]) for k in ("infoUri", "partialCancelUri", "nextUri")}
    call("DELETE", local(running["nextUri"]), fwd)
    return out


@dataclass
class Fact:
    says: str
    probe: Callable[[Side], object]
    expected: object = None


FACTS = [
    Fact("a POST without a user answers 401 with a Basic challenge", p_post_without_user,
         f"401 text/plain;charset=utf-8 {MISSING_USER!r} WWW-Authenticate=Basic realm=\"Trino\" Vary=Accept-Encoding"),
    Fact("a POST with a Basic password answers 401 'Password not allowed for insecure authentication'",
         p_post_with_password, "401 text/plain;charset=utf-8 'Password not allowed for insecure authentication' "
                               "WWW-Authenticate=Basic realm=\"Trino\""),
    Fact("Basic credentials with an empty user answer 401 without a challenge", p_post_with_empty_basic_user,
         "401 text/plain;charset=utf-8 'Malformed credentials: user is empty' WWW-Authenticate=None"),
    Fact("Basic credentials that are not base64 answer 401 without a challenge", p_post_with_bad_base64,
         "401 text/plain;charset=utf-8 'Invalid base64 encoded credentials' WWW-Authenticate=None"),
    Fact("Basic credentials with a user and no password are accepted", p_post_basic_user_without_password, 200),
    Fact("X-Trino-Original-User alone names the user", p_original_user_alone,
         "POST 200, session user alice, /metrics 200"),
    Fact("SQL over 1,000,000 characters is taken, then fails its first poll with QUERY_TEXT_TOO_LARGE",
         p_sql_over_a_million_characters,
         "fields=id,infoUri,stats,error,warnings state=FAILED QUERY_TEXT_TOO_LARGE/35/USER_ERROR "
         "message='Query text length (1000011) exceeds the maximum length (1000000)' "
         "failureInfo=type,message,suppressed,stack,errorInfo"),
    Fact("/metrics without a user answers the same 401", p_metrics_without_user,
         f"401 text/plain;charset=utf-8 {MISSING_USER!r}"),
    Fact("/v1/query without a user answers the same 401", p_query_list_without_user,
         f"401 text/plain;charset=utf-8 {MISSING_USER!r}"),
    Fact("an empty POST answers 400 'SQL statement is empty'", p_empty_post,
         "400 text/plain 'Error 400 Bad Request: SQL statement is empty'"),
    Fact("an unknown path answers 404 text/plain", p_unknown_path,
         "404 text/plain 'Error 404 Not Found: HTTP 404 Not Found'"),
    Fact("an unknown query's /v1/query answers 410 text/plain 'Error 410 Gone: HTTP 410 Gone'", p_unknown_query_info,
         "410 text/plain 'Error 410 Gone: HTTP 410 Gone'"),
    Fact("PUT /v1/info answers 405 with no body and Allow, without Vary (not a GET or POST)", p_put_info,
         "405 Content-Type=None Content-Length=0 Allow=GET,OPTIONS Vary=None body=b''"),
    Fact("GET /v1/statement answers 405 with Allow HEAD,POST,OPTIONS", p_get_statement,
         "405 Content-Type=None Content-Length=0 Allow=HEAD,POST,OPTIONS Vary=Accept-Encoding body=b''"),
    Fact("HEAD /v1/statement answers 200 with an empty JSON entity", p_head_statement,
         "200 Content-Type=application/json Content-Length=0 Allow=None Vary=None body=b''"),
    Fact("POST /metrics answers 405 with Allow GET,OPTIONS", p_post_metrics,
         "405 Content-Type=None Content-Length=0 Allow=GET,OPTIONS Vary=Accept-Encoding body=b''"),
    Fact("POST /v1/status answers 405 with Allow HEAD,GET,OPTIONS", p_post_status,
         "405 Content-Type=None Content-Length=0 Allow=HEAD,GET,OPTIONS Vary=Accept-Encoding body=b''"),
    Fact("PUT /v1/info/state (drain) is refused to a plain user", p_put_info_state,
         "403 text/plain 'Error 403 Forbidden: Management only resource' Vary=None"),
    Fact("DELETE /v1/query/{unknown} answers 204", p_kill_unknown_query,
         "204 Content-Type=None Content-Length=None Allow=None Vary=None body=b''"),
    Fact("/v1/info has the 476 shape, gzipped and sized", p_info,
         "200 application/json Content-Encoding=gzip Vary=Accept-Encoding sized "
         "fields=nodeVersion,environment,coordinator,starting,uptime version={'version': '476'} coordinator=True"),
    Fact("/v1/info/ with a trailing slash is /v1/info", p_info_trailing_slash, 200),
    Fact("only an Accept-Encoding naming gzip gets gzip (not *, not zstd)", p_gzip_only_by_name,
         {"gzip": "gzip", "gzip;q=0": None, "*": None, "deflate": None, "zstd": None, "br, gzip": "gzip"}),
    Fact("HEAD /v1/info has the plain entity's length and no body", p_head_info,
         "200 Content-Type=application/json Content-Encoding=None Vary=None sized b''"),
    Fact("/v1/info/state is 8 bytes, too small to gzip", p_info_state,
         "200 application/json '\"ACTIVE\"' Content-Encoding=None Content-Length=8"),
    Fact("/v1/status has the 476 fields", p_status),
    Fact("/metrics is OpenMetrics with the gauges a router reads", p_metrics),
    Fact("the POST page: fields in Trino's order, QUEUED, queued/1, the 476 infoUri, sized", p_post_page),
    Fact("the POST page is gzipped when accepted, still sized", p_post_page_gzip,
         "Content-Encoding=gzip Vary=Accept-Encoding sized"),
    Fact("queued polls lead from queued/t to queued/t+1 and end in executing/0, which a re-GET keeps",
         p_queued_polls),
    Fact("a POSTed, never polled query is not a query yet: 410 on /v1/query, not queued in /metrics",
         p_post_only_is_not_a_query_yet, "before first poll: /v1/query 410, queued +0; after: /v1/query 200"),
    Fact("HEAD on a queued URI is the GET without a body: it submits the query", p_head_on_queued_submits),
    Fact("/v1/query/{id} of a known query: id, user, SQL, state, and a self URI not taken from Host",
         p_query_info_of_known_query),
    Fact("a bad slug answers 404 'Error 404 Not Found: Query not found' on queued and executing URIs",
         p_bad_slug, ["404 text/plain 'Error 404 Not Found: Query not found'"] * 3),
    Fact("a token under another token's slug (queued/7 with queued/1's) answers 404 'Query not found'",
         p_token_under_another_tokens_slug, ["404 text/plain 'Error 404 Not Found: Query not found'"] * 2),
    Fact("an unknown query on a statement URI answers 404 'Query not found'", p_unknown_query_on_statement_uris,
         ["404 text/plain 'Error 404 Not Found: Query not found'"] * 2),
    Fact("a token that is not a number answers 404 with an empty body", p_token_not_a_number,
         "404 Content-Type=None Content-Length=0 Allow=None Vary=Accept-Encoding body=b''"),
    Fact("wrong methods on statement URIs answer 405 with each resource's Allow", p_wrong_method_on_statement_uris,
         ["405 Content-Type=None Content-Length=0 Allow=HEAD,DELETE,GET,OPTIONS Vary=Accept-Encoding body=b''",
          "405 Content-Type=None Content-Length=0 Allow=HEAD,DELETE,GET,OPTIONS Vary=None body=b''",
          "405 Content-Type=None Content-Length=0 Allow=DELETE,OPTIONS Vary=Accept-Encoding body=b''"]),
    Fact("HEAD on an executing URI: 404 until its first GET, then 200 with an empty JSON entity", p_head_on_executing,
         "before its first executing GET: 404 Content-Type=text/plain Content-Length=36 b''; after: "
         + str(["200 Content-Type=application/json Content-Length=0 Vary=None b''"] * 2)),
    Fact("executing pages: columns on each, rows after executing/0, an older token is 410, "
         "up to 8 KiB sized and chunked beyond",
         p_executing_pages),
    Fact("partialCancelUri is executing/partialCancel/{id}/0/{slug}/{token}; DELETE 204, bad slug 404",
         p_partial_cancel),
    Fact("DELETE on the next URI of a running query: 204, then that page is FAILED USER_CANCELED",
         p_cancel_while_executing),
    Fact("DELETE on the queued URI before any poll: 204, then the first poll is FAILED USER_CANCELED",
         p_cancel_before_first_poll),
    Fact("a syntax error (SELEC 1) fails the first queued poll with Trino's error object", p_syntax_error),
    Fact("the FINISHED page has no nextUri or partialCancelUri and repeats on a re-GET", p_finished_page),
    Fact("with process-forwarded, X-Forwarded-* shape nextUri and infoUri as Jetty reads them",
         p_forwarded_headers_shape_uris),
    Fact("with process-forwarded, executing pages carry the forwarded host and prefix in every URI",
         p_forwarded_prefix_on_executing_pages,
         {"infoUri": "http://gw:8080/route/tok/ui/query.html?QID",
          "partialCancelUri": "http://gw:8080/route/tok/v1/statement/executing/partialCancel/QID/0/SLUG/1",
          "nextUri": "http://gw:8080/route/tok/v1/statement/executing/QID/SLUG/1"}),
]


# --- stock servers: X-Forwarded-* is refused, by Jetty, before Trino sees the request ----------

REFUSED = "Server configuration does not allow processing of the {} header"


def refused(s: Side, headers: dict, method: str = "POST", accept: Optional[str] = None) -> requests.Response:
    body = b"SELECT 1" if method == "POST" else None
    return call(method, s.url + "/v1/statement", {**USER, **headers, "Accept": accept}, body)


def jetty_page(r: requests.Response, s: Side) -> str:
    return (f"{r.status_code} {headers_of(r, 'Content-Type', 'Cache-Control', 'Vary')} "
            f"{framing(r)} {s.norm(r.text)!r}")


def p_stock_plain(s):
    return jetty_page(refused(s, {"X-Forwarded-Host": "gw"}), s)


def p_stock_names_the_header(s):
    return [refused(s, {name: "x"}).text.split("\n", 1)[0]
            for name in ("X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-For")]


def p_stock_first_header_named(s):
    orders = [{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw"},
              {"X-Forwarded-Host": "gw", "X-Forwarded-Proto": "https"}]
    return [refused(s, h).text.split("\n", 1)[0] for h in orders]


def p_stock_html_for_any_type(s):
    r = refused(s, {"X-Forwarded-Host": "gw"}, accept="*/*")
    h2 = re.search(r"<h2>.*</h2>", r.text)
    return f"{r.status_code} {headers_of(r, 'Content-Type', 'Vary')} {h2 and h2.group(0)}"


def p_stock_json(s):
    r = refused(s, {"X-Forwarded-Host": "gw"}, accept="application/json")
    return f"{r.status_code} {r.headers.get('Content-Type')} {s.norm(r.text)!r}"


def p_stock_no_body_for_delete_and_put(s):
    return [empty_answer(refused(s, {"X-Forwarded-For": "192.0.2.9"}, method)) for method in ("DELETE", "PUT")]


def p_stock_head(s):
    r = refused(s, {"X-Forwarded-For": "192.0.2.9"}, "HEAD")
    return f"{r.status_code} {headers_of(r, 'Content-Type', 'Cache-Control')} {framing(r)} {r.content!r}"


def p_stock_takes_rfc7239_forwarded(s):
    page = post(s, headers={"Forwarded": "host=gw;proto=https"})
    cancel(page)
    return s.norm(page["nextUri"]).split("/v1/", 1)[0]


PLAIN_406 = (f"406 Content-Type=text/plain;charset=iso-8859-1 Cache-Control=must-revalidate,no-cache,no-store "
             f"Vary=None sized 'HTTP ERROR 406 {REFUSED.format('X-Forwarded-Host')}\\n"
             f"URI: http://HOST/v1/statement\\nSTATUS: 406\\nMESSAGE: {REFUSED.format('X-Forwarded-Host')}\\n'")
STOCK_FACTS = [
    Fact("without Accept, a stock server answers X-Forwarded-Host with Jetty's plain-text 406", p_stock_plain,
         PLAIN_406),
    Fact("the 406 names the refused header, any X-Forwarded-* one", p_stock_names_the_header,
         [f"HTTP ERROR 406 {REFUSED.format(n)}" for n in ("X-Forwarded-Prefix", "X-Forwarded-Server",
                                                         "X-Forwarded-For")]),
    Fact("with X-Forwarded-Proto and -Host in either order, the 406 names the one Jetty checks first",
         p_stock_first_header_named),
    Fact("with Accept */* (Python's requests) the 406 is an HTML page", p_stock_html_for_any_type,
         f"406 Content-Type=text/html;charset=iso-8859-1 Vary=None <h2>HTTP ERROR 406 "
         f"{REFUSED.format('X-Forwarded-Host')}</h2>"),
    Fact("with Accept application/json the 406 is JSON", p_stock_json,
         f"406 application/json '{{\\n\"message\":\"{REFUSED.format('X-Forwarded-Host')}\",\\n"
         f"\"url\":\"http://HOST/v1/statement\",\\n\"status\":\"406\"\\n}}'"),
    Fact("a DELETE or PUT gets the 406 without a body", p_stock_no_body_for_delete_and_put,
         ["406 Content-Type=None Content-Length=0 Allow=None Vary=None body=b''"] * 2),
    Fact("a HEAD gets the plain-text 406's headers", p_stock_head,
         "406 Content-Type=text/plain;charset=iso-8859-1 Cache-Control=must-revalidate,no-cache,no-store sized b''"),
    Fact("a stock server takes the RFC 7239 Forwarded header without a 406 (and ignores it)",
         p_stock_takes_rfc7239_forwarded, "http://HOST"),
]


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def standins(module_logs):
    started: Dict[str, Standin] = {}
    try:
        for name, forwarded, extra in [("parity-forwarded", "accept", STANDIN_476),
                                       ("parity-stock", "reject", STANDIN_476),
                                       ("parity-busy", "accept", [*STANDIN_476, "--queued-polls", "5"])]:
            started[name] = Standin(name, forwarded=forwarded, extra_args=extra, log_dir=module_logs).start()
        yield started
    finally:
        for s in started.values():
            s.stop()


def sides(server, standin) -> List[Side]:
    return [Side("real Trino 476", server.url), Side("stand-in", standin.url)]


def assert_same(fact: Fact, real: Side, standin: Side) -> None:
    seen = {side.name: fact.probe(side) for side in (real, standin)}
    if fact.expected is not None:
        assert seen[real.name] == fact.expected, f"real Trino no longer says: {fact.says}\n{seen[real.name]}"
    assert seen[standin.name] == seen[real.name], (
        f"the stand-in differs: {fact.says}\n  real Trino: {seen[real.name]}\n  stand-in:   {seen[standin.name]}")


@pytest.mark.parametrize("fact", FACTS, ids=[f.probe.__name__[2:] for f in FACTS])
def test_process_forwarded_server(fact, trino_servers, standins):
    assert_same(fact, *sides(trino_servers["adhoc-1"], standins["parity-forwarded"]))


@pytest.mark.parametrize("fact", STOCK_FACTS, ids=[f.probe.__name__[8:] for f in STOCK_FACTS])
def test_stock_server(fact, trino_servers, standins):
    assert_same(fact, *sides(trino_servers["etl-1"], standins["parity-stock"]))


def test_queued_token_rules_on_a_busy_coordinator(trino_servers, standins):
    """A query waiting in a queue: the last and the next queued token are served, older ones are
    410 'Invalid token', and /metrics counts it as queued. Real: user `queue-me` runs one query at
    a time on adhoc-2 (conftest), so a second one waits; stand-in: `--queued-polls 5`."""
    server = trino_servers["adhoc-2"]
    queue_me = {"X-Trino-User": "queue-me"}
    holder = post(Side("holder", server.url), LONG_SQL.format(marker="parity-holder"), headers=queue_me)
    while "/queued/" in holder.get("nextUri", ""):
        holder = call("GET", holder["nextUri"], queue_me).json()  # now running, and unread
    answers = {}
    try:
        for side in sides(server, standins["parity-busy"]):
            q1 = post(side, BIG_SQL, headers=queue_me)["nextUri"]
            q2 = call("GET", q1, queue_me).json()["nextUri"]
            q3 = call("GET", q2, queue_me).json()["nextUri"]
            queued = queued_gauge(side)
            answers[side.name] = [side.norm(q2), side.norm(q3), text_answer(call("GET", q1, queue_me)),
                                  f"re-GET of the last: {call('GET', q2, queue_me).status_code}",
                                  f"queued in /metrics: {queued >= 1}"]
            call("DELETE", q3, queue_me)
    finally:
        cancel(holder)
    assert answers["real Trino 476"][2] == "410 text/plain 'Error 410 Gone: Invalid token'", answers
    assert answers["stand-in"] == answers["real Trino 476"], answers


def test_content_length_counts_the_gzipped_bytes(trino_servers, standins):
    """A router that buffers a page trusts Content-Length to be the bytes on the wire."""
    for side in sides(trino_servers["adhoc-1"], standins["parity-forwarded"]):
        r = requests.post(side.url + "/v1/statement", data=SMALL_SQL.encode(), stream=True, timeout=TIMEOUT,
                          headers={**USER, "Accept-Encoding": "gzip"})
        wire = r.raw.read(decode_content=False)
        assert r.headers["Content-Encoding"] == "gzip", side
        assert int(r.headers["Content-Length"]) == len(wire), side
        cancel(json.loads(gzip.decompress(wire)))
