"""The conversation: the dialogue a citizen has with peygir, its typed chat state, and the
notices a citizen gets when a ticket moves. Channel-agnostic: channels call it, it calls
nlu/, faq/ and ticket_store/."""
