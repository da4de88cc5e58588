"""The HTTP edge: the JSON API and the portal's pages, one area per module, each with its routes
next to its handlers (``sessions``, ``partner_accounts``, ``associate_accounts``, ``threads_api``, ``thread_pages``,
``attachment_forms``, ``mail_links``, ``oversight_pages``, ``static``; ``session_list`` shows a
session). ``http`` holds what they share: request parsing, CSRF guard, responses and security
headers, page rendering, the one mapping from domain errors to HTTP statuses, the routing into
Chalice Blueprints and the edge middleware. The only code that imports Chalice.

May import: core, mail, audit, accounts, mfa, identity, messaging, gateway, oversight, wiring, chalice.
"""
