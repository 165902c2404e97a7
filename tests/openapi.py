"""The official OpenAPI subsets in tests/data/openapi/ (OpenAI's, MIT), and validators for their schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, OAS31Validator, oas30_format_checker, oas31_format_checker

from tests.conftest import REPO

SPECS = REPO / "tests" / "data" / "openapi"
SPEC_2024 = "openai-images-2024.yaml"
SPEC_2026 = "openai-images-2026.yaml"


@cache
def load_spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))


@cache
def validator(spec_name: str, component: str) -> Any:
    """A validator for `#/components/schemas/<component>`, refs resolved against the whole spec
    (OAS 3.0 rules for the 2024 subset, OAS 3.1 for the 2026 one)."""
    spec = load_spec(spec_name)
    root = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    if spec["openapi"].startswith("3.0"):
        return OAS30Validator(root, format_checker=oas30_format_checker)
    return OAS31Validator(root, format_checker=oas31_format_checker)


def schema_errors(body: Any, spec_name: str, component: str) -> list[str]:
    errors = sorted(validator(spec_name, component).iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"at {list(e.absolute_path)}: {e.message}" for e in errors]
