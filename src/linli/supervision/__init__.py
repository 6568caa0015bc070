"""Digital supervision for market regulators: rules, alerts, cases, emergencies, inspections."""
