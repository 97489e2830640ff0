"""Load and validate a recipe folder before any work starts.

Everything that can be checked without data is checked here: the YAML and its
keys, the files it names, the SQL parameters, the processors and their params,
and that every `output_columns` entry is produced by someone. The `Recipe`
itself is in `common.recipe.recipe`; the checks across its sections in
`common.recipe.checks`.
"""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from common.clustering.config import ClusteringConfig
from common.errors import LeadRecoveryError, RecipeError
from common.llm.config import LLMConfig
from common.llm.prompts import check_prompt
from common.messages import RECIPE_NAME_PATTERN
from common.processors.base import LEAD_KEY
from common.recipe.checks import check_clustering_text, check_output_columns, check_processors
from common.recipe.model import RecipeMeta
from common.recipe.recipe import META, Recipe, display
from common.sql import check_parameters, output_columns

__all__ = ["META", "NAME_PATTERN", "Recipe", "list_recipes", "load_recipe", "validate_all"]
"""The loader's own names, and `META` and `Recipe`, which callers still import from here."""

NAME_PATTERN = re.compile(RECIPE_NAME_PATTERN)

LEADS_SQL_PARAMS = {"as_of", "recipe"}
"""Parameters the pipeline binds in leads SQL."""
CONVERSATIONS_SQL_PARAMS = {"lead_keys", "as_of", "recipe"}
"""Parameters the pipeline binds in conversations SQL (`@lead_keys` is required)."""


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def list_recipes(recipes_dir: Path) -> list[str]:
    """Names of the recipe folders (those holding a meta.yml), sorted."""
    if not recipes_dir.is_dir():
        return []
    return sorted(p.parent.name for p in recipes_dir.glob(f"*/{META}"))


def _read_meta(path: Path) -> RecipeMeta:
    where = display(path)
    try:
        raw = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "(unknown line)"
        raise RecipeError(
            f"not valid YAML at {line}: {getattr(err, 'problem', err)}", where=where
        ) from err
    if not isinstance(raw, dict):
        raise RecipeError(
            "top level must be a mapping of keys", where=where, found=type(raw).__name__
        )
    try:
        return RecipeMeta.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            field = _loc(e["loc"])
            if e["type"] == "extra_forbidden":
                parent = RecipeMeta
                valid = sorted(parent.model_fields) if len(e["loc"]) == 1 else []
                hint = difflib.get_close_matches(str(e["loc"][-1]), valid, n=1)
                problems.append(
                    f"{field}: unknown key" + (f"; did you mean `{hint[0]}`?" if hint else "")
                )
            else:
                problems.append(f"{field}: {e['msg']} (found {e.get('input')!r})")
        raise RecipeError("; ".join(problems), where=where) from err


