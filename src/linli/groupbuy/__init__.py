"""Community group buying: campaigns of a merchant's SKUs at a group price, and checkout."""
