"""adas package."""
