"""Digital supervision for market regulators."""
