"""Cardsort's pure domain: events, state, reducer, rules, decks and the optimistic view.

Only the standard library and pydantic are imported here (``tests/unit/test_purity.py`` enforces it), so
every replica — server projection, browser tab state, snapshot loader, tests — can run the same code
without Reflex, a database or a network. Import from the modules (``domain.events``, ``domain.rules`` …).
"""
