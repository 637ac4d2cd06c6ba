"""peygir: the chatbot front door and follow-up of a city's 137 citizen contact centre.

The code lives in the folders at the top of the repository (``bots/``, ``channels/``,
``ticket_store/``, …, drawn in DESIGN.md). This package maps them under one import name, so an
installed peygir claims ``peygir`` alone in ``site-packages`` and never a generic name like
``web`` or ``config`` that other projects own. Each folder is here as a symbolic link
(``peygir/web -> ../web``); the entry point, ``peygir.cli``, is the one module that lives here.
"""

__version__ = "0.1.0"
