"""The hostile-input suite: what an attacker, a careless citizen or a broken client can send,
and what peygir must do with it (bounded cost, a 4xx or a polite Persian reply, no leak)."""
