"""Billing: devices metered from allocation to deletion (`usage`), monthly invoices, and the
pages (`views`, `urls`) and Metal API endpoints (`api`) that show them."""
