"""Tickets, citizens, timelines, dedup records and the reply outbox (tortoise-orm)."""
