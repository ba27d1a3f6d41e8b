"""Signals for the apps above inventory, which it never imports.

`price_changed(sender=Plan | OperatingSystem, instance, at)`: an operator changed an item's
hourly price; sent inside the change's transaction, so whatever meters it moves on the new
price commit (or roll back) with it.
"""

from django.dispatch import Signal

price_changed = Signal()
