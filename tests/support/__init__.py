"""Test-support code shared by several test packages (fakes and local servers)."""
