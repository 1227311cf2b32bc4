"""The map owns the state machine: the guards are declared on its routes, and only it moves a
person from step to step. (The behaviour behind each route is tested through the core and
the real bot process; these tests keep the map itself honest.)"""

from __future__ import annotations

import ast
from pathlib import Path

from handlers import broadcast, conversation, moderation, organiser
from handlers.conversation import BUTTONS, COMMANDS, SIGNING_BUTTONS, SIGNING_STEPS, SIGNING_TEXT, TEXT, Route
from handlers.state import Step

HANDLERS = Path(conversation.__file__).parent
ORGANISER_MODULES = {organiser.__name__, moderation.__name__, broadcast.__name__}


def _routes() -> list[Route]:
    return [route for routes in (*COMMANDS.values(), *BUTTONS.values(), TEXT) for route in routes]


def test_every_organiser_step_is_behind_the_organiser_guard() -> None:
    for route in _routes():
        if route.go.__module__ in ORGANISER_MODULES:
            assert route.organiser, f"{route.go.__qualname__} is reachable by anyone"


def test_only_the_map_moves_a_person_between_steps() -> None:
    """No step module assigns ``.step``: each returns the next step to the map."""
    offenders = []
    for path in sorted(HANDLERS.glob("*.py")):
        if path.name in {"conversation.py", "state.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr == "step" for t in targets):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_the_signing_inputs_are_derived_from_the_map() -> None:
    assert {Step.NAME, Step.NAME_FORM, Step.COUNTRY} == SIGNING_TEXT
    assert {Step.CONSENT, Step.NAME, Step.NAME_FORM, Step.COUNTRY, Step.REVIEW} == SIGNING_STEPS
    assert "sign" in SIGNING_BUTTONS and "confirm" in SIGNING_BUTTONS
    # Reading, withdrawing, news and the organisers' buttons are never "signing".
    for action in ("read", "wdyes", "wdno", "updates", "stopnews", "rm", "bcsend"):
        assert action not in SIGNING_BUTTONS


def test_no_route_is_shadowed() -> None:
    """Every route can run: an earlier route for the same input that admits, with no drafting
    or organiser condition, every step a later one belongs to would hide it."""
    for routes in (*COMMANDS.values(), *BUTTONS.values(), TEXT):
        for i, earlier in enumerate(routes):
            if earlier.drafting or earlier.organiser:
                continue
            for later in routes[i + 1 :]:
                assert earlier.at is not None, routes
                assert later.at is None or later.at - earlier.at, routes
