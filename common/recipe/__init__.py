"""Recipes: one folder per kind of analysis (`meta.yml`, SQL, prompt), validated on load."""

from common.recipe.loader import Recipe, list_recipes, load_recipe
from common.recipe.model import RecipeMeta

__all__ = ["Recipe", "RecipeMeta", "list_recipes", "load_recipe"]
