"""The bottom floor: what a citizen sends and is sent (``types``), the Persian sentences they
read (``texts``) and how dates, digits and labels are written for them (``persian``).
Imports nothing of peygir's but ``config``, so every layer above may use it."""
