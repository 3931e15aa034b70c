"""The API's routers may be included in any order: no route catches another router's paths."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from api.main import ROUTERS

PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


def concrete_path(route: APIRoute) -> str:
    """The route's path with a plausible value in each parameter: a UUID, or 'a/b' for paths."""
    return PARAMETER.sub(lambda m: "a/b" if m.group(2) == "path"
                         else "0b7e6f1e-3a4d-4f0e-9d55-2f1f4a1c0b7e", route.path)


def api_routes() -> list[tuple[int, APIRoute]]:
    return [(index, route) for index, router in enumerate(ROUTERS)
            for route in router.routes if isinstance(route, APIRoute)]


def test_every_route_is_reached_whatever_the_router_order():
    routes = api_routes()
    assert len(routes) > 50
    clashes = []
    for owner, route in routes:
        path = concrete_path(route)
        for other_owner, other in routes:
            if (other is not route and other_owner != owner and route.methods & other.methods
                    and other.path_regex.match(path)):
                clashes.append(f"{sorted(route.methods)} {route.path} is also matched by "
                               f"{other.path}")
    assert not clashes, "\n".join(clashes)


def test_within_a_router_literal_paths_come_before_the_parameters_that_match_them():
    for owner, route in api_routes():
        path = concrete_path(route)
        first = next(r for r in ROUTERS[owner].routes if isinstance(r, APIRoute)
                     and r.methods & route.methods and r.path_regex.match(path))
        assert first is route, f"{route.path} is shadowed by {first.path}"
