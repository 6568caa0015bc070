"""Consumer protection: reviews, returns and quality claims, complaints (docs/protection.md)."""
