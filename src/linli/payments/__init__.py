"""Payments: intents, the sandbox provider and its signed callbacks, refunds, the ledger."""
