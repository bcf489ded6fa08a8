"""The README's webhook receiver, checked against real deliveries.

`make test-webhook-example` captures a delivery of Comptoir's test suite
(headers, body and the endpoint's secret, on SQLite and PostgreSQL) and runs
this file on each: the reference Standard Webhooks library must accept it,
and refuse it once the body or the secret changes.
"""

import json
import sys

# --- the README's example ---------------------------------------------
# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def receive(secret: str, body: bytes, headers: dict) -> int:
    """Handles one request to the endpoint; returns the HTTP status."""
    webhook = Webhook(secret)  # the endpoint's whsec_..., shown once
    try:
        # The signature, and a webhook-timestamp within 5 minutes.
        event = webhook.verify(body, headers)
    except WebhookVerificationError:
        return 400  # never act on it; Comptoir retries
    # At least once: the same event (same webhook-id) may come again.
    if already_handled(event["id"]):
        return 200
    handle(event["type"], event["data"]["object"])
    return 200
# ------------------------------------------------------------------------

SEEN = set()
HANDLED = []


def already_handled(event_id: str) -> bool:
    """Your store of handled ids (here, in memory): checks and marks."""
    seen = event_id in SEEN
    SEEN.add(event_id)
    return seen


def handle(event_type: str, obj: dict) -> None:
    HANDLED.append((event_type, obj))


def check(path: str) -> None:
    capture = json.load(open(path))
    secret, headers = capture["secret"], capture["headers"]
    body = capture["body"].encode()
    assert receive(secret, body, headers) == 200, f"{path}: refused"
    event_type, obj = HANDLED[-1]
    assert event_type == "license.added" and obj["id"].startswith("lic_"), HANDLED[-1]
    handled = len(HANDLED)
    assert receive(secret, body, headers) == 200 and len(HANDLED) == handled, "handled twice"
    tampered = body.replace(b'"ADVANCED"', b'"BUSINESS"')
    assert tampered != body and receive(secret, tampered, headers) == 400, "an altered body passed"
    other = "whsec_" + "A" * 43 + "="
    assert receive(other, body, headers) == 400, "another secret passed"
    print(f"{path}: verified by standardwebhooks; altered body and wrong secret refused")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: verify_webhook.py CAPTURE.json...")
    for path in sys.argv[1:]:
        check(path)
