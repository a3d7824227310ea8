"""Syncer logic without I/O: signatures, flow control, the HubSpot/Mautic mapping and
answer parsing, and the delivery loop's final states (against an in-memory destination
that answers like the documented APIs)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from cdp_syncer.delivery import Lane, Policy, deliver, newest_per_profile
from cdp_syncer.destinations.base import Result, patiently
from cdp_syncer.destinations.hubspot import body as hubspot_body
from cdp_syncer.destinations.hubspot import per_record as hubspot_results
from cdp_syncer.destinations.mautic import per_record as mautic_results
from cdp_syncer.logic import hubspot_properties as hp
from cdp_syncer.logic import signing
from cdp_syncer.logic.flow import Breaker, TokenBucket, Verdict, backoff, classify, retry_after
from cdp_syncer.logic.mapping import HUBSPOT_DEFAULT, check_map, properties, summary


def lead(profile: str = "P1", version: int = 1, email: str = "ada@autowerk.example") -> dict[str, Any]:
    return {
        "schema": "cdp.lead/v1",
        "eventType": "lead.qualified" if version == 1 else "lead.updated",
        "eventId": f"{profile}-v{version}",
        "version": version,
        "profileId": profile,
        "qualifiedBy": "score",
        "lifecycleStage": "mql",
        "contact": {"email": email, "firstName": "Ada", "company": "Autowerk BV"},
        "traits": {
            "role": {"value": "CEO", "source": "implicit", "ruleId": "linkedin-ceo-automotive"},
            "industry": {"value": "automotive", "source": "implicit", "ruleId": "linkedin-ceo-automotive"},
        },
        "score": 70.0,
        "scoreBreakdown": [{"rule": "pricing-view", "points": 20.0}, {"rule": "video-completed", "points": 15.0}],
        "segments": ["automotive-ceos", "engaged"],
        "behaviour": {
            "pageViews": 4,
            "sessions": 2,
            "interactions": 6,
            "topPages": {"/pricing": 2},
            "maxScroll": {"/case": 90},
            "videosCompleted": ["Fleet savings"],
            "calculators": [{"name": "benefit-calculator", "at": "2026-11-25T10:41:02Z", "values": {"vehicles": 120}}],
            "forms": [],
        },
        "firstTouch": {
            "channel": "Paid Social",
            "source": "linkedin",
            "medium": "paid_social",
            "campaign": "ceo-automotive-q4",
        },
        "lastTouch": {"channel": "Direct"},
        "conversions": [{"event": "Form Submitted", "at": "2026-11-28T10:42:05Z"}],
    }


def test_standard_webhooks_signature_round_trip_and_refusals() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    h = signing.headers(secret, "msg_1", 1_700_000_000, b'{"a":1}')
    assert h["webhook-signature"].startswith("v1,")
    assert signing.verify(secret, h, b'{"a":1}', 1_700_000_010) is None
    assert signing.verify(secret, h, b'{"a":2}', 1_700_000_010) == "no valid v1 signature"
    assert "tolerance" in (signing.verify(secret, h, b'{"a":1}', 1_700_009_999) or "")
    assert signing.verify("whsec_b3RoZXI=", h, b'{"a":1}', 1_700_000_010) == "no valid v1 signature"


def test_the_published_standard_webhooks_test_vector() -> None:
    # from the spec's reference libraries' tests
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sig = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (429, Verdict.RETRY),
        (503, Verdict.RETRY),
        (500, Verdict.RETRY),
        (408, Verdict.RETRY),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (410, Verdict.PERMANENT),
        (422, Verdict.PERMANENT),
    ],
)
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert retry_after("7", now.timestamp()) == 7
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now.timestamp()) == pytest.approx(30)
    assert retry_after("soon", now.timestamp()) is None and retry_after(None, 0) is None


def test_backoff_grows_is_capped_and_honours_the_server_floor() -> None:
    rng = random.Random(1)
    delays = [backoff(n, 0.5, 8, rng=rng) for n in range(1, 12)]
    assert all(0 <= d <= 8 for d in delays)
    assert backoff(1, 0.5, 8, hint=5, rng=rng) >= 5


def test_token_bucket_allows_a_burst_then_paces() -> None:
    b = TokenBucket(rate=100, per=10)
    assert all(b.wait(0.0) == 0 for _ in range(100))
    assert b.wait(0.0) == pytest.approx(0.1)
    assert b.wait(0.1) == 0


def test_a_flaky_destination_keeps_its_traffic_and_a_dead_one_is_cut_off() -> None:
    flaky = Breaker(threshold=5, cooldown=30)
    for t in range(200):  # half the requests fail, runs of five included
        if (t // 5) % 2:
            flaky.failure(float(t))
        else:
            flaky.success()
    assert flaky.state(200.0) == "closed"
    dead = Breaker(threshold=5, cooldown=30)
    for _ in range(20):
        dead.success()
    for t in range(20, 40):
        dead.failure(float(t))
    assert dead.state(40.0) == "open"


def test_breaker_opens_after_failures_and_half_opens_after_the_cooldown() -> None:
    br = Breaker(threshold=3, cooldown=30)
    for t in range(3):
        br.failure(float(t))
    assert br.state(3) == "open" and br.allow(3) == pytest.approx(29)
    assert br.state(40) == "half-open" and br.allow(40) == 0
    br.failure(41)  # the trial failed: open again
    assert br.state(42) == "open"
    br.success()
    assert br.state(43) == "closed"


def test_hubspot_properties_and_body() -> None:
    props = properties(lead(), HUBSPOT_DEFAULT, hubspot=True)
    assert props["email"] == "ada@autowerk.example" and props["jobtitle"] == "CEO" and props["industry"] == "automotive"
    assert props["lifecyclestage"] == "marketingqualifiedlead" and props["cdp_score"] == "70"
    assert props["cdp_segments"] == "automotive-ceos;engaged"
    assert props["cdp_first_touch_campaign"] == "ceo-automotive-q4"
    assert props["cdp_calculator_values"] == "benefit-calculator: vehicles=120"
    assert "lastname" not in props  # empty values are left out
    b = hubspot_body([lead()], {**HUBSPOT_DEFAULT, "summary": ""})
    assert b["inputs"][0]["idProperty"] == "email" and b["inputs"][0]["id"] == "ada@autowerk.example"
    assert "cdp_behaviour_summary" not in b["inputs"][0]["properties"]
    with pytest.raises(ValueError, match="unknown lead field"):
        check_map({"favouriteColour": "x"})


def test_the_summary_tells_the_sales_rep_the_story() -> None:
    text = summary(lead())
    assert "role: CEO (from linkedin-ceo-automotive)" in text
    assert "Score 70 (pricing-view +20, video-completed +15)" in text
    assert "Calculator: benefit-calculator: vehicles=120" in text
    assert "First touch: Paid Social / linkedin / paid_social / ceo-automotive-q4" in text


def test_a_hubspot_207_fails_only_the_records_it_names() -> None:
    doc = {
        "status": "COMPLETE",
        "results": [{"id": "1"}],
        "numErrors": 2,
        "errors": [
            {"category": "VALIDATION_ERROR", "message": "bad phone", "context": {"ids": ["B@x.com"]}},
            {"category": "RATE_LIMITS", "message": "slow down", "context": {"ids": ["c@x.com"]}},
        ],
    }
    got = hubspot_results(doc, ["a@x.com", "b@x.com", "c@x.com"])
    assert [r.verdict for r in got] == [Verdict.DELIVERED, Verdict.PERMANENT, Verdict.RETRY]
    assert "bad phone" in (got[1].error or "")


def test_mautic_status_codes_per_contact() -> None:
    got = mautic_results({"statusCodes": [201, 400, 200, 503], "errors": {"1": {"message": "bad"}}}, 4)
    assert [r.verdict for r in got] == [Verdict.DELIVERED, Verdict.PERMANENT, Verdict.DELIVERED, Verdict.RETRY]


def test_only_the_newest_version_per_profile_is_sent_and_never_one_already_outdone() -> None:
    leads = [lead("P1", 1), lead("P1", 3), lead("P1", 2), lead("P2", 1, "b@x.com"), lead("P3", 2, "c@x.com")]
    send, superseded = newest_per_profile(leads, {"P3": 4})
    assert sorted(x["eventId"] for x in send) == ["P1-v3", "P2-v1"]
    assert sorted(x["eventId"] for x in superseded) == ["P1-v1", "P1-v2", "P3-v2"]


class Scripted:
    """Answers like an API would, from a script of per-call results."""

    name = "scripted"
    max_batch = 2

    def __init__(self, script: list[list[Result] | Result]) -> None:
        self.script = script
        self.calls: list[list[str]] = []

    async def send(self, leads: Sequence[dict[str, Any]]) -> list[Result]:
        self.calls.append([x["eventId"] for x in leads])
        step = self.script.pop(0) if self.script else Result(Verdict.DELIVERED)
        return step if isinstance(step, list) else [step for _ in leads]

    async def aclose(self) -> None:
        pass


def lane(dest: Scripted, max_age: float = 3600) -> tuple[Lane, list[float]]:
    slept: list[float] = []
    clock = [0.0]

    async def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    return Lane(
        dest, TokenBucket(1000, 1), Breaker(3, 30), Policy(0.5, 8, max_age), clock=lambda: clock[0], sleep=sleep
    ), slept


async def test_delivery_retries_transient_failures_honouring_retry_after_until_all_are_final() -> None:
    dest = Scripted(
        [
            Result(Verdict.RETRY, "HTTP 429", retry_after=5, status=429),
            Result(Verdict.RETRY, "HTTP 503", status=503),
            [Result(Verdict.DELIVERED), Result(Verdict.PERMANENT, "HTTP 400: bad")],
        ]
    )
    ln, slept = lane(dest)
    leads = [lead("P1"), lead("P2", email="b@x.com"), lead("P3", email="c@x.com")]
    finals = await deliver(ln, leads, {}, 0.0)
    assert {f.lead["eventId"]: f.status for f in finals} == {
        "P1-v1": "delivered",
        "P2-v1": "failed",
        "P3-v1": "delivered",
    }
    assert slept[0] == 5  # the 429's Retry-After, exactly, before the lane's next request
    assert dest.calls == [["P1-v1", "P2-v1"], ["P3-v1"], ["P1-v1", "P2-v1"], ["P3-v1"]]
    assert next(f for f in finals if f.lead["eventId"] == "P3-v1").attempts == 2


async def test_a_lead_that_keeps_failing_past_its_maximum_age_is_recorded_as_failed() -> None:
    dest = Scripted([Result(Verdict.RETRY, "HTTP 503", status=503) for _ in range(100)])
    ln, _ = lane(dest, max_age=60)
    [final] = await deliver(ln, [lead()], {}, 0.0)
    assert final.status == "failed" and "gave up after" in (final.error or "")


async def test_two_profiles_with_one_email_never_share_a_request() -> None:
    dest = Scripted([])
    ln, _ = lane(dest)
    await deliver(ln, [lead("P1"), lead("P2")], {}, 0.0)
    assert dest.calls == [["P1-v1"], ["P2-v1"]]


def test_bootstrap_wants_every_mapped_custom_property_with_its_type() -> None:
    specs = {s.name: s for s in hp.wanted(HUBSPOT_DEFAULT)}
    assert "email" not in specs and "jobtitle" not in specs  # HubSpot's own
    assert (specs["cdp_score"].type, specs["cdp_score"].field_type) == ("number", "number")
    assert (specs["cdp_behaviour_summary"].type, specs["cdp_behaviour_summary"].field_type) == ("string", "textarea")
    assert specs["cdp_first_touch_campaign"].group == "cdp"
    assert set(specs) == {p for p in HUBSPOT_DEFAULT.values() if p.startswith("cdp_")}


def test_bootstrap_creates_only_what_is_missing_and_reports_a_type_conflict() -> None:
    specs = hp.wanted({"score": "cdp_score", "segments": "cdp_segments", "summary": "cdp_behaviour_summary"})
    portal = {"cdp_score": {"type": "string"}, "cdp_segments": {"type": "string"}}
    plan = hp.plan(specs, portal)
    assert [s.name for s in plan.create] == ["cdp_behaviour_summary"]
    assert plan.existing == ["cdp_segments"]
    assert plan.conflicts == ["cdp_score: the portal has type string, the CDP sends number"]


@pytest.mark.parametrize(
    ("answers", "calls", "final"),
    [
        ([503, 429, 201], 3, 201),  # flaky answers are retried on their own
        ([400, 201], 1, 400),  # a refusal is returned at once, for the caller to report
        ([503, 503, 503, 503, 201], 4, 503),  # after ``tries`` the last answer is the caller's
    ],
)
async def test_a_setup_request_is_retried_alone_on_transient_answers(
    answers: list[int], calls: int, final: int
) -> None:
    left = list(answers)
    made = []

    async def call() -> httpx.Response:
        made.append(1)
        code = left.pop(0)
        return httpx.Response(code, headers={"retry-after": "0"} if code == 429 else {})

    resp = await patiently(call, tries=4, base_s=0.001)
    assert (len(made), resp.status_code) == (calls, final)
