"""SendosoChannel: direct-mail sends against a local fake."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, QuotaExceeded
from tests.fakes.vendor_api import Scripted
from tests.tools.channels.factories import BODY, KEY, SECRET, make_adapter, make_message
from tools.channels.sendoso import SendosoChannel

FUNDS = {"success": False, "message": "Insufficient funds in your Sendoso balance"}


def test_send_request_shape_and_cost(vendor_api, http_client):
    """A send posts the documented body and reports the tracking code and configured cost."""
    api = vendor_api("sendoso")
    result = make_adapter("sendoso", api, http_client).deliver(make_message("direct_mail"))
    [request] = api.requests
    assert request.path == "/api/v3/send"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["idempotency-key"] == KEY
    assert request.body == {
        "send": {
            "touch_id": "touch-9",
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "custom_message": BODY,
            "confirm_address": True,
            "address_confirmation_via": "email",
            "expire_after_days": 5,
            "via": "single_person_or_company",
        }
    }
    assert result.provider_message_id == "sendoso-1"
    assert result.cost_usd == 42.5


def test_touch_can_be_chosen_per_message(vendor_api, http_client):
    """metadata touch_id overrides the configured touch."""
    api = vendor_api("sendoso")
    message = make_message("direct_mail", metadata={"touch_id": "touch-vip"})
    make_adapter("sendoso", api, http_client).deliver(message)
    assert api.requests[0].body["send"]["touch_id"] == "touch-vip"


@pytest.mark.parametrize("status", [200, 402, 422])
def test_insufficient_funds_is_quota(status, vendor_api, http_client):
    """'Insufficient funds' is QuotaExceeded whether sent as 200, 402 or 422."""
    api = vendor_api("sendoso")
    api.script(Scripted(status, FUNDS))
    with pytest.raises(QuotaExceeded):
        make_adapter("sendoso", api, http_client).deliver(make_message("direct_mail"))


def test_other_refusal_is_invalid_input(vendor_api, http_client):
    """A success: false for another reason is InvalidInput with the vendor's message."""
    api = vendor_api("sendoso")
    api.script(Scripted(200, {"success": False, "message": "Touch is archived"}))
    with pytest.raises(InvalidInput, match="Touch is archived"):
        make_adapter("sendoso", api, http_client).deliver(make_message("direct_mail"))


def test_expiry_outside_two_to_seven_days_is_refused(http_client):
    """expire_after_days must be 2..7 as the vendor documents."""
    with pytest.raises(ValueError):
        SendosoChannel(access_token="t", touch_id="1", client=http_client, expire_after_days=9)
