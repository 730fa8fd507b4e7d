"""HeyReachChannel: LinkedIn invitations and messages against a local fake."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, PermanentFailure, ProviderConfigError
from tests.fakes.vendor_api import Scripted
from tests.tools.channels.factories import (
    KEY,
    SECRET,
    make_adapter,
    make_message,
    make_recipient,
    make_sender,
)


def test_connect_request_shape(vendor_api, http_client):
    """An invitation adds the lead with the note and key as custom fields."""
    api = vendor_api("heyreach")
    result = make_adapter("heyreach", api, http_client).deliver(make_message("linkedin_connect"))
    [request] = api.requests
    assert request.path == "/api/public/campaign/AddLeadsToCampaignV2"
    assert request.headers["x-api-key"] == SECRET
    assert request.body["campaignId"] == 77
    [pair] = request.body["accountLeadPairs"]
    assert pair["linkedInAccountId"] == 4242
    lead = pair["lead"]
    assert {
        k: lead[k] for k in ("firstName", "lastName", "profileUrl", "companyName", "position", "emailAddress")
    } == {
        "firstName": "Grace",
        "lastName": "Hopper",
        "profileUrl": "https://www.linkedin.com/in/grace-hopper",
        "companyName": "Example Corp",
        "position": "VP Engineering",
        "emailAddress": "grace@example.com",
    }
    fields = {f["name"]: f["value"] for f in lead["customUserFields"]}
    assert fields["connection_note"].startswith("Hi Grace")
    assert fields["idempotency_key"] == KEY
    assert result.provider_message_id == "77:https://www.linkedin.com/in/grace-hopper"
    assert result.already_delivered is False


def test_re_adding_a_lead_is_already_delivered(vendor_api, http_client):
    """A lead the vendor updates instead of adding was invited before."""
    api = vendor_api("heyreach")
    channel = make_adapter("heyreach", api, http_client)
    channel.deliver(make_message("linkedin_connect"))
    assert channel.deliver(make_message("linkedin_connect")).already_delivered is True


def test_message_request_shape(vendor_api, http_client):
    """A message to an accepted connection goes to SendMessage with account and profile."""
    api = vendor_api("heyreach")
    message = make_message("linkedin_message", body="Thanks for connecting, Grace.")
    result = make_adapter("heyreach", api, http_client).deliver(message)
    [request] = api.requests
    assert request.path == "/api/public/inbox/SendMessage"
    assert request.body == {
        "linkedInAccountId": 4242,
        "profileUrl": "https://www.linkedin.com/in/grace-hopper",
        "message": "Thanks for connecting, Grace.",
    }
    assert result.provider_message_id == f"message:{KEY}"


def test_note_over_300_characters_is_refused_locally(vendor_api, http_client):
    """A connection note longer than LinkedIn allows is InvalidInput, never truncated."""
    api = vendor_api("heyreach")
    with pytest.raises(InvalidInput, match="301 characters"):
        make_adapter("heyreach", api, http_client).deliver(make_message("linkedin_connect", body="x" * 301))
    assert api.requests == []


def test_malformed_profile_url_is_permanent(vendor_api, http_client):
    """A recipient without a linkedin.com/in/ URL cannot be reached on LinkedIn."""
    api = vendor_api("heyreach")
    message = make_message(
        "linkedin_connect", recipient=make_recipient(linkedin_url="https://example.com/grace")
    )
    with pytest.raises(PermanentFailure):
        make_adapter("heyreach", api, http_client).deliver(message)
    assert api.requests == []


def test_lead_the_vendor_fails_is_permanent(vendor_api, http_client):
    """A profile the vendor counts as failed is a PermanentFailure."""
    api = vendor_api("heyreach")
    message = make_message(
        "linkedin_connect",
        recipient=make_recipient(linkedin_url="https://www.linkedin.com/in/does-not-exist"),
    )
    with pytest.raises(PermanentFailure):
        make_adapter("heyreach", api, http_client).deliver(message)


def test_invalid_profile_error_is_permanent_not_bad_input(vendor_api, http_client):
    """A 400 whose message names the profile is PermanentFailure rather than InvalidInput."""
    api = vendor_api("heyreach")
    api.script(Scripted(400, {"errorMessage": "Invalid LinkedIn profile url"}))
    with pytest.raises(PermanentFailure) as caught:
        make_adapter("heyreach", api, http_client).deliver(make_message("linkedin_message"))
    assert caught.value.status == 400


def test_missing_account_is_a_configuration_error(vendor_api, http_client):
    """Without a sender or default LinkedIn account the channel cannot act."""
    api = vendor_api("heyreach")
    message = make_message("linkedin_connect", sender=make_sender(linkedin_account_id=""))
    with pytest.raises(ProviderConfigError):
        make_adapter("heyreach", api, http_client).deliver(message)


def test_non_linkedin_kind_is_refused(vendor_api, http_client):
    """An email handed to the LinkedIn channel is InvalidInput."""
    api = vendor_api("heyreach")
    with pytest.raises(InvalidInput):
        make_adapter("heyreach", api, http_client).deliver(make_message("email"))
