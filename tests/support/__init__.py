"""Test support: record factories, real-server fixtures and helpers, the fake Hub."""
