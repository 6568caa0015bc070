"""Traceability: batches (lots) and EPCIS 2.0 events, hash-chained per batch (docs/trace.md)."""
