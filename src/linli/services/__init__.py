"""Online services: practitioners of verified provider organisations, their weekly schedules,
bookable slots, bookings and the join link of an online session (docs/services.md)."""
