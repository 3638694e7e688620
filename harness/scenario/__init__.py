"""The scenario language: source-mapped YAML loading, JSON Schema validation, checks, matrix expansion."""
