"""The category tree: the platform's classification of goods and services, shared by merchant
onboarding (business scope) and the catalogue (products), and the one negative list for
market access applied to it."""
