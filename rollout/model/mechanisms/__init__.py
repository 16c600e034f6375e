"""The optional mechanisms through which slower can be faster (docs/model.md section 11): each
one component with a config table and an ``enabled`` switch, off by default, kept apart from the
core model so that each can be read, tested and switched alone."""
