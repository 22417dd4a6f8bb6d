"""The API keeps the contract its OpenAPI document states, and its documented examples work as written.

- Every row model (api/schemas.py) has exactly the columns the served rows have, in their order.
- Schemathesis generates requests from the API's own /openapi.json (valid and invalid parameters,
  with and without a key) against a real uvicorn server over HTTP: no 5xx, every status code and
  body is one the document declares, and an operation that needs a key refuses a request without one.
- Each `curl` line in docs/serving.md's examples, sent as written, answers 200 with data.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from api import schemas
from api.app import create_app
from api.keys import parse_keys
from tests.test_api import ALL, KEYS, api, direct, published, running  # noqa: F401 (fixtures)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "serving.md"

# The document is generated from the code alone (no snapshot is read to build it).
SCHEMA = schemathesis.openapi.from_dict(create_app(Path("unused.duckdb"), {}).openapi())

# Row model -> the table whose rows it describes, or the endpoint whose items it describes.
TABLE_ROWS = {
    schemas.KpiDay: "marts.kpi_daily",
    schemas.KpiMonth: "marts.kpi_monthly",
    schemas.KpiChannelDay: "marts.kpi_channel_daily",
    schemas.RetentionCohort: "marts.kpi_retention_cohorts",
    schemas.CustomerProfile: "marts.user_profile",
    schemas.ChurnScoreRow: "application.churn_risk_scores",
    schemas.DemandForecastDay: "application.demand_forecast",
    schemas.ExperimentVariant: "application.ab_test_results",
    schemas.Alert: "ops.alerts",
}
NOT_JSON = {"/dashboard": "text/html", "/charts/{model}/{version}/{chart}": "image/png"}
PUBLIC = {"/health", "/charts/{model}/{version}/{chart}"}
ENDPOINT_ROWS = {schemas.SegmentSize: "/v1/segments/sizes", schemas.SegmentMove: "/v1/segments/moves"}


@pytest.fixture(scope="module")
def server(published) -> Iterator[str]:  # noqa: F811
    with running(create_app(published["serving"] / "serving.duckdb", KEYS)) as url:
        yield url


@pytest.mark.parametrize("model", list(TABLE_ROWS), ids=lambda m: m.__name__)
def test_row_models_have_exactly_the_served_tables_columns(published, model):  # noqa: F811
    schema, table = TABLE_ROWS[model].split(".")
    columns = [
        r["column_name"]
        for r in direct(
            published,
            "select column_name from information_schema.columns where table_catalog = current_database() "
            "and table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )
    ]
    assert columns, f"{schema}.{table} is not in the snapshot"
    assert list(model.model_fields) == columns


@pytest.mark.parametrize("model", list(ENDPOINT_ROWS), ids=lambda m: m.__name__)
def test_row_models_have_exactly_the_served_items_keys(api, model):  # noqa: F811
    items = api.get(ENDPOINT_ROWS[model], headers={"X-API-Key": ALL}).json()["items"]
    assert items and all(list(item) == list(model.model_fields) for item in items)


def test_every_response_is_declared_with_a_schema():
    for path, operations in SCHEMA.raw_schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "200" in responses, (method, path)
            for status, response in responses.items():
                content = response.get("content", {})
                if status == "200" and path in NOT_JSON:
                    assert list(content) == [NOT_JSON[path]]
                    continue
                assert content["application/json"]["schema"], (method, path, status)
            if path not in PUBLIC:
                assert {"401", "403"} <= set(responses), (method, path)
                assert {"ApiKey", "BearerKey"} <= {name for s in operation["security"] for name in s}


# Everything the document promises: no server error, declared statuses, bodies and content types, and
# an operation that needs a key refuses a request without one. Checks about what generated "valid" data
# should return are left out where the API rightly answers otherwise: a generated customer_id or product
# that does not exist is a 404 or an empty page, not a failure.
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.ignored_auth,
]


@SCHEMA.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_the_api_keeps_its_openapi_contract_under_generated_requests(case, server):
    headers = {} if case.path in PUBLIC else {"X-API-Key": ALL}
    case.call_and_validate(base_url=server, headers=headers, checks=CHECKS, timeout=30)


def _documented_examples() -> list[tuple[str, dict]]:
    """(URL, headers) of each curl line in docs/serving.md's Examples block, with $KEY from that block."""
    text = DOCS.read_text()
    block = re.search(r"### Examples\s+```bash\n(.*?)```", text, re.S)
    assert block, "docs/serving.md has no Examples block"
    env, examples = {}, []
    for line in block.group(1).splitlines():
        if m := re.fullmatch(r"(\w+)=(\S+)", line.strip()):
            env[m.group(1)] = m.group(2)
            continue
        if not line.startswith("curl"):
            continue
        words = [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], w) for w in shlex.split(line)]
        headers = {}
        for flag, value in zip(words, words[1:]):
            if flag == "-H":
                name, _, val = value.partition(":")
                headers[name.strip()] = val.strip()
        url = next(w for w in words[1:] if w.startswith("localhost:"))
        examples.append((url.removeprefix("localhost:8000"), headers))
    return examples


def test_every_documented_example_answers_with_data(published):  # noqa: F811
    examples = _documented_examples()
    assert len(examples) >= 6
    # The server is configured with the keys docs/serving.md's "Start it" block exports.
    exported = re.search(r"export DMP_API_KEYS='([^']+)'", DOCS.read_text())
    assert exported, "docs/serving.md does not show how to configure keys"
    keys = parse_keys(exported.group(1))
    with running(create_app(published["serving"] / "serving.duckdb", keys)) as url, httpx.Client(base_url=url) as c:
        for path, headers in examples:
            response = c.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            body = response.json()
            if "items" in body:
                assert body["items"], f"{path} answers an empty page on the simulated business"
            if path.startswith("/v1/customers/"):
                assert body["churn_risk"] is not None, f"{path}: the documented customer has no churn score"
