"""The bottom layer: where arrays live (``backend``), the input checks (``_checks``), chapter 3's
functions, numerical differentiation (``differentiation``), the error types, atomic file writes
(``atomic``) and the version. Imports nothing else from mitbadak (docs/architecture.md)."""
