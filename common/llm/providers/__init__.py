"""LLM providers behind one interface, registered by the name a recipe uses."""
