"""Talking to GitHub: the API client, rate limits and keeping secrets out of logs."""
