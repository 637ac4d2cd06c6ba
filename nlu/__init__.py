"""Persian-first understanding: normalisation, Finglish, fuzzy matching into the city pack."""
