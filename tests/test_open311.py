"""Open311 GeoReport v2 over HTTP on loopback (real uvicorn), on SQLite and PostgreSQL.

Every JSON body is validated against the spec's schemas (tests/open311_schemas; and
../shared/open311/georeport-v2 too when it is there),
and every resource is fetched as XML too and compared field by field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from peygir.bots.core import Core
from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from peygir.ticket_store import store
from peygir.ticket_store.models import Citizen, Open311Request, Ticket, TicketEvent, TicketStatus
from tests.open311_support import (
    KEYS,
    as_xml_text,
    assert_same,
    make_core,
    serving,
    validate,
    xml_items,
)

PHONE = "09121234567"
PERSONAL = {"phone": PHONE, "email": "maryam.ahmadi@example.ir", "first_name": "مریم",
            "last_name": "احمدی", "device_id": "device-abc-123", "account_id": "acct-42"}


@pytest.fixture
async def core(db: str, default_pack: Pack, default_classifier: Classifier) -> Core:
    return make_core(db, default_pack, default_classifier)


@pytest.fixture
async def api(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(core) as client:
        yield client


async def both(api: httpx.AsyncClient, path: str, root: str, item: str,
               schema: str, **params: Any) -> list[dict[str, Any]]:
    """GET path.json and path.xml; check the schema and that both say the same; the JSON."""
    as_json = await api.get(f"{path}.json", params=params)
    as_xml = await api.get(f"{path}.xml", params=params)
    assert as_json.status_code == 200, as_json.text
    assert as_xml.status_code == 200, as_xml.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_xml.headers["content-type"].startswith("text/xml")
    body = as_json.json()
    validate(schema, body)
    assert_same(body, xml_items(as_xml.content, root, item))
    return body


async def post(api: httpx.AsyncClient, fmt: str = "json", **fields: str) -> httpx.Response:
    return await api.post(f"/requests.{fmt}", data={"api_key": KEYS[0], **fields})


async def expect_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("application/json"):
        errors = response.json()
        validate("errors", errors)
    else:
        errors = xml_items(response.content, "errors", "error")
        assert errors and all(set(e) == {"code", "description"} for e in errors)
    assert all(int(e["code"]) == status for e in errors)
    text = " ".join(str(e["description"]) for e in errors)
    for word in words:
        assert word in text, text


# -- services --------------------------------------------------------------------------------
async def test_services_list_the_municipal_catalogue(api: httpx.AsyncClient,
                                                     default_pack: Pack) -> None:
    services = await both(api, "/services", "services", "service", "services.json")
    municipal = [s for s in default_pack.services if not s.is_referral]
    assert [s["service_code"] for s in services] == [s.service_code for s in municipal]
    asphalt = next(s for s in services if s["service_code"] == "asphalt")
    assert asphalt["type"] == "realtime" and asphalt["metadata"] is False
    assert asphalt["group"] == "فنی و عمرانی" and "چاله" in asphalt["keywords"].split(", ")
    assert not any(s["service_code"].startswith("ext_") for s in services)


async def test_service_definition_has_an_empty_attribute_list(api: httpx.AsyncClient) -> None:
    for fmt in ("json", "xml"):
        response = await api.get(f"/services/asphalt.{fmt}")
        assert response.status_code == 200
    definition = (await api.get("/services/asphalt.json")).json()
    validate("service-definition.json", definition)
    assert definition == {"service_code": "asphalt", "attributes": []}
    xml = (await api.get("/services/asphalt.xml")).content
    assert b"<service_definition><service_code>asphalt</service_code><attributes />" in xml
    await expect_error(await api.get("/services/no_such.json"), 404, "no_such")
    await expect_error(await api.get("/services/no_such.xml"), 404, "no_such")
    await expect_error(await api.get("/services/ext_gas.json"), 404)
    await expect_error(await api.get("/services.html"), 400, "json or xml")


# -- filing ----------------------------------------------------------------------------------
async def test_a_post_files_a_ticket_that_reads_back_the_same_everywhere(
    api: httpx.AsyncClient, core: Core
) -> None:
    response = await post(api, service_code="asphalt", lat="34.82", long="48.49",
                          address_string="خیابان آزادی، کوچه نهم", description="چاله بزرگ",
                          media_url="https://photos.example.ir/p/1.jpg", **PERSONAL)
    assert response.status_code == 200, response.text
    created = response.json()
    validate("RequestResponse", created)
    code, token = created[0]["service_request_id"], created[0]["token"]

    ticket = await Ticket.get(tracking_code=code).prefetch_related("citizen")
    assert ticket.channel == "open311" and ticket.service_code == "asphalt"
    assert (ticket.latitude, ticket.longitude) == (34.82, 48.49)
    assert ticket.address == "خیابان آزادی، کوچه نهم"
    # The workflow routed it: district r1, its public-works unit.
    assert ticket.district == "r1" and ticket.unit_code == "north_works"
    assert ticket.status == TicketStatus.ASSIGNED
    assert ticket.citizen.phone == PHONE  # kept, privately, on the citizen
    assert (await Open311Request.get(ticket=ticket)).media_url.endswith("/p/1.jpg")

    [one] = await both(api, f"/requests/{code}", "service_requests", "request", "requests.json")
    assert one["service_request_id"] == code and one["status"] == "open"
    assert one["service_name"] == core.pack.service_by_code["asphalt"].service_name
    # The submitter's words, typed address and photo are theirs: not published.
    assert one["description"] is None and one["lat"] == 34.82
    assert one["address"] == core.pack.city.district_by_code["r1"].name
    assert one["media_url"] is None
    unit = core.pack.city.unit_by_code["north_works"].name
    assert one["agency_responsible"] == unit
    assert one["status_notes"] is None  # staff have published no note (routing is internal)
    requested = datetime.fromisoformat(one["requested_datetime"])
    assert requested.utcoffset() == timedelta(hours=3, minutes=30)  # Tehran, with its offset
    assert abs(requested - ticket.created_at) < timedelta(seconds=1)
    assert datetime.fromisoformat(one["expected_datetime"]) == ticket.answer_due.replace(
        microsecond=0)
    assert one["updated_datetime"]

    [by_token] = await both(api, f"/tokens/{token}", "service_requests", "request",
                            "TokenResponse")
    assert by_token == {"service_request_id": code, "token": token}
    listed = await both(api, "/requests", "service_requests", "request", "requests.json")
    assert [r["service_request_id"] for r in listed] == [code]
    assert listed[0] == one
    singular = await api.get(f"/request/{code}.json")  # the swagger file's spelling
    assert singular.json() == [one]

    # Nothing personal in anything served.
    everything = [response.text, (await post(api, "xml", service_code="traffic_light",
                                             address_string="x", **PERSONAL)).text]
    for path in (f"/requests/{code}", "/requests", f"/tokens/{token}"):
        for fmt in ("json", "xml"):
            everything.append((await api.get(f"{path}.{fmt}")).text)
    for value in [*PERSONAL.values(), "کوچه نهم", "چاله بزرگ", "photos.example.ir"]:
        assert all(value not in text for text in everything), value
    assert all("9121234567" not in text and "device" not in text for text in everything)


async def test_the_xml_post_answers_like_the_json_one(api: httpx.AsyncClient) -> None:
    response = await post(api, "xml", service_code="fallen_tree", lat="35.7", long="51.4")
    assert response.status_code == 200
    [created] = xml_items(response.content, "service_requests", "request")
    assert set(created) == {"service_request_id", "token", "service_notice"}
    ticket = await Ticket.get(tracking_code=created["service_request_id"])
    assert ticket.urgent  # the pack's urgency carries over, and so do its deadlines
    assert ticket.onsite_due is not None and "فوری" in created["service_notice"]


async def test_a_report_of_the_same_thing_nearby_is_its_own_request_linked_to_the_first(
    api: httpx.AsyncClient
) -> None:
    first = (await post(api, service_code="asphalt", lat="34.82", long="48.49",
                        description="چاله")).json()[0]
    second = (await post(api, service_code="asphalt", lat="34.8201", long="48.4901",
                         description="همان چاله", media_url="https://x.example.ir/2.jpg",
                         phone=PHONE)).json()[0]
    # Its own id; the notice says a similar report is followed up, without its id.
    assert second["service_request_id"] != first["service_request_id"]
    assert "مشابه" in second["service_notice"]
    assert first["service_request_id"] not in str(second)
    for created in (first, second):
        [by_token] = (await api.get(f"/tokens/{created['token']}.json")).json()
        assert by_token["service_request_id"] == created["service_request_id"]
    linked = await Ticket.get(tracking_code=second["service_request_id"])
    assert (await linked.duplicate_of).tracking_code == first["service_request_id"]
    assert await Ticket.all().count() == 2
    listed = (await api.get("/requests.json")).json()
    assert {r["service_request_id"] for r in listed} == {first["service_request_id"],
                                                         second["service_request_id"]}
    assert "همان" not in str(listed) and "x.example.ir" not in str(listed)
    far = (await post(api, service_code="asphalt", lat="34.83", long="48.49")).json()[0]
    assert far["service_request_id"] != first["service_request_id"]


async def test_without_a_place_it_waits_for_an_operator(api: httpx.AsyncClient) -> None:
    code = (await post(api, service_code="asphalt", address_string="میدان اصلی")).json()[0][
        "service_request_id"]
    [one] = (await api.get(f"/requests/{code}.json")).json()
    assert one["status"] == "open" and one["agency_responsible"] is None
    assert one["status_notes"] is None  # the filing note is the citizen's, not the city's
    assert one["lat"] is None and one["address"] is None  # never the address typed


async def test_the_same_person_is_one_citizen_and_anonymous_posts_share_one(
    api: httpx.AsyncClient
) -> None:
    for _ in range(2):
        assert (await post(api, service_code="asphalt", address_string="a",
                           phone=PHONE)).status_code == 200
        assert (await post(api, service_code="asphalt", address_string="b")).status_code == 200
    assert await Citizen.filter(channel="open311").count() == 2
    assert await Ticket.filter(channel="open311").count() == 4


async def test_api_key_is_required_and_checked(core: Core, default_pack: Pack,
                                               default_classifier: Classifier) -> None:
    async with serving(core) as api:
        fields = {"service_code": "asphalt", "address_string": "x"}
        await expect_error(await api.post("/requests.json", data=fields), 403, "api_key")
        await expect_error(await api.post("/requests.xml", data={**fields, "api_key": "nope"}),
                           403, "api_key")
        await expect_error(await api.post("/requests.json",
                                          data={**fields, "api_key": "کلید"}), 403)
        ok = await api.post("/requests.json", data={**fields, "api_key": KEYS[1]})
        assert ok.status_code == 200
        # The key in the query string works too (many clients send it there).
        ok = await api.post("/requests.json", params={"api_key": KEYS[0]}, data=fields)
        assert ok.status_code == 200
    closed = make_core(core.settings.database_url, default_pack, default_classifier, keys=())
    async with serving(closed) as api:
        await expect_error(await api.post("/requests.json",
                                          data={**fields, "api_key": KEYS[0]}), 403)
        assert await Ticket.all().count() == 2  # the two with a good key


BAD_POSTS: list[tuple[dict[str, str], str]] = [
    ({"lat": "35.7"}, "lat and long"),
    ({"long": "51.4"}, "lat and long"),
    ({"lat": "91", "long": "51.4"}, "lat"),
    ({"lat": "35.7", "long": "-180.5"}, "long"),
    ({"lat": "nan", "long": "51.4"}, "lat"),
    ({"lat": "north", "long": "51.4"}, "not a number"),
    ({}, "location is required"),
    ({"address_id": "12345"}, "location is required"),
    ({"address_string": "x", "service_code": "no_such"}, "unknown service"),
    ({"address_string": "x", "service_code": ""}, "service_code: required"),
    ({"address_string": "x", "service_code": "ext_gas"}, "۱۹۴"),
    ({"address_string": "x", "description": "چ" * 4001}, "description"),
    ({"address_string": "x" * 513}, "address_string"),
    ({"address_string": "x", "media_url": "ftp://files.example.ir/a.jpg"}, "media_url"),
    ({"address_string": "x", "media_url": "not a url"}, "media_url"),
    ({"address_string": "x", "phone": "call me"}, "phone"),
    ({"address_string": "x", "email": "nobody"}, "email"),
    ({"address_string": "x", "first_name": "n" * 101}, "first_name"),
    ({"address_string": "x\x00y"}, "NUL"),
]


@pytest.mark.parametrize(("fields", "word"), BAD_POSTS,
                         ids=[f"{i}-{w[:12]}" for i, (_, w) in enumerate(BAD_POSTS)])
async def test_bad_posts_are_400_with_the_spec_error_list(
    api: httpx.AsyncClient, fields: dict[str, str], word: str
) -> None:
    for fmt in ("json", "xml"):
        response = await post(api, fmt, **{"service_code": "asphalt", **fields})
        await expect_error(response, 400, word)
    assert await Ticket.all().count() == 0


async def test_bad_bodies_are_400(api: httpx.AsyncClient) -> None:
    url = f"/requests.json?api_key={KEYS[0]}"
    await expect_error(await api.post(url, json={"service_code": "asphalt"}), 400,
                       "x-www-form-urlencoded")
    form = {"content-type": "application/x-www-form-urlencoded"}
    await expect_error(await api.post(url, content=b"service_code=%ff%fe", headers=form), 400)
    await expect_error(await api.post(url, content=b"a=" + b"x" * 70_000, headers=form), 400,
                       "larger")
    many = "&".join(f"f{i}=1" for i in range(500)).encode()
    await expect_error(await api.post(url, content=many, headers=form), 400)
    await expect_error(await api.post("/requests.csv", data={"api_key": KEYS[0]}), 400)
    assert await Ticket.all().count() == 0


# -- finding ---------------------------------------------------------------------------------
async def _ticket(core: Core, service: str = "asphalt", channel: str = "open311",
                  age: timedelta = timedelta(0), status: TicketStatus = TicketStatus.NEW,
                  description: str = "شرح") -> Ticket:
    citizen = await store.citizen_for(channel, "someone")
    now = datetime.now(UTC) - age
    ticket = await store.file_ticket(
        citizen, channel, "someone",
        store.NewTicket(service_code=service, description=description, urgent=False,
                        address="نشانی"), now, core.workflow.deadlines)
    # created_at is stamped by the database; age it by hand.
    await Ticket.filter(id=ticket.id).update(created_at=now, status=status)
    return await Ticket.get(id=ticket.id)


async def ids_of(api: httpx.AsyncClient, **params: str) -> list[str]:
    rows = await both(api, "/requests", "service_requests", "request", "requests.json",
                      **params)
    return [row["service_request_id"] for row in rows]


EXPECTED_OPEN311 = {
    TicketStatus.NEW: "open", TicketStatus.ASSIGNED: "open", TicketStatus.IN_PROGRESS: "open",
    TicketStatus.REOPENED: "open", TicketStatus.RESOLVED: "closed",
    TicketStatus.CLOSED: "closed", TicketStatus.REJECTED: "closed",
    TicketStatus.REFERRED: "closed",
}


async def test_statuses_map_to_open_and_closed(api: httpx.AsyncClient, core: Core) -> None:
    assert set(EXPECTED_OPEN311) == set(TicketStatus)
    made = {status: await _ticket(core, status=status) for status in TicketStatus}
    for status, ticket in made.items():
        [row] = (await api.get(f"/requests/{ticket.tracking_code}.json")).json()
        assert row["status"] == EXPECTED_OPEN311[status], status
    opened = set(await ids_of(api, status="open"))
    closed = set(await ids_of(api, status="closed"))
    assert opened == {t.tracking_code for s, t in made.items() if EXPECTED_OPEN311[s] == "open"}
    assert closed == {t.tracking_code for s, t in made.items()
                      if EXPECTED_OPEN311[s] == "closed"}
    assert set(await ids_of(api, status="open,closed")) == opened | closed
    await expect_error(await api.get("/requests.json", params={"status": "pending"}), 400,
                       "status")


async def test_status_notes_is_the_last_note_staff_published(api: httpx.AsyncClient,
                                                              core: Core) -> None:
    ticket = await _ticket(core)
    await TicketEvent.create(ticket=ticket, actor="staff", from_status="new",
                             to_status="resolved", note="لکه‌گیری انجام شد", public=True)
    await TicketEvent.create(ticket=ticket, actor="staff", note="با آقای رضایی هماهنگ شد")
    await TicketEvent.create(ticket=ticket, actor="staff", note="", public=True)  # skipped
    [row] = await both(api, f"/requests/{ticket.tracking_code}", "service_requests",
                       "request", "requests.json")
    assert row["status_notes"] == "لکه‌گیری انجام شد"  # the later note was not published


async def test_chat_tickets_are_listed_without_the_citizens_words(
    api: httpx.AsyncClient, core: Core
) -> None:
    chat = await _ticket(core, channel="telegram", description="من مریم هستم، پلاک ۱۲")
    [row] = await both(api, f"/requests/{chat.tracking_code}", "service_requests", "request",
                       "requests.json")
    assert row["description"] is None and row["service_code"] == "asphalt"
    assert row["status_notes"] is None


async def test_date_window_filters_and_defaults(api: httpx.AsyncClient, core: Core) -> None:
    new = await _ticket(core, age=timedelta(days=1), service="traffic_light")
    month = await _ticket(core, age=timedelta(days=30))
    old = await _ticket(core, age=timedelta(days=100))
    # Default: the last 90 days, newest first.
    assert await ids_of(api) == [new.tracking_code, month.tracking_code]
    now = datetime.now(UTC)
    since = (now - timedelta(days=120)).isoformat()
    assert await ids_of(api, start_date=since) == [month.tracking_code, old.tracking_code]
    until = (now - timedelta(days=20)).astimezone().isoformat()
    assert await ids_of(api, end_date=until) == [month.tracking_code, old.tracking_code]
    window = {"start_date": (now - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "end_date": (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S+03:30")}
    assert await ids_of(api, **window) == [month.tracking_code]
    assert await ids_of(api, service_code="traffic_light") == [new.tracking_code]
    assert await ids_of(api, service_code="traffic_light,asphalt") == [new.tracking_code,
                                                                  month.tracking_code]
    # service_request_id overrides everything else, the window included.
    assert set(await ids_of(api, service_request_id=f"{old.tracking_code},{new.tracking_code}",
                            service_code="park_maintenance", status="closed")) == {
        old.tracking_code, new.tracking_code}
    assert await ids_of(api, service_request_id="12345678") == []
    # A window longer than 90 days is cut to the 90 days that end at end_date; one that ends
    # before it starts holds nothing.
    wide = {"start_date": (now - timedelta(days=400)).isoformat(), "end_date": now.isoformat()}
    assert await ids_of(api, **wide) == await ids_of(api)
    backwards = {"start_date": now.isoformat(),
                 "end_date": (now - timedelta(days=1)).isoformat()}
    assert await ids_of(api, **backwards) == []
    # A well-formed moment beyond the store's span is read as its nearest end, not refused.
    assert await ids_of(api, start_date="0001-01-01T00:00:00+14:00") == []
    assert await ids_of(api, end_date="9999-12-31T23:59:59-12:00") == []

    bad = [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2025-13-01T00:00:00Z"}, "end_date"),
        ({"start_date": "2025-01-01T00:00:00"}, "time zone"),
        ({"service_code": "no_such"}, "unknown service"),
        ({"service_request_id": "12;DROP"}, "service_request_id"),
        ({"service_request_id": ",".join(["12345678"] * 1001)}, "service_request_id"),
        ({"service_code": "asphalt\x00"}, "NUL"),
    ]
    for params, word in bad:
        for fmt in ("json", "xml"):
            response = await api.get(f"/requests.{fmt}", params=params)
            await expect_error(response, 400, word)


async def test_at_most_1000_newest_first(api: httpx.AsyncClient, core: Core) -> None:
    citizen = await store.citizen_for("open311", "bulk")
    now = datetime.now(UTC)
    await Ticket.bulk_create([
        Ticket(tracking_code=str(20_000_000 + i), citizen=citizen, channel="open311",
               chat_id="bulk", service_code="asphalt", description="", latitude=35.7,
               longitude=51.4, answer_due=now)
        for i in range(1005)
    ])
    newest = await Ticket.all().order_by("-created_at", "-id").limit(1000).values_list(
        "tracking_code", flat=True)
    assert await ids_of(api, status="open") == newest
    assert len(await ids_of(api)) == 1000


async def test_unknown_ids_and_tokens_are_404(api: httpx.AsyncClient) -> None:
    for fmt in ("json", "xml"):
        await expect_error(await api.get(f"/requests/12345678.{fmt}"), 404, "12345678")
        await expect_error(await api.get(f"/requests/abc.{fmt}"), 404)
        await expect_error(await api.get(f"/tokens/abcdef.{fmt}"), 404, "token")
        await expect_error(await api.get(f"/nothing/here.{fmt}"), 404)
    assert as_xml_text(1.5) == "1.5"
