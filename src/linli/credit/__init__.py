"""Credit: an append-only ledger written by event handlers, explainable scores and public
grades, regulator-only risk classes, the public credit query (docs/credit.md)."""
