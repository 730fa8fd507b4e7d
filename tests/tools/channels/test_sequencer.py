"""SequencerChannel with the Instantly and Smartlead mappings against local fakes."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, PermanentFailure
from tests.tools.channels.factories import (
    BODY,
    KEY,
    SECRET,
    make_adapter,
    make_message,
    make_recipient,
    with_key,
)


def test_instantly_request_shape(vendor_api, http_client):
    """Instantly gets one lead with the campaign, bearer token and custom variables."""
    api = vendor_api("instantly")
    result = make_adapter("instantly", api, http_client).deliver(make_message())
    [request] = api.requests
    assert request.path == "/api/v2/leads"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body == {
        "campaign": "camp-1",
        "email": "grace@example.com",
        "first_name": "Grace",
        "last_name": "Hopper",
        "company_name": "Example Corp",
        "job_title": "VP Engineering",
        "skip_if_in_campaign": True,
        "custom_variables": {
            "subject": "Platform hiring at Example Corp",
            "body": BODY,
            "idempotency_key": KEY,
            "step_id": "step1",
        },
    }
    assert result.provider_message_id == "instantly-1"


def test_instantly_resend_returns_the_same_lead(vendor_api, http_client):
    """Delivering the same lead twice (after a crash) yields the same vendor lead id."""
    api = vendor_api("instantly")
    channel = make_adapter("instantly", api, http_client)
    first = channel.deliver(make_message())
    second = channel.deliver(make_message())
    assert first.provider_message_id == second.provider_message_id


def test_smartlead_request_shape(vendor_api, http_client):
    """Smartlead gets the key as a query parameter, the campaign in the path and a lead_list."""
    api = vendor_api("smartlead")
    result = make_adapter("smartlead", api, http_client).deliver(make_message())
    [request] = api.requests
    assert request.path == "/api/v1/campaigns/camp-1/leads"
    assert request.query == {"api_key": SECRET}
    assert "authorization" not in request.headers
    [lead] = request.body["lead_list"]
    assert lead["email"] == "grace@example.com"
    assert lead["linkedin_profile"] == "https://www.linkedin.com/in/grace-hopper"
    assert lead["custom_fields"]["idempotency_key"] == KEY
    assert request.body["settings"]["ignore_unsubscribe_list"] is False
    assert result.provider_message_id == "camp-1:grace@example.com"
    assert result.already_delivered is False


def test_smartlead_reports_a_lead_already_in_the_campaign(vendor_api, http_client):
    """A second add of the same lead is reported as already delivered."""
    api = vendor_api("smartlead")
    channel = make_adapter("smartlead", api, http_client)
    channel.deliver(make_message())
    assert channel.deliver(make_message()).already_delivered is True


def test_smartlead_invalid_email_is_permanent(vendor_api, http_client):
    """A lead the vendor counts as an invalid email is a PermanentFailure."""
    api = vendor_api("smartlead")
    message = make_message(recipient=make_recipient(email="not-an-address"))
    with pytest.raises(PermanentFailure, match="invalid_email_count"):
        make_adapter("smartlead", api, http_client).deliver(message)


def test_smartlead_batches_at_most_400_leads(vendor_api, http_client):
    """401 messages go out in two requests of 400 and 1 leads."""
    api = vendor_api("smartlead")
    messages = [
        with_key(make_message(recipient=make_recipient(email=f"p{n}@example.com")), f"key-{n}")
        for n in range(401)
    ]
    results = make_adapter("smartlead", api, http_client).deliver_batch(messages)
    assert [len(r.body["lead_list"]) for r in api.requests] == [400, 1]
    assert len(results) == 401
    assert results[0].detail["invalid_email_count"] == 0
    assert results[400].provider_message_id == "camp-1:p400@example.com"


def test_missing_email_is_rejected_before_any_request(vendor_api, http_client):
    """A recipient without an email is InvalidInput and nothing is sent."""
    api = vendor_api("instantly")
    message = make_message(recipient=make_recipient(email=""))
    with pytest.raises(InvalidInput):
        make_adapter("instantly", api, http_client).deliver(message)
    assert api.requests == []
