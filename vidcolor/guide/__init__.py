"""User guidance: hints, references, exemplars."""
