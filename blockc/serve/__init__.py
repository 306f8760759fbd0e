"""The front door (SPEC §9): who the site's users are (:mod:`.accounts`); the server, its API
and the gateway to every studio's apps build on them."""
