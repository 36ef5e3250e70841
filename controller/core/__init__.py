"""Pure core: value types and rules with no git, http, yaml, sqlite, clock or filesystem."""
