"""Property-based requests generated from the OpenAPI document never cause a server error.

Every operation gets ``EXAMPLES`` generated requests (bodies, query strings, path ids,
including hostile strings such as NUL characters), sent with a valid owner's credentials so
they reach the handlers. A 5xx response or an exception escaping the app is a failure.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 12


@pytest.fixture
def authorized_schema(api):
    member = api.signup()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    return schema, member.headers


def test_no_server_errors(authorized_schema):
    from hypothesis import HealthCheck, given, settings

    schema, headers = authorized_schema
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            nonlocal calls
            calls += 1
            try:
                response = case.call(headers={**headers, **(case.headers or {})})
            except Exception as error:  # the in-process client re-raises server errors
                failures.append(f"{case.operation.label}: {type(error).__name__}: {error}"[:300])
                return
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} "
                                f"{response.text[:200]}")

        check()
    assert calls > 100
    assert failures == []