def _read_text(path: Path) -> str:
    """A recipe file's text; one that is not UTF-8 is a `RecipeError` naming the byte."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(
            f"not UTF-8 text (byte {err.start}: {err.object[err.start : err.start + 1]!r})",
            where=display(path),
            expected="a UTF-8 text file",
        ) from err


def _read_optional(path: Path) -> str | None:
    return _read_text(path) if path.is_file() else None


def _csv_header(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if LEAD_KEY not in header:
        raise RecipeError(
            f"uploaded leads need a `{LEAD_KEY}` column", where=display(path), found=header
        )
    return tuple(header)


def load_recipe(name: str, recipes_dir: Path, *, check_columns: bool = True) -> Recipe:
    """Load ``recipes_dir/name`` and validate everything that can be checked before running.

    ``check_columns=False`` skips the `output_columns` check (for `sync-columns`,
    which repairs exactly that).

    Raises:
        RecipeError: with one message naming the file, the field and what was expected.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        # A name is a folder directly under recipes_dir: never a path out of it.
        raise RecipeError(
            f"invalid recipe name {name!r}",
            where=display(recipes_dir),
            expected="lowercase letters, digits and `_`, starting with a letter (no path)",
        )
    path = recipes_dir / name
    if not (path / META).is_file():
        known = list_recipes(recipes_dir)
        hint = difflib.get_close_matches(name, known, n=1)
        raise RecipeError(
            f"no recipe `{name}`" + (f"; did you mean `{hint[0]}`?" if hint else ""),
            where=display(recipes_dir),
            expected="one of " + (", ".join(known) or "(none: create one with `recipes new`)"),
        )
    meta = _read_meta(path / META)
    meta_where = display(path / META)

    conversations = _read_optional(path / meta.conversations_sql)
    if conversations is None:
        raise RecipeError(
            f"conversations_sql: file `{meta.conversations_sql}` not found",
            where=meta_where,
            expected=f"a BigQuery SQL file at {display(path / meta.conversations_sql)}",
        )
    conv_where = display(path / meta.conversations_sql)
    used = check_parameters(conversations, CONVERSATIONS_SQL_PARAMS, where=conv_where)
    if "lead_keys" not in used:
        raise RecipeError(
            "conversations SQL must filter by the shard's leads",
            where=conv_where,
            expected="`WHERE lead_key IN UNNEST(@lead_keys)`",
        )

    leads_sql = _read_optional(path / meta.leads_sql)
    leads_csv = path / meta.leads_csv if (path / meta.leads_csv).is_file() else None
    explicit = meta.model_fields_set
    if leads_sql is None and "leads_sql" in explicit:
        raise RecipeError(
            f"leads_sql: file `{meta.leads_sql}` not found",
            where=meta_where,
            expected=f"a BigQuery SQL file at {display(path / meta.leads_sql)}",
        )
    if leads_sql is None and leads_csv is None:
        raise RecipeError(
            "the recipe has no leads source",
            where=meta_where,
            expected=f"`{meta.leads_sql}` (leads SQL) or `{meta.leads_csv}` (uploaded leads) in the recipe folder",
        )
    lead_columns: tuple[str, ...] | None = None
    if leads_sql is not None:
        leads_where = display(path / meta.leads_sql)
        check_parameters(leads_sql, LEADS_SQL_PARAMS, where=leads_where)
        selected = output_columns(leads_sql, where=leads_where)
        if selected is not None:
            if LEAD_KEY not in selected:
                raise RecipeError(
                    f"leads SQL must return a `{LEAD_KEY}` column",
                    where=leads_where,
                    found=selected,
                )
            lead_columns = tuple(selected)
    if leads_csv is not None:
        header = _csv_header(leads_csv)
        lead_columns = tuple(dict.fromkeys((*(lead_columns or ()), *header)))

    prompt = _read_optional(path / meta.prompt_file)
    llm = _read_llm(meta, meta_where)
    if llm is not None and prompt is None:
        raise RecipeError(
            f"prompt_file: file `{meta.prompt_file}` not found",
            where=meta_where,
            expected="LLM instructions next to meta.yml (the recipe has an `llm` section)",
        )

    recipe = Recipe(
        name=name,
        path=path,
        meta=meta,
        conversations_sql=conversations,
        leads_sql=leads_sql,
        leads_csv=leads_csv,
        prompt=prompt,
        lead_columns=lead_columns,
        llm=llm,
        clustering=_read_clustering(meta, meta_where),
    )
    check_processors(recipe)
    if check_columns:
        check_output_columns(recipe)
    if llm is not None and prompt is not None and lead_columns is not None:
        supplied = {c for c, who in recipe.produced_columns().items() if who != "llm"}
        try:
            check_prompt(prompt, supplied, where=display(path / meta.prompt_file))
        except LeadRecoveryError as err:
            raise RecipeError(err.message, where=err.where, expected=err.expected) from err
    if llm is not None:
        from common.llm.modes import validate_recipe

        validate_recipe(recipe)  # the mode's own files and settings (scoring, extraction)
    if recipe.clustering is not None:
        check_clustering_text(recipe, recipe.clustering)
    return recipe


def _read_clustering(meta: RecipeMeta, where: str) -> ClusteringConfig | None:
    if meta.clustering is None:
        return None
    try:
        return ClusteringConfig.model_validate(meta.clustering)
    except ValidationError as err:
        problems = [
            f"clustering.{_loc(e['loc'])}: "
            + (
                "unknown key"
                if e["type"] == "extra_forbidden"
                else f"{e['msg']} (found {e.get('input')!r})"
            )
            for e in err.errors()
        ]
        raise RecipeError("; ".join(problems), where=where) from err


def _read_llm(meta: RecipeMeta, where: str) -> LLMConfig | None:
    if meta.llm is None:
        return None
    try:
        return LLMConfig.model_validate(meta.llm)
    except ValidationError as err:
        problems = [
            f"llm.{_loc(e['loc'])}: "
            + (
                "unknown key"
                if e["type"] == "extra_forbidden"
                else f"{e['msg']} (found {e.get('input')!r})"
            )
            for e in err.errors()
        ]
        raise RecipeError("; ".join(problems), where=where) from err


def validate_all(recipes_dir: Path) -> dict[str, LeadRecoveryError | None]:
    """Validate every recipe; name → error (None when valid)."""
    results: dict[str, LeadRecoveryError | None] = {}
    for name in list_recipes(recipes_dir):
        try:
            load_recipe(name, recipes_dir)
            results[name] = None
        except LeadRecoveryError as err:
            results[name] = err
    return results
