"""Alert delivery: POST each new alert as JSON to a webhook, with retries and back-off.

Delivery runs in a sensor, never inside a run, so a receiver that is down cannot block the pipeline.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from core.alerts.store import Alert
from core.quality.config import Webhook


def post_json(url: str, payload: dict, timeout: float, retries: int, backoff: float) -> tuple[bool, str]:
    """POST JSON with retries and exponential back-off. Returns (delivered, what happened)."""
    body = json.dumps(payload).encode()
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return True, f"HTTP {response.status}"
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                return False, last  # the receiver rejects it: retrying will not help
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    return False, last


def deliver(
    alerts: Sequence[Alert], url: str, webhook: Webhook, on_delivered: Callable[[Alert], None]
) -> tuple[int, str | None]:
    """Post alerts in order until one fails; returns (delivered, why the next one failed or None)."""
    delivered = 0
    for alert in alerts:
        ok, detail = post_json(
            url,
            alert.to_json(),
            timeout=webhook.timeout_seconds,
            retries=webhook.retries,
            backoff=webhook.backoff_seconds,
        )
        if not ok:
            return delivered, f"alert {alert.alert_id} not delivered ({detail})"
        delivered += 1
        on_delivered(alert)
    return delivered, None
